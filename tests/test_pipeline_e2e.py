"""End to end: `dvc repro` on tiny params, then `dvc exp run -S grid=7` reruns only what depends on grid.

Runs the real pipeline (real DVC, real stages) in a copy of the repository with a git commit,
since `dvc exp run` needs one (treeverse/dvc#7548).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY = {
    ("seeds",): [0, 1],
    ("workers",): 2,
    ("data", "frames"): 24,
    ("data", "synthetic", "n_clips"): 48,
    ("data", "synthetic", "clip_seconds"): 0.25,
    ("train", "epochs"): 1,
    ("train", "batch_size"): 8,
    ("steering", "strengths"): [1.0, 5.0],
    ("steering", "min_count"): 1,
    ("evaluate", "n_boot"): 200,
    ("evaluate", "batch_size"): 16,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Stages run `python -m stages.X`: that must be this interpreter, with emosteer installed.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(GIT_AUTHOR_NAME="emosteer test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="emosteer test", GIT_COMMITTER_EMAIL="test@example.invalid")
    return env


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("metrics/", "plots/", "reports/")) and rel != "dvc.lock":
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _tiny_params(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    for keys, value in TINY.items():
        node = raw
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def _pooled(repo: Path, which: str) -> dict[str, dict]:
    return {f.stem: json.loads(f.read_text()) for f in sorted((repo / "metrics/pooled" / which).glob("*.json"))}


def _tracked_outputs(repo: Path) -> dict[str, bytes]:
    return {str(f.relative_to(repo)): f.read_bytes() for d in ("metrics", "plots", "reports")
            for f in sorted((repo / d).rglob("*")) if f.is_file()}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_repro_then_grid7_then_bad_param_then_threads(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_repo(repo)
    _tiny_params(repo / "params.yaml")
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "tiny pipeline"], repo)

    _run(dvc + ["repro"], repo)
    fine = _pooled(repo, "fine")
    assert set(fine) == {"oracle_categorical", "oracle_idw", "predicted_categorical",
                         "predicted_idw", "control_shuffled"}
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
        assert (repo / f"data/signals/fine/s{seed}.json").is_file()
    report = (repo / "reports" / "report.md").read_text()
    assert report.startswith("# emosteer report") and "## Verdicts, pooled over 2 seeds" in report
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "results"], repo)

    out = _run(dvc + ["exp", "run", "-S", "grid=7"], repo)
    for stage in ("data", "prepare_split", "train", "extract_activations", "evaluate_baseline",
                  "evaluate_9bin"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    for stage in ("bin_and_aggregate", "evaluate_25bin", "report"):
        assert f"Running stage '{stage}'" in out, out
    assert all(m["bins"] == 49 and m["grid"] == 7 for m in _pooled(repo, "fine").values())
    assert "Data and pipelines are up to date" in _run(dvc + ["status"], repo)
    diff = json.loads(_run(dvc + ["metrics", "diff", "--json"], repo))
    assert set(diff) <= {"metrics/headline.json"}, diff  # a handful of rows, the grid change only
    assert all(k.startswith("fine.") for k in diff["metrics/headline.json"]), diff

    # A bad -S is refused by check_params before any stage removes its outputs.
    before = _tracked_outputs(repo)
    proc = subprocess.run(dvc + ["exp", "run", "-S", "steering.strength=banana"], cwd=repo,
                          env=_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "steering.strength" in proc.stderr + proc.stdout
    assert _tracked_outputs(repo) == before

    # Another thread count changes the floats, not the conclusions: the pooled Δr of 1 and 2
    # threads differ by far less than their CI half-width (the verdict table alone could agree by
    # saying "none" everywhere).
    one = _pooled(repo, "fine")
    _run(["git", "checkout", "-q", "--", "params.yaml"], repo)
    _run(dvc + ["exp", "run", "-S", "grid=7", "-S", "threads=2", "-S", "workers=1"], repo)
    two = _pooled(repo, "fine")
    for name, m in one.items():
        for dim in ("valence", "arousal"):
            half = (m[f"{dim}_dr_hi"] - m[f"{dim}_dr_lo"]) / 2
            assert abs(m[f"{dim}_dr"] - two[name][f"{dim}_dr"]) < 0.1 * half, (name, dim)
            assert m[f"{dim}_verdict"] == two[name][f"{dim}_verdict"]
