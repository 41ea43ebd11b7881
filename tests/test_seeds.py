"""SeedPool's workers: they end with the stage process that started them."""

from __future__ import annotations

import os
import re
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
from emosteer.jobs.seeds import SeedPool
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
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


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


def write_and_sleep(seed: int, folder: str) -> None:
    """A job that holds a temp file open (a writer mid-write) until it is stopped."""
    from emosteer.atomic import replacing

    with replacing(Path(folder) / f"s{seed}.json") as tmp:
        tmp.write_text("half")
        time.sleep(600)


POOL_THAT_WRITES = """
import sys
from emosteer import pipeline
from emosteer.schema import params
from emosteer.jobs.seeds import SeedPool
from tests.test_seeds import write_and_sleep

def main(p):
    with SeedPool([0, 1], 2, 1) as pool:
        pool.map(write_and_sleep, sys.argv[1], desc="write")

pipeline.run(main, params.Params, "write")
"""


@pytest.mark.parametrize("how,code,name", [("kill", 143, "SIGTERM"), ("ctrl-c", 130, "SIGINT")])
def test_a_stopped_stage_ends_its_workers_and_their_temp_files(tmp_path: Path, how: str, code: int, name: str) -> None:
    """SIGTERM to the stage process, or Ctrl-C (SIGINT to the whole process group): one line, exit
    143/130, the workers end without finishing their seed, and their temp files are gone."""
    repo = Path(__file__).resolve().parents[1]
    stage = tmp_path / "stage"  # a stage runs where params.yaml is
    stage.mkdir()
    (stage / "params.yaml").write_bytes((repo / "params.yaml").read_bytes())
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL_THAT_WRITES, str(tmp_path)],
        cwd=stage,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)])},
    )
    workers: list[int] = []
    try:
        _wait_for(lambda: len(list(tmp_path.glob(".s*.json.*.tmp"))) == 2, "both temp files")
        workers = _workers_of(proc.pid)
        if how == "kill":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=LIVENESS_S)
        _wait_for(lambda: not any(_alive(w) for w in workers), "the workers to exit")
    finally:
        proc.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    lines = [line for line in err.splitlines() if line and not line.startswith("write:")]  # not the bar
    assert proc.returncode == code, err
    assert lines == [f"emosteer stage write: stopped by {name}; its temporary files were removed"], err
    assert list(tmp_path.iterdir()) == []


def log_a_warning(seed: int) -> int:
    import logging

    logging.getLogger("emosteer.jobs.fit").warning("seed %d: a\nwarning", seed)
    return seed


def test_warnings_are_one_prefixed_line_in_the_command_and_its_workers(capfd: pytest.CaptureFixture[str]) -> None:
    """One way to warn: a module logs; errors.run prints it as one line prefixed by the command,
    in its SeedPool workers too; after the command the logger is as it was."""
    import logging

    from emosteer import errors
    from emosteer.jobs.seeds import SeedPool

    def command() -> None:
        logging.getLogger("emosteer.data.featurize").info("a note")
        with SeedPool([0, 1], workers=2, threads=1) as pool:
            assert pool.map(log_a_warning, desc="log") == [0, 1]

    assert errors.run("emosteer stage x", command) == 0
    # a worker's line can follow the parent's progress bar on its terminal line (after a \r)
    err = sorted(re.findall(r"emosteer stage x: [^\r\n]*", capfd.readouterr().err))
    assert err == [
        "emosteer stage x: a note",
        "emosteer stage x: warning: seed 0: a\\nwarning",
        "emosteer stage x: warning: seed 1: a\\nwarning",
    ]
    logger = logging.getLogger(errors.LOGGER)
    assert not any(isinstance(h, errors.LineHandler) for h in logger.handlers)
