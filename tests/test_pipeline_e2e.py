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


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_repro_then_grid7_reruns_only_grid_stages(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_repo(repo)
    _tiny_params(repo / "params.yaml")
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "tiny pipeline"], repo)

    _run(dvc + ["repro"], repo)
    shown = json.loads(_run(dvc + ["metrics", "show", "--json"], repo))
    data = shown[""]["data"]
    fine = {p: d["data"] for p, d in data.items() if p.startswith("metrics/fine/")}
    assert fine and all(m["bins"] == 25 and m["grid"] == 5 for m in fine.values())
    assert "metrics/baseline/baseline.json" in data
    assert (repo / "reports" / "report.md").read_text().startswith("# emosteer report")
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "results"], repo)

    out = _run(dvc + ["exp", "run", "-S", "grid=7"], repo)
    for stage in ("data", "prepare_split", "train", "extract_activations", "evaluate_baseline",
                  "evaluate_9bin"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    for stage in ("bin_and_aggregate", "evaluate_25bin", "report"):
        assert f"Running stage '{stage}'" in out, out

    shown = json.loads(_run(dvc + ["metrics", "show", "--json"], repo))
    fine = {p: d["data"] for p, d in shown[""]["data"].items() if p.startswith("metrics/fine/")}
    assert fine and all(m["bins"] == 49 and m["grid"] == 7 for m in fine.values())
    assert "Data and pipelines are up to date" in _run(dvc + ["status"], repo)
    diff = _run(dvc + ["metrics", "diff", "--json"], repo)
    assert "metrics/fine/" in diff
    assert (repo / "data" / "signals" / "fine.json").exists()
    table = json.loads((repo / "data" / "signals" / "fine.json").read_text())
    assert table["metadata"]["bins"] == 49
