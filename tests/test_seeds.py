"""SeedPool's workers: they end with the stage process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

LIVENESS_S = 60.0  # generous: how long a step may take before the test calls it stuck

POOL_THAT_SLEEPS = """
import time
from emosteer.seeds import SeedPool
with SeedPool([600, 600], 2, 1) as pool:
    pool.map(time.sleep, desc="sleep")
"""


def _workers_of(parent: int) -> list[int]:
    """Live spawned multiprocessing workers whose parent is `parent`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def _wait_for(check, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + LIVENESS_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_workers_exit_when_their_stage_process_is_killed() -> None:
    """`kill PID` reaches only the stage's own process; its workers, mid-job (a 10-minute sleep),
    must not finish their seed beside the next run."""
    proc = subprocess.Popen([sys.executable, "-c", POOL_THAT_SLEEPS], stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        workers = _wait_for(lambda: (w := _workers_of(proc.pid)) and len(w) == 2 and w, "2 workers")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=LIVENESS_S)
        _wait_for(lambda: not any(_alive(w) for w in workers), "the workers to exit")
    finally:
        proc.kill()
        for pid in workers + _workers_of(proc.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
