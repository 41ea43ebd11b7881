"""A `dvc repro` killed with SIGKILL inside a stage recovers on the next `dvc repro`.

One tiny copy of the project (two seeds, one after the other) is run uninterrupted: the
reference. Another is killed three times, each time further on: inside train while it writes a
model file (between the temporary file and its rename), inside train after seed 0's model is
written and while seed 1 trains, and inside the 9-bin evaluate stage while it picks strengths. Each
kill takes the whole process group (dvc and the stage), as an out-of-memory kill or a pulled plug
would. Then one more `dvc repro` must finish, leave outputs byte-identical to the reference and no
temporary file behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.pipeline_copy import DVC, env, leftover_temp_files, make_repo, results, run, up_to_date

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")]

TIMEOUT = 600.0  # seconds one interrupted `dvc repro` may take to reach its kill point


def session_processes(sid: int) -> dict[int, str]:
    """pid -> command line of every live process in session `sid` (Linux /proc)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


Trigger = Callable[[Path, str], bool]  # (repo, dvc's output so far) -> kill now?


def between_seeds_in_train(repo: Path, log: str) -> bool:
    """Seed 0's model is written, seed 1 is training (workers: 1 runs seeds in order)."""
    return "stage train: seed 0:" in log


def writing_a_model(repo: Path, log: str) -> bool:
    """A model's temporary file exists: the kill lands between its creation and its rename."""
    models = repo / "data" / "models"
    return models.is_dir() and any(p.name.endswith(".tmp") for p in models.iterdir())


def choosing_strengths_in_9bin(repo: Path, log: str) -> bool:
    """evaluate_9bin has scored some of its dev tasks (one per seed and strength), not all."""
    parts = log.split("Running stage 'evaluate_9bin'")
    if len(parts) != 2:
        return False
    done = re.findall(r"dev strengths: [^\r\n]*?(\d+)/(\d+)", parts[1])
    return any(0 < int(k) < int(n) for k, n in done)


def repro_killed(repo: Path, stage_module: str, trigger: Trigger) -> str:
    """Start `dvc repro`, wait until the process running `python -m stages.<stage_module>` exists
    and `trigger` fires, SIGKILL the whole session, and return dvc's output up to then."""
    log_path = repo.parent / f"{repo.name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            DVC + ["repro"], cwd=repo, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert proc.poll() is None, f"dvc repro ended ({proc.returncode}) before the kill:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no kill point within {TIMEOUT} s:\n{log_path.read_text()}"
            stage = [p for p, cmd in session_processes(proc.pid).items() if f"stages.{stage_module}" in cmd]
            if stage and trigger(repo, log_path.read_text(errors="replace")):
                break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return log_path.read_text(errors="replace")


def locked_stages(repo: Path) -> set[str]:
    """The stages `dvc.lock` records as completed."""
    lock = repo / "dvc.lock"
    return set(yaml.safe_load(lock.read_text())["stages"]) if lock.exists() else set()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The results of one uninterrupted `dvc repro` of the tiny project."""
    repo = make_repo(tmp_path_factory.mktemp("crash") / "reference")
    run(DVC + ["repro"], repo)
    return results(repo)


def test_sigkill_in_train_and_in_evaluate_then_rerun_matches_an_uninterrupted_run(
    reference: dict[str, str], tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "killed")
    repro_killed(repo, "train", writing_a_model)
    assert "train" not in locked_stages(repo)

    repro_killed(repo, "train", between_seeds_in_train)
    assert "train" not in locked_stages(repo)
    assert (repo / "data" / "models" / "s0.pt").exists()  # a partial output of the killed stage

    repro_killed(repo, "evaluate_steering steering.grids[0]", choosing_strengths_in_9bin)
    assert {"train", "extract_activations", "bin_and_aggregate"} <= locked_stages(repo)
    assert "evaluate_9bin" not in locked_stages(repo)

    run(DVC + ["repro"], repo)
    assert up_to_date(repo)
    assert results(repo) == reference
    assert leftover_temp_files(repo) == []
