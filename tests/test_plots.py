"""The plot templates and the offline page: `dvc plots show` must accept every custom template, and the
page it writes must carry Vega inline (no CDN) and render in a browser with no network."""

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLOTS_DIR = ROOT / ".dvc" / "plots"
PAGE = PLOTS_DIR / "offline.html"
VENDORED = re.compile(r'<script data-vendored="([^"]+)">(.*?)</script>', re.DOTALL)
SPEC = re.compile(r"var spec = (\{.*?\});\s*vegaEmbed", re.DOTALL)

# One plot per custom template, on data shaped like the pipeline's (the plots: section of dvc.yaml).
PLOTS_YAML = """\
plots:
  - Training curves:
      template: train_curves
      x: epoch
      y:
        plots/train_history.csv: [train_loss, dev_r_valence, dev_r_arousal]
  - Delta r:
      template: delta_ci
      x: delta
      x_label: Δr vs baseline
      y:
        plots/delta_r.csv: method
  - Strength curve:
      template: strength_ci
      x: strength
      y:
        plots/strength/coarse.csv: dr_mean
        plots/strength/fine.csv: dr_mean
  - Steerability heatmap:
      template: steer_heatmap
      x: valence_centre
      x_label: valence centre
      y:
        plots/steerability/coarse.csv: [shift_valence, shift_arousal]
        plots/steerability/fine.csv: [shift_valence, shift_arousal]
  - Predicted vs true valence:
      template: scatter_series
      x: true_valence
      y_label: predicted valence
      y:
        plots/predictions/baseline.csv: baseline_valence
        plots/predictions/coarse.csv: [oracle_categorical_valence, predicted_categorical_valence]
  - Steerability arrows:
      template: steer_arrows
      x: valence_centre
      y:
        plots/steerability/coarse.csv: arousal_centre
        plots/steerability/fine.csv: arousal_centre
  - Break-even:
      template: breakeven_ci
      x: p
      x_label: bin accuracy p
      y:
        plots/breakeven/coarse.csv: dr_mean
        plots/breakeven/fine.csv: dr_mean
"""


# Marks each plot must draw from _fake_plot_data: one per data row (6 epochs x 3 columns; 6 methods x
# 2 grids x 2 dims; 2 grids x 3 variants x 6 strengths; 9 + 25 bins x 2 dims; 34 bins, 2 without shift
# get no arrow head) and one line or band per series.
MARKS = {
    "Training curves": {"point": 18, "line mark": 3},
    "Delta r": {"rule mark": 24, "point": 24},
    "Strength curve": {"point": 36, "line mark": 6, "area mark": 6},
    "Steerability heatmap": {"rect mark": 68, "text mark": 68},
    "Steerability arrows": {"rule mark": 34, "point": 34 + 32},
    "Predicted vs true valence": {"point": 3 * 10},
    # per grid: the zero rule and the model-accuracy rule; a band and a line per dim; 2 x 5 points
    "Break-even": {"rule mark": 2 * 2, "area mark": 2 * 2, "line mark": 2 * 2, "point": 2 * 2 * 5},
}


class _Tags(HTMLParser):
    """Every tag with its attributes, in document order."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _assert_loads_nothing_remote(html: str) -> None:
    for tag, attrs in _tags(html):
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), f"<{tag} {name}={value!r}> loads over the network"


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))


def _fake_plot_data(repo: Path) -> None:
    """Small deterministic files in the pipeline's column layout."""
    _write_csv(
        repo / "plots/train_history.csv",
        ["epoch", "train_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean"],
        [
            (e, round(2.0 / e, 4), round(0.5 - 0.3 / e, 4), round(0.7 - 0.2 / e, 4), round(0.6 - 0.25 / e, 4))
            for e in range(1, 7)
        ],
    )
    methods = ["oracle cat", "oracle IDW", "predicted cat", "predicted IDW", "shuffled", "global mean"]
    _write_csv(
        repo / "plots/delta_r.csv",
        ["method", "grid", "dim", "delta", "lo", "hi"],
        [
            (m, g, d, round(0.01 * (i - 2) + 0.005 * j, 4), round(0.01 * (i - 4), 4), round(0.01 * i + 0.01, 4))
            for i, m in enumerate(methods)
            for j, g in enumerate(["9-bin", "25-bin"])
            for d in ["valence", "arousal"]
        ],
    )
    variants = ["oracle_categorical", "predicted_categorical", "predicted_idw"]
    # experiment.curve_columns' layout: strength is a label (a pair reads neg/pos), in sweep order
    sweep = [(-1.0, -1.0), (1.0, 1.0), (2.0, 2.0), (5.0, 5.0), (0.5, 2.0), (-2.0, 0.5)]
    for grid in ["coarse", "fine"]:
        _write_csv(
            repo / f"plots/strength/{grid}.csv",
            ["variant", "strength", "strength_neg", "strength_pos", "dr_mean", "dr_lo", "dr_hi"],
            [
                (
                    v,
                    f"{n:g}" if n == p else f"{n:g}/{p:g}",
                    n,
                    p,
                    round(0.01 * k - 0.002 * n * p, 4),
                    round(0.01 * k - 0.002 * n * p - 0.02, 4),
                    round(0.01 * k - 0.002 * n * p + 0.02, 4),
                )
                for k, v in enumerate(variants)
                for n, p in sweep
            ],
        )
    clips = [(f"clip{i}", round(math.cos(i) * 0.9, 4)) for i in range(10)]
    _write_csv(
        repo / "plots/predictions/baseline.csv",
        ["audio_name", "true_valence", "baseline_valence"],
        [(name, v, round(0.2 * v, 4)) for name, v in clips],
    )
    _write_csv(
        repo / "plots/predictions/coarse.csv",
        ["audio_name", "true_valence", "oracle_categorical_valence", "predicted_categorical_valence"],
        [(name, v, round(0.3 * v, 4), round(0.25 * v + 0.02, 4)) for name, v in clips],
    )
    for grid, accuracy in [("coarse", 0.47), ("fine", 0.3)]:
        _write_csv(
            repo / f"plots/breakeven/{grid}.csv",
            ["dim", "p", "dr_mean", "dr_lo", "dr_hi", "realised_accuracy", "model_accuracy"],
            [
                (
                    d,
                    p,
                    round(0.08 * p - 0.03 - k * 0.01, 4),
                    round(0.08 * p - 0.05 - k * 0.01, 4),
                    round(0.08 * p - 0.01 - k * 0.01, 4),
                    p,
                    accuracy,
                )
                for k, d in enumerate(["valence", "arousal"])
                for p in (1.0, 0.75, 0.5, 0.25, 0.0)
            ],
        )
    for grid, n in [("coarse", 3), ("fine", 5)]:
        centres = [round(-1 + (2 * i + 1) / n, 4) for i in range(n)]
        _write_csv(
            repo / f"plots/steerability/{grid}.csv",
            ["valence_centre", "arousal_centre", "shift_valence", "shift_arousal"],
            [
                (v, a, round(0.05 * v + 0.01 * a, 4), round(0.08 * a - 0.01 * math.sin(3 * v), 4))
                for v in centres
                for a in centres
            ],
        )


def _dvc(repo: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """`dvc plots show` in a fresh DVC repo with this repo's templates and config; the page it wrote."""
    repo = tmp_path_factory.mktemp("plots_repo")
    _dvc(repo, "init", "--no-scm")
    shutil.copytree(PLOTS_DIR, repo / ".dvc" / "plots", dirs_exist_ok=True)
    template = _dvc_config(ROOT)
    _dvc(repo, "config", "plots.html_template", template)
    (repo / "dvc.yaml").write_text(PLOTS_YAML)
    _fake_plot_data(repo)
    _dvc(repo, "plots", "show", "-o", "out")
    return repo / "out" / "index.html"


def _dvc_config(repo: Path) -> str:
    return _dvc(repo, "config", "plots.html_template").strip()


def test_plot_titles_survive_dvcs_embedding():
    """DVC writes each title into a single-quoted JavaScript string (the div id of vegaEmbed('#...'));
    an apostrophe ends the string, and the page then silently leaves that plot out."""
    import yaml

    titles = [next(iter(entry)) for entry in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]]
    assert titles and not [t for t in titles if "'" in t]


def test_config_selects_the_offline_page():
    assert (ROOT / ".dvc" / _dvc_config(ROOT)).resolve() == PAGE.resolve()


def test_page_inlines_the_vendored_scripts_unchanged():
    html = PAGE.read_text(encoding="utf8")
    rows = [line.split("\t") for line in (PLOTS_DIR / "vendor" / "MANIFEST.tsv").read_text().splitlines()[1:]]
    expected = {f"{package}/{file}": sha256 for package, file, sha256, _ in rows}
    found = {name: hashlib.sha256(body.encode("utf8")).hexdigest() for name, body in VENDORED.findall(html)}
    assert found == expected
    assert [name.split("@")[0] for name in found] == ["vega", "vega-lite", "vega-embed"]  # load order matters
    for package, *_ in rows:
        licence = (PLOTS_DIR / "vendor" / f"{package.split('@')[0]}.LICENSE").read_text()
        assert "Redistribution and use in source and binary forms" in licence, package
    assert "{plot_divs}" in html
    assert "{scripts}" not in html  # DVC would put its CDN <script> tags there
    _assert_loads_nothing_remote(html)


def test_dvc_fills_every_custom_template(rendered):
    html = rendered.read_text(encoding="utf8")
    _assert_loads_nothing_remote(html)
    assert "cdn.jsdelivr" not in html
    specs = [json.loads(s) for s in SPEC.findall(html)]
    assert sorted(spec["title"]["text"] for spec in specs) == sorted(MARKS)
    for spec in specs:
        assert "<DVC_METRIC" not in json.dumps(spec), spec["title"]
        assert spec["data"]["values"], spec["title"]
    by_title = {spec["title"]["text"]: spec for spec in specs}
    assert len(by_title["Strength curve"]["data"]["values"]) == 2 * 3 * 6
    assert len(by_title["Steerability heatmap"]["data"]["values"]) == 2 * (9 + 25)
    assert {row["field"] for row in by_title["Training curves"]["data"]["values"]} == {
        "train_loss",
        "dev_r_valence",
        "dev_r_arousal",
    }


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


OFFLINE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=15000",
]


@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")
def test_page_renders_offline_in_chromium(rendered):
    """Headless Chromium with DNS and proxy blocked draws every plot as an SVG with all its marks."""
    dom = subprocess.run(
        [_chromium(), *OFFLINE_FLAGS, "--dump-dom", rendered.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    svgs = re.findall(r'<svg [^>]*class="marks".*?</svg>', dom, re.DOTALL)  # Vega's, not the menu icons
    assert len(svgs) == len(MARKS)
    for title, marks in MARKS.items():
        svg = next(svg for svg in svgs if f">{title}</text>" in svg)
        drawn = re.findall(r'role="graphics-symbol" aria-roledescription="([a-z ]+)"', svg)
        assert {kind: drawn.count(kind) for kind in marks} == marks, title
    text = " ".join(svgs)
    strength = next(svg for svg in svgs if ">Strength curve</text>" in svg)
    ticks = re.findall(r"<text [^>]*>(-?[0-9.]+(?:/-?[0-9.]+)?)</text>", strength)
    sweep = ["-1", "1", "2", "5", "0.5/2", "-2/0.5"]  # the x labels, in sweep order, once per grid
    assert [t for t in ticks if t in sweep] == sweep * 2, ticks
    for label in [
        "loss (training, dev)",
        "dev Pearson r",
        "dev Δr (95% CI over seeds)",
        "predicted valence shift",
        "predicted arousal shift",
        "coarse",
        "fine",
        "oracle cat",
        "mean shift",
        "Δr vs baseline",
        "predicted valence",
        "coarse · predicted_categorical_valence",
        "bin accuracy p",
        "Δr vs unsteered (95% CI over seeds and clips)",
    ]:
        assert f">{label}</text>" in text, label
