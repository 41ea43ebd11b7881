"""scripts/sweep_slurm.sh on a real SLURM cluster, and the same experiments run locally.

The test starts a single-node cluster on localhost: munged with a throwaway key and its own socket,
slurmctld and slurmd from Debian's slurm-wlm with their own slurm.conf, ports and spool in a tmp
dir. A tiny copy of the project is committed, run and pushed to a bare git repository (the shared
git remote) and a folder (the shared DVC remote). The sweep runs two fine grids as a two-task
array job; the dependent job pulls both experiments and writes their verdict tables (each pooled
over the experiment's seeds). The same two points run through `dvc queue` in the original
workspace must give the same table, character for character.
`.ci/run` installs slurm-wlm and munge; without them the test is skipped and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipeline_copy import DVC, env, make_repo, run

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.path.exists(p)), None)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(_which(d) is None for d in DAEMONS),
        reason="needs munge and slurm-wlm (Debian: apt-get install slurm-wlm munge; .ci/run does)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="slurmd launches jobs only when it runs as root"),
]

# One array task each. Each point reruns only the fine-grid stages; the tasks pull the rest from
# the DVC remote (`dvc exp run --pull`).
POINTS = ["grid=4", "grid=6"]
TIMEOUT = 900.0  # seconds for the whole sweep (two tiny experiments and the pool job)
DONE = {"COMPLETED"}
FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]  # SLURM_CONF pointing at this cluster, on top of the tests' environment

    def job_states(self, job: str) -> list[str]:
        """The state of a job, or of each task of an array job (scontrol keeps finished jobs
        for MinJobAge seconds)."""
        out = run([_which("scontrol"), "show", "job", "-o", job], Path.cwd(), env=self.env)
        return re.findall(r"\bJobState=(\S+)", out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready, logs: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what} not ready within {timeout:.0f} s:\n"
                + "\n".join(f"--- {p}\n{p.read_text() if p.exists() else '(none)'}" for p in logs)
            )
        time.sleep(0.2)


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[Cluster]:
    """munged + slurmctld + slurmd on 127.0.0.1, one node with this machine's CPUs, one partition."""
    d = tmp_path / "slurm"
    for sub in ("munge", "state", "spool", "log"):
        (d / sub).mkdir(parents=True)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    (d / "munge").chmod(0o700)
    sock = d / "munge" / "socket"
    node = socket.gethostname().split(".")[0]  # slurmctld runs only where SlurmctldHost names it
    conf = d / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=emosteertest",
                f"SlurmctldHost={node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={sock}",
                f"StateSaveLocation={d / 'state'}",
                f"SlurmdSpoolDir={d / 'spool'}",
                f"SlurmctldPidFile={d / 'slurmctld.pid'}",
                f"SlurmdPidFile={d / 'slurmd.pid'}",
                f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",  # no cgroups needed
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "MailProg=/bin/true",
                "ReturnToService=2",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "MinJobAge=3600",  # keep finished jobs visible to scontrol for the test
                f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN",
                f"PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            ]
        )
        + "\n"
    )
    cluster = Cluster(env=env(SLURM_CONF=str(conf)))
    logs = [d / "log" / name for name in ("munged.log", "slurmctld.log", "slurmd.log", "daemons.out")]
    procs: list[subprocess.Popen] = []
    with open(d / "log" / "daemons.out", "w") as out:

        def start(*args: str | Path) -> None:
            procs.append(
                subprocess.Popen([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT, env=cluster.env)
            )

        try:
            start(
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={sock}",
                f"--key-file={key}",
                f"--log-file={d / 'log' / 'munged.log'}",
                f"--pid-file={d / 'munge' / 'munged.pid'}",
                f"--seed-file={d / 'munge' / 'munged.seed'}",
            )
            _wait("munged", sock.exists, logs)
            start(_which("slurmctld"), "-D", "-f", conf)
            start(_which("slurmd"), "-D", "-N", node, "-f", conf)

            def idle() -> bool:
                proc = subprocess.run(
                    [_which("sinfo"), "-h", "-o", "%T"], env=cluster.env, capture_output=True, text=True
                )
                dead = [p.args[0] for p in procs if p.poll() is not None]
                if dead:
                    pytest.fail(f"{dead} exited:\n" + "\n".join(p.read_text() for p in logs if p.exists()))
                return proc.returncode == 0 and proc.stdout.strip() == "idle"

            _wait("the SLURM node", idle, logs)
            yield cluster
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in reversed(procs):
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _wait_for_sweep(cluster: Cluster, array_job: str, pool_job: str, sweep: Path) -> None:
    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted((sweep / "logs").glob("*.log")))

    deadline = time.monotonic() + TIMEOUT
    while True:
        tasks = cluster.job_states(array_job)
        if FAILED & set(tasks):
            pytest.fail(f"array tasks {tasks}:\n{logs()}")
        pool = cluster.job_states(pool_job)
        if FAILED & set(pool):
            pytest.fail(f"pool job {pool}:\n{logs()}")
        if pool and set(pool) <= DONE:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"sweep not done within {TIMEOUT:.0f} s (tasks {tasks}, pool {pool}):\n{logs()}")
        time.sleep(1)


def _queue_locally(repo: Path, points: list[str], name: str) -> None:
    """The same experiments on one machine (NAME-i): `dvc exp run --queue`, one worker, wait."""
    for i, point in enumerate(points):
        sets = [a for kv in point.split() for a in ("-S", kv)]
        run(DVC + ["exp", "run", "--queue", "-n", f"{name}-{i}"] + sets, repo)
    run(DVC + ["queue", "start", "-j", "1"], repo)
    deadline = time.monotonic() + TIMEOUT
    try:
        while re.search(r"\b(Queued|Running)\b", status := run(DVC + ["queue", "status"], repo)):
            assert time.monotonic() < deadline, f"local queue not done within {TIMEOUT:.0f} s:\n{status}"
            time.sleep(1)
    finally:
        run(DVC + ["queue", "stop"], repo)
    assert len(re.findall(r"\bSuccess\b", status)) == len(points), status


def test_slurm_sweep_pools_the_same_table_as_a_local_queue(slurm: Cluster, tmp_path: Path) -> None:
    git_remote = tmp_path / "shared.git"
    dvc_remote = tmp_path / "shared-dvc"
    run(["git", "init", "-q", "--bare", "-b", "main", git_remote], tmp_path)
    repo = make_repo(tmp_path / "workspace")
    run(DVC + ["remote", "add", "--default", "shared", dvc_remote], repo)
    run(DVC + ["repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny results, shared DVC remote"], repo)
    run(DVC + ["push"], repo)
    run(["git", "remote", "add", "origin", git_remote], repo)
    run(["git", "push", "-q", "origin", "main"], repo)

    points = tmp_path / "points.txt"
    points.write_text("# fine grids to try\n" + "\n".join(POINTS) + "\n")
    out = run(
        ["bash", "scripts/sweep_slurm.sh", "--workdir", tmp_path / "sweeps", "--name", "sw", points],
        repo,
        env=slurm.env,
    )
    jobs = re.search(r"array job (\d+) \((\d+) tasks\), pool job (\d+)", out)
    assert jobs, out
    assert int(jobs[2]) == len(POINTS)
    sweep = tmp_path / "sweeps" / "sw"
    _wait_for_sweep(slurm, jobs[1], jobs[3], sweep)
    on_slurm = (sweep / "pooled.md").read_text()

    # Each task pushed its experiment to the git remote and its outputs to the DVC remote.
    refs = run(["git", "ls-remote", git_remote, "refs/exps/*"], tmp_path)
    assert sorted(re.findall(r"/(sw-\d+)$", refs, re.M)) == [f"sw-{i}" for i in range(len(POINTS))]
    for i in range(len(POINTS)):
        assert "in sync" in run(DVC + ["status", "--cloud"], sweep / f"task-{i}")

    _queue_locally(repo, POINTS, "local")
    pairs = [a for i, point in enumerate(POINTS) for a in (f"local-{i}", point)]
    run([sys.executable, "scripts/slurm/pool_table.py", "--out", tmp_path / "local.md", *pairs], repo)
    local = (tmp_path / "local.md").read_text()
    for point in POINTS:  # each point's own fine grid, next to the 9-bin one
        section = on_slurm.split(f"## {point}\n", 1)[1].split("\n## ", 1)[0]
        bins = int(point.removeprefix("grid=")) ** 2
        assert f"\n{bins}-bin " in section and "\n9-bin " in section, on_slurm
    assert on_slurm == local
