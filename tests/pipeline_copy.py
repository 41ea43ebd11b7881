"""A tiny, real copy of this repository for tests that run DVC end to end.

`make_repo(dest)` copies the working tree (tracked and untracked files that git does not ignore, so
uncommitted edits are what gets tested), minus the committed results, shrinks params.yaml to TINY
and commits it in a fresh git repository: `dvc exp run` needs a commit (treeverse/dvc#7548), and a
commit is what other machines clone. The tests that use it drive `dvc` as a subprocess with this
interpreter first on PATH, so the stages run with the emosteer the tests import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

# The smallest sizes at which every stage still runs (each run a few seconds of compute per stage).
# One place for the pipeline's shape: when params.yaml changes, only this mapping does.
TINY: dict[tuple[str, ...], Any] = {
    ("seeds",): [0, 1],  # two, so that pooling over seeds is exercised
    ("workers",): 1,  # seeds one after the other, in the stage's own process
    ("data", "frames"): 24,
    ("data", "synthetic", "n_clips"): 48,
    ("data", "synthetic", "clip_seconds"): 0.25,
    ("train", "epochs"): 1,
    ("train", "batch_size"): 8,
    ("steering", "strengths"): [1.0, 5.0],
    ("steering", "min_count"): 1,
    ("evaluate", "n_boot"): 100,  # the smallest params.py accepts
    ("evaluate", "batch_size"): 16,
}

# Written by the pipeline (DVC outputs, tracked or cached); compared between runs.
RESULT_DIRS = ("data", "metrics", "plots", "reports")


def env(**extra: str) -> dict[str, str]:
    """The environment for git and dvc: this interpreter's bin first, a fixed git identity, one
    compute thread (runs on different schedulers compare byte for byte only at equal threads)."""
    out = dict(os.environ)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    out.update(
        GIT_AUTHOR_NAME="emosteer test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="emosteer test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        DVC_NO_ANALYTICS="1",
        PYTHONUNBUFFERED="1",
    )
    out.update(extra)
    return out


def run(args: Sequence[str | os.PathLike[str]], cwd: Path, **kwargs: Any) -> str:
    """Run a command; fail the test with its output unless it exits 0. Returns stdout + stderr."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=kwargs.pop("env", None) or env(), capture_output=True, text=True, **kwargs
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} (in {cwd}) exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout + proc.stderr


DVC = [sys.executable, "-m", "dvc"]


def shrink(params_file: Path, sizes: Mapping[tuple[str, ...], Any] = TINY) -> None:
    """Set each nested key of `sizes` in a params.yaml; a key the file lacks is an error."""
    raw = yaml.safe_load(params_file.read_text())
    for keys, value in sizes.items():
        node = raw
        for k in keys[:-1]:
            node = node[k]
        if keys[-1] not in node:
            raise KeyError(f"{params_file}: no key {'.'.join(keys)}")
        node[keys[-1]] = value
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))


def make_repo(dest: Path, sizes: Mapping[tuple[str, ...], Any] = TINY) -> Path:
    """A git repository at `dest` holding this project at tiny sizes, committed, without results."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    dest.mkdir(parents=True)
    for rel in filter(None, listed):
        src = REPO / rel
        if not src.is_file() or rel == "dvc.lock" or rel.split("/", 1)[0] in RESULT_DIRS[1:]:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    shrink(dest / "params.yaml", sizes)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "tiny pipeline"], dest)
    return dest


def up_to_date(repo: Path) -> bool:
    """`dvc status` reports nothing to rerun: only check_params, which runs on every repro
    (always_changed: it checks the files path params name, which DVC cannot see change)."""
    proc = subprocess.run(DVC + ["status", "--json"], cwd=repo, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout or "{}") in ({}, {"check_params": ["always changed"]})


def results(repo: Path) -> dict[str, str]:
    """sha256 of every pipeline result (files under RESULT_DIRS, and dvc.lock), by relative path."""
    files = [repo / "dvc.lock"] + [p for d in RESULT_DIRS for p in (repo / d).rglob("*")]
    return {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(files)
        if p.is_file() and p.name != ".gitignore"
    }


def leftover_temp_files(repo: Path) -> list[str]:
    """Temporary files a killed run could leave: our writers' `.<name>.*.tmp` beside an output,
    anything else named *.tmp outside .git, and DVC's own partial cache or state files."""
    found = [
        p
        for p in repo.rglob("*")
        if p.is_file()
        and ".git" not in p.relative_to(repo).parts
        and (p.name.endswith((".tmp", ".part")) or ".tmp." in p.name)
    ]
    return sorted(str(p.relative_to(repo)) for p in found)
