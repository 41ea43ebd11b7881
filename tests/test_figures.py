"""Every custom plot template, filled by DVC, renders to a PNG with marks on it and to an SVG,
without a browser and without fetching anything."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from PIL import Image

from emosteer.commands import figures
from emosteer.errors import EmosteerError
from tests.test_plots import MARKS, PLOTS_DIR, PLOTS_YAML, ROOT, _dvc, _dvc_config, _fake_plot_data


def ink(png: bytes) -> tuple[float, int]:
    """(fraction of pixels that are not the background, number of distinct colours) of a PNG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)  # [(count, colour)]
    background = max(colours)[0]
    return 1 - background / (image.width * image.height), len(colours)


def assert_not_blank(png: bytes) -> None:
    """Axes, labels and marks: a few percent of the pixels drawn, in many colours (a blank or
    failed render is one colour; text alone is greys)."""
    drawn, colours = ink(png)
    assert drawn > 0.02 and colours > 16, (drawn, colours)


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, dict]:
    """DVC's filled spec of every plot in test_plots' PLOTS_YAML (one per custom template)."""
    repo = tmp_path_factory.mktemp("figures_repo")
    _dvc(repo, "init", "--no-scm")
    shutil.copytree(PLOTS_DIR, repo / ".dvc" / "plots", dirs_exist_ok=True)
    _dvc(repo, "config", "plots.html_template", _dvc_config(ROOT))
    (repo / "dvc.yaml").write_text(PLOTS_YAML)
    _fake_plot_data(repo)
    shown = json.loads(_dvc(repo, "plots", "show", "--json"))
    return {title: entries[0]["content"] for title, entries in shown["data"].items()}


def test_every_template_renders_to_png_and_svg(specs, tmp_path):
    assert sorted(specs) == sorted(MARKS)
    for i, (title, spec) in enumerate(specs.items()):
        png, svg = figures.render(spec, tmp_path / f"{i}")
        assert_not_blank(png.read_bytes())
        text = svg.read_text()
        assert text.startswith("<svg") and f">{title}</text>" in text


def test_a_data_url_is_refused_not_fetched(tmp_path):
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": "remote",
            "data": {"url": "https://example.invalid/data.csv"}, "mark": "point",
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}
    with pytest.raises(EmosteerError, match="External data url not allowed"):
        figures.render(spec, tmp_path / "remote")
    assert not list(tmp_path.iterdir())


def test_vegalite_version_follows_the_schema_major():
    v5 = figures.vegalite_version({"$schema": "https://vega.github.io/schema/vega-lite/v5.json"})
    assert v5 is not None and v5.startswith("5.")
    assert figures.vegalite_version({}) is None


def test_slug():
    assert figures.slug("Δr vs the unsteered baseline, 95% CI") == "r-vs-the-unsteered-baseline-95-ci"
    assert figures.slug("ΔΔ") == "plot"
