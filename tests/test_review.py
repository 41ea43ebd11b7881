"""`emosteer review` on hand-written metrics in a small git repository (no DVC run): what it marks,
what it computes, what it tolerates a revision lacking, and what it refuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from emosteer.commands import cli, revisions
from emosteer.commands.review import FRAGILE_BOUND, NO_CHANGE, Cell
from emosteer.errors import EmosteerError

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def _git(repo: Path, *args: str) -> str:
    import os

    return subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    ).stdout.strip()


def _pooled(method: str, bins: int, strength: Any = 2.0, **dims: tuple[str, float, float, float]) -> dict:
    """A pooled metrics file: dims maps dim -> (verdict, dr, lo, hi)."""
    out: dict[str, Any] = {
        "method": method,
        "bins": bins,
        "n_seeds": 5,
        "strength": strength,
        "strength_dev_clips": 315,
    }
    for dim, (verdict, dr, lo, hi) in dims.items():
        out.update(
            {
                f"{dim}_dr": dr,
                f"{dim}_dr_lo": lo,
                f"{dim}_dr_hi": hi,
                f"{dim}_verdict": verdict,
                f"{dim}_dr_vs_global_mean_lo": 0.01,
            }
        )
    return out


def _results(
    oracle_v=("helps", 0.05, 0.03, 0.07),
    predicted_a=("none", -0.004, -0.007, 0.00001),
    strength: Any = 2.0,
    r0=0.795590,
    cpu_isa="AVX512",
) -> dict[str, Any]:
    coarse = {
        "oracle_categorical": _pooled(
            "oracle_categorical", 9, strength, valence=oracle_v, arousal=("helps", 0.04, 0.03, 0.05)
        ),
        "predicted_categorical": _pooled(
            "predicted_categorical", 9, 1.0, valence=("hurts", -0.01, -0.02, -0.003), arousal=predicted_a
        ),
    }
    files: dict[str, Any] = {f"metrics/pooled/coarse/{m}.json": p for m, p in coarse.items()}
    files["metrics/headline.json"] = {
        "coarse": {
            m: {d: {"verdict": p[f"{d}_verdict"], "dr": p[f"{d}_dr"]} for d in ("valence", "arousal")}
            for m, p in coarse.items()
        }
    }
    files["metrics/pooled/baseline.json"] = {"method": "baseline", "n_seeds": 2, "n_val_per_seed": [180, 180]}
    files["metrics/seeds/baseline.json"] = {
        "s0": {"valence_r": r0, "arousal_r": 0.83},
        "s1": {"valence_r": 0.79, "arousal_r": 0.84},
    }
    for s in (0, 1):
        files[f"metrics/seeds/train/s{s}.json"] = {
            "seed": s,
            "source": "trained here",
            "machine": {"cpu": "AMD EPYC", "cpu_isa": cpu_isa, "torch": "2.13.0+cpu", "threads": 1},
        }
    files["plots/delta_r.csv"] = "method,grid,dim,delta,lo,hi\n"  # unchanged: no figure, no DVC call
    return files


def _commit(repo: Path, files: dict[str, Any], message: str, params: str = "grid: 5\n") -> str:
    for sub in ("metrics", "plots"):
        subprocess.run(["rm", "-rf", str(repo / sub)], check=True)
    for path, content in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    (repo / "params.yaml").write_text(params)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    return git_repo(tmp_path, monkeypatch)


def git_repo(tmp_path: Path, monkeypatch) -> Path:
    """An empty git repository at tmp_path/repo, the working directory for the test."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    return root


def _review(*args: str) -> int:
    return cli.main(["review", *args])


def test_changed_verdicts_are_marked_and_moved_dr_is_in_base_half_widths(repo):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    text = (repo / "out/review.md").read_text()
    assert "| 9-bin | oracle, categorical | **helps → none** +0.010 [-0.010, +0.030] | helps +0.040" in text
    assert "1 of 4 verdicts changed" in text
    # moved -0.04 against the base's half-width (0.07 - 0.03) / 2 = 0.02: -2 half-widths
    assert "| 9-bin | oracle, categorical | valence | +0.050000 | +0.010000 | -0.040000 | -2.000 |  |" in text
    assert "predicted, categorical | arousal |" not in text.split("## Pooled Δr that moved")[1]  # did not move
    assert "no change in results" not in text


def test_nothing_but_the_sentence_when_results_are_equal(repo):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(), "b: workers only", params="grid: 5\nworkers: 1\n")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    assert (repo / "out/review.md").read_text() == NO_CHANGE
    assert _review("--base", a, "--out", "out2") == 0  # the workspace is b's
    assert (repo / "out2/review.md").read_text() == NO_CHANGE


def test_weak_bounds_at_the_threshold():
    near = FRAGILE_BOUND
    assert Cell("none", None, -0.004, -0.007, near, None).weak() == [f"upper {near:+.6f}"]
    assert Cell("none", None, -0.004, -0.007, near + 2e-6, None).weak() == []
    assert Cell("hurts", None, -0.004, -0.007, -near, None).weak() == [f"upper {-near:+.6f}"]
    assert Cell("none", None, 0.004, -0.0, 0.007, None).weak() == ["lower +0.000000"]
    # vs the global mean decides only when Δr's CI is above 0 (it is 0 by construction for the control)
    assert Cell("none", None, 0.004, 0.001, 0.007, 0.0).weak() == ["lower vs global mean +0.000000"]
    assert Cell("none", None, -0.01, -0.02, -0.001, 0.0).weak() == []


def test_weak_verdicts_are_flagged_in_both_tables(repo):
    a = _commit(repo, _results(predicted_a=("none", -0.004, -0.007, 0.0001)), "a")
    b = _commit(repo, _results(predicted_a=("none", -0.0041, -0.0071, 0.00001)), "b")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    text = (repo / "out/review.md").read_text()
    assert "| 9-bin | predicted, categorical | hurts -0.010 [-0.020, -0.003] | none *(weak)* -0.004" in text
    # moved -0.0001 against the base's half-width (0.0001 + 0.007) / 2: -0.028
    assert "| arousal | -0.004000 | -0.004100 | -0.000100 | -0.028 | head upper +0.000010 |" in text
    assert "1 weak verdict at head" in text


def test_strengths_baseline_seeds_machine_and_params_where_they_differ(repo):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(strength=5.0, r0=0.801, cpu_isa="AVX2"), "b", params="grid: 7\n")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    text = (repo / "out/review.md").read_text()
    assert "| `grid` | 5 | 7 |" in text
    # once: each group had appeared once per method (a de-duplication within one key list)
    assert text.count("| 9-bin | oracle, categorical | **2 → 5** | 315 |") == 1
    assert "predicted, categorical | **" not in text.split("### Strengths")[1].split("###")[0]  # 1.0 both
    assert "| 0 | **0.795590 → 0.801000** | 0.830000 |" in text
    assert "Plot data" not in text  # plots/ did not change
    assert "| 1 |" not in text.split("### Unsteered r per seed")[1].split("###")[0]
    # strings from result files are escaped (every markdown character: test_review_inputs)
    assert "| base | 0, 1 | cpu AMD EPYC, cpu\\_isa AVX512, torch 2\\.13\\.0+cpu, threads 1 |" in text
    assert "| head | 0, 1 | cpu AMD EPYC, cpu\\_isa AVX2, torch 2\\.13\\.0+cpu, threads 1 |" in text
    assert "Seeds and clips" not in text  # n_seeds did not change


def test_keys_and_files_the_base_lacks_are_read_generically(repo):
    """The feedback group, corrected verdicts, the correction's family and metrics/data.json are
    new at head (other issues add them); the base predates them."""
    a = _commit(repo, _results(), "a")
    files = _results()
    headline = files["metrics/headline.json"]
    for methods in headline.values():
        for dims in methods.values():
            for entry in dims.values():
                entry["verdict_corrected"] = "none"
    headline["feedback"] = {
        "two_passes_vs_one": {
            "valence": {"verdict": "hurts", "dr": -0.013, "verdict_corrected": "hurts"},
            "arousal": {"verdict": "none", "dr": -0.001, "verdict_corrected": "none"},
        }
    }
    headline["correction"] = {"procedure": "holm", "family_size": 24, "family": "every verdict"}
    files["metrics/data.json"] = {"source": "synthetic", "n_clips": 600, "skipped": {}}
    b = _commit(repo, files, "b")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    text = (repo / "out/review.md").read_text()
    assert "| grid | method | valence | arousal | valence corrected | arousal corrected |" in text
    assert (
        "| 9-bin | oracle, categorical | helps +0.050 [+0.030, +0.070] | helps +0.040 [+0.030, +0.050] | "
        "**— → none** | **— → none** |" in text
    )
    assert "| — | two\\_passes\\_vs\\_one | **— → hurts** -0.013 | **— → none** -0.001 | **— → hurts** |" in text
    assert "| `correction.family_size` | — | 24 |" in text
    assert "metrics/data.json is new at head" in text and "| `n_clips` | — | 600 |" in text
    # and the other way round: a head that lacks them (a revert) is no error either
    assert _review("--base", b, "--head", a, "--out", "back") == 0
    assert "**hurts → —**" in (repo / "back/review.md").read_text()


def test_a_revision_without_headline_falls_back_to_the_pooled_verdicts(repo):
    files = _results()
    del files["metrics/headline.json"]
    a = _commit(repo, files, "a: before headline.json existed")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    assert "**helps → none** +0.010" in (repo / "out/review.md").read_text()


def test_experiment_names_resolve_through_their_refs(repo):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    _git(repo, "update-ref", f"refs/exps/{a[:2]}/{a[2:]}/exp-b", b)
    _git(repo, "update-ref", "refs/exps/exec/EXEC_HEAD", a)  # DVC's own refs are not names
    assert revisions.resolve(repo, "exp-b", "--head") == revisions.Revision("exp-b", b)
    assert _review("--base", a, "--head", "exp-b", "--out", "out") == 0
    assert "**helps → none**" in (repo / "out/review.md").read_text()
    _git(repo, "update-ref", f"refs/exps/{b[:2]}/{b[2:]}/exp-b", a)
    with pytest.raises(EmosteerError, match="2 DVC experiments have this name"):
        revisions.resolve(repo, "exp-b", "--head")


def test_default_base_is_the_merge_base_with_main(repo):
    a = _commit(repo, _results(), "a")
    _git(repo, "checkout", "-qb", "change")
    _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    assert revisions.merge_base(repo).commit == a
    assert _review("--out", "out") == 0
    assert f"# Review: merge base with main ({a[:7]}) → workspace" in (repo / "out/review.md").read_text()


def test_a_workspace_that_is_not_head_says_so(repo):
    a = _commit(repo, _results(), "a")
    _commit(repo, _results(), "b")
    (repo / "metrics/seeds/baseline.json").write_text(json.dumps({"s0": {"valence_r": 0.7}}))
    assert _review("--base", a, "--out", "out") == 0
    assert (
        "1 result files differ from the commit (`metrics/seeds/baseline.json`)" in (repo / "out/review.md").read_text()
    )


def test_bad_revision_exits_2_with_one_line_and_writes_nothing(repo, capsys):
    _commit(repo, _results(), "a")
    assert _review("--base", "no-such-rev", "--out", "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--base no-such-rev: neither a git revision nor a DVC experiment" in err
    assert not (repo / "out").exists()


@pytest.mark.parametrize("out", [".", "metrics", "plots/review", "reports", "params.yaml"])
def test_out_among_the_inputs_is_refused(repo, out, capsys):
    a = _commit(repo, _results(), "a")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert _review("--base", a, "--out", out) == 2
    assert "--out" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == before


def test_figures_link_writes_a_comment_without_local_images(repo):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    assert _review("--base", a, "--head", b, "--out", "out", "--figures-link", "https://ci.example/run/1") == 0
    review_md, comment = ((repo / "out" / n).read_text() for n in ("review.md", "comment.md"))
    assert comment == review_md  # no figure changed here, so nothing to link
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    assert not (repo / "out/comment.md").exists()  # a stale comment is not left behind


def test_every_metric_and_plot_output_is_in_git():
    """review reads a revision's results with git: every output under metrics/ or plots/ must be
    `cache: false`, every declared metric lie there, and every `plots:` data file under plots/."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, stage in spec["stages"].items():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                path, opts = (out, {}) if isinstance(out, str) else next(iter(out.items()))
                if kind != "outs" or path.startswith(revisions.RESULT_ROOTS):
                    assert path.startswith(revisions.RESULT_ROOTS), f"{name}: {kind} {path}"
                    assert opts.get("cache") is False, f"{name}: {path} is not cache: false"
    for plot in spec["plots"]:
        for title, definition in plot.items():
            assert all(path.startswith("plots/") for path in definition["y"]), title


def test_the_workflow_runs_the_tested_script():
    """.github/workflows/review.yml cannot run here; it must run what test_review_e2e runs."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/review.yml").read_text())
    steps = workflow["jobs"]["review"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    script = "\n".join(step.get("run", "") for step in steps)
    for command in ("bash scripts/install.sh", "dvc repro", 'bash scripts/review.sh "origin/$BASE_REF"'):
        assert command in script, command
    # untrusted text reaches the shell through env:, never as ${{ }} inside a script
    assert "${{" not in script
    assert any(step.get("env", {}).get("BASE_REF") == "${{ github.base_ref }}" for step in steps)
    assert workflow["permissions"]["pull-requests"] == "write"
    assert any(
        step.get("uses", "").startswith("actions/upload-artifact@") and step["with"]["path"] == "review/"
        for step in steps
    )
