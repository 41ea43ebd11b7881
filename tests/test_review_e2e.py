"""The pull-request review end to end on a tiny copy of the pipeline: scripts/review.sh (what
.github/workflows/review.yml runs) on two commits with a changed param, and `emosteer review` on two
DVC experiments. One tiny `dvc repro` and one `dvc exp run` that reruns the evaluate stages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emosteer.commands import review, revisions
from emosteer.evaluation.report import LABELS
from tests.pipeline_copy import DVC, TINY, env, make_repo, run
from tests.test_figures import assert_not_blank

pytestmark = pytest.mark.slow

GRID_LABELS = {"3x3": "9-bin", "5x5": f"{5 * 5}-bin", "control": "any", "feedback": "—"}  # TINY: grid 5
FEEDBACK = "feedback: 2 passes vs 1"  # the default model's LRM runs 2 forward passes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Branch main: a tiny run with 3 seeds (fewer give no verdict), committed. Experiments on it:
    exp-a (params unchanged) and exp-z (steering.strength 0: only the ModBlocks' bias is left, the
    same for every signal, so no variant beats the global-mean control; and fusion weights [0]: the
    fusion twins are the unsteered model, so their 'helps' go too: on 3 tiny seeds they are the
    rows that call).
    Branch change: one commit on main holding exp-z's params and results."""
    repo = make_repo(tmp_path_factory.mktemp("review") / "repo", {**TINY, ("seeds",): [0, 1, 2]})
    run([*DVC, "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "results"], repo)
    run([*DVC, "exp", "run", "-n", "exp-a"], repo)
    run([*DVC, "exp", "run", "-n", "exp-z", "-S", "steering.strength=0", "-S", "steering.fusion_weights=[0.0]"], repo)
    run(["git", "checkout", "-qb", "change"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "steering.strength 0"], repo)
    assert run(["git", "status", "--porcelain"], repo) == ""
    return repo


def _headline(repo: Path, rev: str) -> dict:
    return json.loads(run(["git", "show", f"{rev}:metrics/verdicts.json"], repo))


def _marked(text: str) -> dict[tuple[str, str, str], bool]:
    """(grid, method label, dim) -> whether review.md's verdict table marks the verdict changed."""
    table = text.split("## Verdicts")[1].split("\n## ")[0]
    rows = [
        [re.sub(r"\\(.)", r"\1", c.strip()) for c in line.strip("|").split("|")]  # shown, as rendered
        for line in table.splitlines()
        if line.startswith("| ")
    ]
    header, body = rows[0], rows[1:]
    dims = [h for h in header[2:] if not h.endswith("corrected")]
    return {(row[0], row[1], dim): row[2 + i].startswith("**") for row in body for i, dim in enumerate(dims)}


def _expected(base: dict, head: dict) -> dict[tuple[str, str, str], bool]:
    """(grid, method label, dim) -> whether the verdict changed; `correction` is not a group."""
    return {
        (GRID_LABELS[g], FEEDBACK if g == "feedback" else LABELS[m], d): base[g][m][d]["verdict"]
        != head[g][m][d]["verdict"]
        for g in head
        if g != "correction"
        for m in head[g]
        for d in head[g][m]
    }


def _images(text: str, out: Path) -> list[Path]:
    return [out / rel for rel in re.findall(r"!\[[a-z]+\]\(([^)]+\.png)\)", text)]


def test_review_script_posts_the_changed_verdicts_and_renders_the_figures(tiny, tmp_path):
    calls = tmp_path / "gh.calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    # gh stand-in: records each call and its body; --edit-last fails as on a PR with no comment yet
    (fake / "gh").write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s " "$@" >> "$GH_CALLS"; echo >> "$GH_CALLS"\n'
        'for a in "$@"; do if [ "$a" = --edit-last ]; then exit 1; fi; done\n'
        'while [ $# -gt 0 ]; do if [ "$1" = --body-file ]; then cp "$2" "$GH_CALLS.body"; fi; shift; done\n'
    )
    (fake / "gh").chmod(0o755)
    environment = env(
        PR_NUMBER="7", GH_TOKEN="not-a-token", GH_CALLS=str(calls), FIGURES_URL="https://ci.example.invalid/runs/1"
    )
    environment["PATH"] = f"{fake}{os.pathsep}{environment['PATH']}"
    subprocess.run(["bash", "scripts/review.sh"], cwd=tiny, env=environment, check=True, capture_output=True, text=True)

    out = tiny / "review"
    text = (out / "review.md").read_text()
    base, head = _headline(tiny, "main"), _headline(tiny, "HEAD")
    expected = _expected(base, head)
    assert any(expected.values()), "the param change changed no verdict: the test would prove nothing"
    assert _marked(text) == expected
    assert any(
        base[g][m][d]["verdict"] == "helps" and head[g][m][d]["verdict"] == "none"
        for g in head
        for m in head[g]
        for d in head[g][m]
    )
    assert "**helps → none**" in text
    assert (
        f"# Review: merge base with main ({run(['git', 'rev-parse', '--short=7', 'main'], tiny).strip()})"
        f" → workspace" in text
    )
    assert "| `steering.strength` | dev | 0 |" in text
    assert "Plot data: " in text and "`plots/delta_r.csv`" in text

    images = _images(text, out)
    delta = [p.name for p in images if "-r-vs-the-unsteered-baseline" in p.name]
    assert [n.rsplit("-", 1)[1] for n in delta] == ["base.png", "head.png"]  # the Δr figure changed
    # a fixed strength has no dev sweep: the strength curve is empty at head, and says so
    assert "(no data at head)" in text.split("### Dev Δr vs steering strength")[1].split("###")[0]
    for png in images:
        assert_not_blank(png.read_bytes())
        assert png.with_suffix(".svg").read_text().startswith("<svg")

    assert calls.read_text().splitlines() == [
        "pr comment 7 --edit-last --body-file review/comment.md ",
        "pr comment 7 --body-file review/comment.md ",
    ]
    comment = Path(f"{calls}.body").read_text()
    assert comment == (out / "comment.md").read_text()
    assert "https://ci.example.invalid/runs/1" in comment and "![" not in comment
    assert comment.split("## Figures that changed")[0] == text.split("## Figures that changed")[0]


def test_experiments_side_by_side(tiny, tmp_path):
    """--base exp-a --head exp-z gives the review of the same change made as a commit."""
    shown = json.loads(
        subprocess.run(
            [*DVC, "exp", "show", "--json", "--all-branches"],
            cwd=tiny,
            env=env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    by_dvc = {
        exp["revs"][0]["name"]: exp["revs"][0]["rev"] for baseline in shown for exp in baseline.get("experiments") or []
    }
    assert {name: commits[0] for name, commits in revisions.experiments(tiny).items()} == by_dvc

    out = tmp_path / "exps"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emosteer.commands.cli",
            "review",
            "--base",
            "exp-a",
            "--head",
            "exp-z",
            "--out",
            str(out),
        ],
        cwd=tiny,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    text = (out / "review.md").read_text()
    assert text.startswith(f"# Review: exp-a ({by_dvc['exp-a'][:7]}) → exp-z ({by_dvc['exp-z'][:7]})")
    assert _marked(text) == _expected(_headline(tiny, "main"), _headline(tiny, "HEAD"))
    commits = tmp_path / "commits"
    run(
        [
            sys.executable,
            "-m",
            "emosteer.commands.cli",
            "review",
            "--base",
            "main",
            "--head",
            "change",
            "--out",
            commits,
        ],
        tiny,
    )
    same = lambda t: t.split("## Verdicts")[1].split("## Figures")[0]  # noqa: E731
    assert same(text) == same((commits / "review.md").read_text())
    assert len(_images(text, out)) == len(_images((commits / "review.md").read_text(), commits))


def test_no_change_between_an_experiment_and_its_commit(tiny, tmp_path):
    run(
        [
            sys.executable,
            "-m",
            "emosteer.commands.cli",
            "review",
            "--base",
            "exp-z",
            "--head",
            "change",
            "--out",
            tmp_path / "same",
        ],
        tiny,
    )
    assert (tmp_path / "same" / "review.md").read_text() == review.NO_CHANGE
    assert not (tmp_path / "same" / "figures").exists()
