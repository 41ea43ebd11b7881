"""A DVC remote for real: push over SSH, then a fresh clone pulls and finds nothing to recompute.

The test starts its own OpenSSH server on 127.0.0.1 (a free port, a throwaway host key and client
key, its own sshd_config in a tmp dir) and uses DVC's ssh plugin (dvc-ssh) against it. `.ci/run`
installs openssh-server; without sshd the test is skipped and says so.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.pipeline_copy import DVC, make_repo, results, run, up_to_date

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if os.path.exists(p)), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        SSHD is None or shutil.which("ssh-keygen") is None,
        reason="needs OpenSSH's sshd and ssh-keygen (Debian: apt-get install openssh-server; .ci/run does)",
    ),
]


@dataclass(frozen=True)
class Server:
    user: str
    port: int
    key: Path  # the client's private key

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_banner(port: int, proc: subprocess.Popen, log: Path) -> None:
    """Until sshd answers with its SSH banner (or has died: then fail with its log)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited {proc.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"sshd did not answer on port {port} within 30 s: {log.read_text()}")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Server]:
    """An sshd on 127.0.0.1 that accepts only a fresh key for the current user, SFTP enabled."""
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege-separation directory
    elif not os.path.isdir("/run/sshd"):
        pytest.skip("sshd needs /run/sshd, which only root may create here")
    d = tmp_path / "sshd"
    d.mkdir()
    for name in ("host_key", "client_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"emosteer test {name}", "-f", d / name], d)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        "\n".join(
            [
                f"ListenAddress 127.0.0.1:{port}",
                f"HostKey {d / 'host_key'}",
                f"AuthorizedKeysFile {d / 'authorized_keys'}",
                f"PidFile {d / 'sshd.pid'}",
                f"AllowUsers {getpass.getuser()}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the keys live in pytest's tmp dir
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
            ]
        )
        + "\n"
    )
    log = d / "sshd.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", d / "sshd_config"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_banner(port, proc, log)
        yield Server(user=getpass.getuser(), port=port, key=d / "client_key")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def objects(root: Path) -> set[str]:
    """The content-addressed files of a DVC cache or remote (files/md5/xx/yyyy...)."""
    return {str(p.relative_to(root)) for p in (root / "files").rglob("*") if p.is_file()}


def uncached_md5s(repo: Path) -> set[str]:
    """The md5s that dvc.lock records for outputs dvc.yaml marks `cache: false` (git carries them)."""
    uncached = {
        path
        for stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values()
        for kind in ("outs", "metrics", "plots")
        for out in stage.get(kind, [])
        if isinstance(out, dict)
        for path, opts in out.items()
        if (opts or {}).get("cache") is False
    }
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {out["md5"] for stage in lock.values() for out in stage.get("outs", []) if out["path"] in uncached}


def use_remote(repo: Path, server: Server) -> None:
    """This machine's credentials for the remote: local config, never committed."""
    run(DVC + ["remote", "modify", "--local", "store", "keyfile", server.key], repo)


def test_push_then_fresh_clone_pulls_and_reproduces_nothing(sshd: Server, tmp_path: Path) -> None:
    store = tmp_path / "store"  # the remote's directory, reached only through sshd
    store.mkdir()
    origin = make_repo(tmp_path / "origin")
    run(DVC + ["remote", "add", "--default", "store", sshd.url(store)], origin)
    use_remote(origin, sshd)
    run(DVC + ["repro"], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "results and the shared remote"], origin)
    assert "config.local" not in run(["git", "ls-files", ".dvc"], origin)  # the key path stays local

    pushed = run(DVC + ["push"], origin)
    stored = objects(store)
    assert stored, f"dvc push put nothing in {store}: {pushed}"
    # every cached output; the cache also holds copies of `cache: false` outputs that DVC's run
    # cache keeps (metrics/data.json), which git already carries and push rightly leaves out
    in_git = {f"files/md5/{h[:2]}/{h[2:]}" for h in uncached_md5s(origin)}
    assert stored == objects(origin / ".dvc" / "cache") - in_git

    # Another machine: a clone of the commit, its own (empty) cache, the same remote.
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", origin, clone], tmp_path)
    assert not (clone / "data" / "model.pt").exists()
    use_remote(clone, sshd)
    run(DVC + ["pull"], clone)
    assert up_to_date(clone)
    repro = run(DVC + ["repro"], clone)
    # only check_params runs (on every repro: it checks the files path params name) and its
    # outputs come out the same, so nothing after it reruns
    assert re.findall(r"Running stage '(\w+)'", repro) == ["check_params"], repro
    assert run(["git", "status", "--porcelain"], clone) == ""
    assert run(DVC + ["metrics", "diff", "--json"], clone).strip() in ("", "{}")
    assert results(clone) == results(origin)
