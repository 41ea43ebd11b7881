"""End to end: `dvc repro` on tiny params, then `dvc exp run -S grid=7` reruns only what depends on grid.

Runs the real pipeline (real DVC, real stages) in a copy of the repository with a git commit,
since `dvc exp run` needs one (treeverse/dvc#7548).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline_copy import DVC, TINY, env, make_repo, run, up_to_date

# Two workers: the parallel path of SeedPool is what the default params use.
SIZES = {**TINY, ("workers",): 2}


def _pooled(repo: Path, which: str, fusion: bool = False) -> dict[str, dict]:
    """A group's pooled metrics by method: the steering methods, or (fusion) their fusion twins."""
    return {
        f.stem: m
        for f in sorted((repo / "metrics/pooled" / which).glob("*.json"))
        if bool((m := json.loads(f.read_text())).get("fuses")) == fusion
    }


def _tracked_outputs(repo: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(repo)): f.read_bytes()
        for d in ("metrics", "plots", "reports")
        for f in sorted((repo / d).rglob("*"))
        if f.is_file()
    }


def _assert_same_result(one: dict[str, dict], other: dict[str, dict]) -> None:
    """Same strengths and verdicts, and pooled Δr within 1% of the CI half-width, per method."""
    for name, m in one.items():
        assert other[name]["strength"] == m["strength"], name
        for dim in ("valence", "arousal"):
            half = (m[f"{dim}_dr_hi"] - m[f"{dim}_dr_lo"]) / 2
            assert abs(m[f"{dim}_dr"] - other[name][f"{dim}_dr"]) < 0.01 * half, (name, dim)
            assert other[name][f"{dim}_verdict"] == m[f"{dim}_verdict"], (name, dim)


@pytest.mark.slow
def test_repro_then_grid7_then_bad_param(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", SIZES)
    dvc = DVC

    run(dvc + ["repro"], repo)
    fine = _pooled(repo, "5x5")
    assert set(fine) == {
        "oracle_categorical",
        "oracle_idw",
        "predicted_categorical",
        "predicted_idw",
        "control_shuffled",
    }
    twins = _pooled(repo, "5x5", fusion=True)
    assert set(twins) == {f"{n}_fusion" for n in fine if n != "control_shuffled"}
    for name, twin in twins.items():
        steering = fine[name.removesuffix("_fusion")]
        assert twin["weight"] == steering["fusion_weight"] and 0 <= twin["weight"] <= 1
        for dim in ("valence", "arousal"):
            assert twin[f"{dim}_dr_lo"] <= twin[f"{dim}_dr"] <= twin[f"{dim}_dr_hi"]
            assert (
                steering[f"{dim}_beyond_fusion_lo"]
                <= steering[f"{dim}_beyond_fusion"]
                <= steering[f"{dim}_beyond_fusion_hi"]
            )
            assert steering[f"{dim}_beyond_fusion"] == pytest.approx(
                steering[f"{dim}_dr"] - twin[f"{dim}_dr"], abs=2e-6
            )  # 6 decimals each
            assert steering[f"{dim}_beyond_fusion_verdict"] in ("helps", "hurts", "none")
            assert 0 <= steering[f"{dim}_toward_target_lo"] <= steering[f"{dim}_toward_target"] <= 1
    for m in fine.values():
        assert m["bins"] == 25 and m["n_seeds"] == 2 and m["strength_dev_clips"] > 0
        for dim in ("valence", "arousal"):
            assert len(m[f"{dim}_dr_per_seed"]) == 2
            assert m[f"{dim}_dr_lo"] <= m[f"{dim}_dr"] <= m[f"{dim}_dr_hi"]
            assert m[f"{dim}_verdict"] in ("helps", "hurts", "none")
            assert m[f"{dim}_dr_vs_global_mean_lo"] <= m[f"{dim}_dr_vs_global_mean_hi"]
    baseline = json.loads((repo / "metrics/pooled/baseline.json").read_text())
    assert len(baseline["valence_r_per_seed"]) == len(baseline["arousal_r_per_seed"]) == 2
    for seed in (0, 1):
        assert (repo / f"data/models/s{seed}.pt").is_file()
        assert (repo / f"data/signals/5x5/s{seed}.json").is_file()
    report = (repo / "reports" / "report.md").read_text()
    assert report.startswith("# emosteer report") and "## Verdicts, pooled over 2 seeds" in report
    assert "## Is steering directional?" in report
    steer = json.loads((repo / "metrics/steerability/3x3.json").read_text())
    assert set(steer["per_seed"]) == {"s0", "s1"} and steer["pooled"]["arousal_n_seeds"] == 2
    for dim in ("valence", "arousal"):
        for key in (f"{dim}_toward", f"{dim}_toward_common"):
            sp = steer["pooled"]
            assert 0 <= sp[f"{key}_lo"] <= sp[key] <= sp[f"{key}_hi"] <= 1
        assert len(steer["pooled"][f"{dim}_toward_per_seed"]) == 2 and f"{dim}_toward" in steer["per_seed"]["s0"]
    _assert_issue_22_outputs(repo, fine)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "results"], repo)

    out = run(dvc + ["exp", "run", "-S", "grid=7"], repo)
    for stage in (
        "data",
        "prepare_split",
        "train",
        "extract_activations",
        "evaluate_baseline",
        "evaluate_9bin",
        "steerability",
    ):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    for stage in ("bin_and_aggregate", "evaluate_25bin", "report"):
        assert f"Running stage '{stage}'" in out, out
    assert all(m["bins"] == 49 and m["grid"] == 7 for m in _pooled(repo, "7x7").values())
    assert up_to_date(repo)
    diff = json.loads(run(dvc + ["metrics", "diff", "--json"], repo))
    # a handful of rows, the grid change only: the 25-bin grid's rows give way to the 49-bin grid's
    # (its outputs are named by it, so no 49-bin number sits under a 25-bin name), and its
    # detection and break-even files likewise (a Holm-corrected verdict of another group could
    # change too, since the family is the whole table; with 2 seeds there are no verdicts to change)
    assert set(diff) <= {
        "metrics/headline.json",
        "metrics/detection/5x5.json",
        "metrics/detection/7x7.json",
        "metrics/breakeven/5x5.json",
        "metrics/breakeven/7x7.json",
    }, diff
    assert all(
        k.startswith(("5x5.", "7x7.", "correction."))  # the groups, the families' sizes
        for k in diff["metrics/headline.json"]
    ), diff
    assert json.loads((repo / "metrics/detection/7x7.json").read_text())["bins"] == 49
    # The stage keeps its design-card name and the report says what it ran; the seed report's
    # 25-bin claims sit beside no 49-bin row.
    text = (repo / "reports" / "report.md").read_text()
    assert (
        "The stage evaluate_25bin keeps the design card's name; it evaluated `grid` = 7: the 7x7 grid, 49 bins." in text
    )
    table = text.split("## Multiple comparisons")[0]  # the verdict table
    rows = [line for line in table.splitlines() if line.startswith("| 49-bin |")]
    assert len(rows) == 9 and all(row.endswith("| — |") for row in rows), rows  # 5 methods, 4 twins
    assert "| 25-bin |" not in text

    # Everything downstream of training keeps float noise at noise size: the same trained models
    # scored with 2 threads in one process instead of 1 thread per worker give pooled Δr that
    # differ by far less than their CI half-width, the same strengths and the same verdicts.
    one = _pooled(repo, "7x7")
    proc = subprocess.run([sys.executable, "-c", RESCORE], cwd=repo, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    two = json.loads(proc.stdout)
    _assert_same_result(one, two)

    # And training too (the ridge read-out and the LRM's SGD keep rounding at rounding size,
    # docs/model.md): everything retrained with 2 threads per seed, one seed at a time, as another
    # CPU's reduction order would, gives the same strengths and verdicts and pooled Δr within 1%
    # of the CI half-width.
    run(dvc + ["exp", "run", "-S", "threads=2", "-S", "workers=1"], repo)
    retrained = _pooled(repo, "7x7")
    _assert_same_result(one, retrained)

    # A bad -S is refused by check_params before any stage removes its outputs.
    before = _tracked_outputs(repo)
    proc = subprocess.run(
        dvc + ["exp", "run", "-S", "steering.strength=banana"], cwd=repo, env=env(), capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "steering.strength" in proc.stderr + proc.stdout
    assert _tracked_outputs(repo) == before


def _assert_issue_22_outputs(repo: Path, fine: dict[str, dict]) -> None:
    """The feedback row, bin detection, the break-even curve, the corrected verdicts, their plots
    and report sections exist and are well-formed."""
    feedback = _pooled(repo, "feedback")
    assert set(feedback) == {"two_passes_vs_one"}
    m = feedback["two_passes_vs_one"]
    assert m["forward_passes"] == 2 and m["n_seeds"] == 2
    for dim in ("valence", "arousal"):
        assert m[f"{dim}_dr_lo"] <= m[f"{dim}_dr"] <= m[f"{dim}_dr_hi"]
        assert m[f"{dim}_verdict"] == "none"  # 2 seeds: no verdict
        # the final pass vs the separately trained one-pass twin; pass 1 of the same call beside it
        assert m[f"{dim}_dr"] == pytest.approx(m[f"{dim}_r"] - m[f"{dim}_r_one_pass"], abs=1e-5)
        assert m[f"{dim}_dr_vs_pass1"] == pytest.approx(m[f"{dim}_r"] - m[f"{dim}_r_pass1"], abs=1e-5)
    assert m["compares"] == "pass 2 vs a separately trained one-pass model"
    assert all(
        m[f"{d}_dr_permuted_lo"] <= m[f"{d}_dr_permuted"] <= m[f"{d}_dr_permuted_hi"] for d in ("valence", "arousal")
    )
    for dim in ("valence", "arousal"):
        assert 0 <= m[f"{dim}_verdict_p"] <= 1
    pooled = {"3x3": _pooled(repo, "3x3"), "5x5": fine}
    for which, bins in (("3x3", 9), ("5x5", 25)):
        found = json.loads((repo / f"metrics/detection/{which}.json").read_text())
        assert found["bins"] == bins and found["n_seeds"] == 2
        for axis in ("joint", "valence", "arousal"):
            acc = [found[f"{axis}_accuracy{end}"] for end in ("_lo", "", "_hi")]
            assert 0 <= acc[0] <= acc[1] <= acc[2] <= 1
        assert found["joint_accuracy"] <= min(found["valence_accuracy"], found["arousal_accuracy"])
        assert set(found["decomposition"]) == {"categorical", "idw"}
        for pair in found["decomposition"].values():
            assert set(pair) == {"predicted", "oracle"}
            assert all(set(groups) == {"right", "wrong", "all"} for groups in pair.values())
        even = json.loads((repo / f"metrics/breakeven/{which}.json").read_text())
        assert even["model_accuracy"] == found["joint_accuracy"]
        for dim in ("valence", "arousal"):
            assert even[f"{dim}_p_star_status"] in ("crossed", "never_above", "above_everywhere")
            assert even[f"{dim}_p_star"] is None or 0 <= even[f"{dim}_p_star"] <= 1
            assert even[f"{dim}_dr_at_p1"] == pytest.approx(pooled[which]["oracle_categorical"][f"{dim}_dr"])
        confusion = (repo / f"plots/confusion/{which}.csv").read_text().splitlines()
        assert confusion[0] == "seed,true_bin,predicted_bin"
        assert len(confusion) - 1 == sum(found["n_val_per_seed"])
        curve = (repo / f"plots/breakeven/{which}.csv").read_text().splitlines()
        assert curve[0] == "dim,p,q,dr_mean,dr_lo,dr_hi,realised_accuracy,model_accuracy"
        assert len(curve) - 1 == 2 * 21
    short = json.loads((repo / "metrics/headline.json").read_text())
    assert set(short) == {"unsteered_r", "3x3", "5x5", "feedback", "families"}
    assert short["families"] == {"primary": 8, "secondary": 34, "beyond_fusion": 16}
    assert set(short["5x5"]["valence"]) == {
        "predicted",
        "predicted_dr",
        "beyond_fusion",
        "beyond_fusion_dr",
        "oracle",
        "oracle_dr",
    }
    head = json.loads((repo / "metrics/verdicts.json").read_text())
    assert head["correction"]["procedure"] == "holm"
    assert {k: f["size"] for k, f in head["correction"]["families"].items()} == {
        "primary": 8,
        "secondary": 34,
        "beyond_fusion": 16,
    }  # secondary: + the permuted control
    assert head["feedback"]["two_passes_vs_one"]["valence"]["verdict_corrected"] == "none"
    assert all(
        "verdict_corrected" in entry
        for group, methods in head.items()
        if group != "correction"
        for dims in methods.values()
        for entry in dims.values()
    )
    report = (repo / "reports" / "report.md").read_text()
    for section in (
        "## Multiple comparisons",
        "## Why deployable steering fails",
        "steering with a detected bin would need bin accuracy",
        "feedback: 2 passes vs 1",
        "steering with the model's own bin: valence",
        "The permuted-feedback control",
        "of (clip, bin) pairs move the clip's valence toward",
    ):
        assert section in report, section
    verdicts = run([sys.executable, "-m", "emosteer.commands.cli", "verdicts"], repo)
    assert "feedback: 2 passes vs 1" in verdicts and "Holm" in verdicts.splitlines()[0]


# evaluate_25bin's work on the models, signals and baseline already in the workspace, with 2
# threads in 1 process; prints the pooled metrics (nothing written).
RESCORE = """
import json
from emosteer import pipeline
from emosteer.schema import params
from emosteer.jobs import evaluate, grids
p = params.load().model_copy(update={"threads": 2, "workers": 1})
ref = evaluate.read_reference(pipeline.REFERENCE, p.seeds)
print(json.dumps(evaluate.evaluate_grid(p, grids.by_param(p, "grid"), ref).pooled))
"""
