"""atomic: environment errors are one EmosteerError line; no output over an input; finite arrays."""

from __future__ import annotations

import errno
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from emosteer import errors
from emosteer.atomic import refuse_overwrite, replacing, replacing_all, require_finite
from emosteer.data.features import validate_features
from emosteer.errors import EmosteerError


def _write(path: Path, text: str = "x") -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def _one_line(exc: pytest.ExceptionInfo[EmosteerError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_output_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(EmosteerError) as info:
        _write(tmp_path / "out")
    assert _one_line(info) == f"{tmp_path / 'out'}: is a folder; give a file path to write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_parent_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("keep")
    target = tmp_path / "file" / "deeper" / "m.json"
    with pytest.raises(EmosteerError) as info:
        _write(target)
    assert _one_line(info) == f"{target}: cannot write: {tmp_path / 'file'} is a file, not a folder"
    assert (tmp_path / "file").read_text() == "keep"


def test_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root can write anywhere, so the refusal is what mkstemp raises in a read-only folder
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(EmosteerError) as info:
        _write(tmp_path / "m.json")
    assert _one_line(info) == f"{tmp_path / 'm.json'}: cannot write in {tmp_path} (Permission denied)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(EmosteerError, match="cannot write in .*Permission denied"):
            _write(folder / "m.json")
    finally:
        folder.chmod(0o755)


def test_disk_full_while_writing_is_one_line_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    _write(target, "old")
    with pytest.raises(EmosteerError) as info:
        with replacing(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _one_line(info) == f"{target}: cannot write (No space left on device)"
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_refuse_overwrite_same_relative_symlink_and_hard_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    src = tmp_path / "in.h5"
    src.write_text("data")
    (tmp_path / "link.h5").symlink_to(src)
    os.link(src, tmp_path / "hard.h5")
    for out in (src, Path("in.h5"), Path("d/../in.h5"), tmp_path / "link.h5", tmp_path / "hard.h5"):
        with pytest.raises(EmosteerError) as info:
            refuse_overwrite(out, [tmp_path / "other.h5", src])
        assert _one_line(info) == (
            f"{out}: is the input {src}; refusing to overwrite an input (choose another output path)"
        )
    refuse_overwrite(tmp_path / "new.h5", [src, None, tmp_path / "missing.h5"])  # fine
    assert src.read_text() == "data"


def test_require_finite_names_the_first_bad_row() -> None:
    require_finite(np.zeros((3, 4)), "x")
    require_finite(np.array(["a"]), "x")  # not numbers: nothing to check
    bad = np.zeros((3, 4), np.float32)
    bad[2, 1] = np.inf
    bad[1, 3] = np.nan
    with pytest.raises(EmosteerError) as info:
        require_finite(bad, "out.h5: dataset 'v'")
    assert str(info.value) == "out.h5: dataset 'v': NaN or inf at index 1; refusing to write it"


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_temp_names_carry_this_host_and_process(tmp_path: Path) -> None:
    with replacing(tmp_path / "m.json") as tmp:
        assert tmp.parent == tmp_path
        assert re.fullmatch(rf"\.m\.json\.{re.escape(socket.gethostname())}\.{os.getpid()}\.\w+\.tmp", tmp.name), (
            tmp.name
        )
        tmp.write_text("{}")


def test_only_temps_of_dead_writers_on_this_host_are_removed(tmp_path: Path) -> None:
    """Before: every `.m.json.*.tmp` was deleted, a live writer's included (two featurize runs to
    one --out made the first fail 3 times of 3). SIGKILL skips `finally`, so a dead writer's temp
    stays until the same file is written again, and only then goes."""
    host = socket.gethostname()
    with subprocess.Popen(["sleep", "30"]) as live:
        try:
            names = {
                "dead": f".m.json.{host}.{_dead_pid()}.abc123.tmp",
                "live": f".m.json.{host}.{live.pid}.abc123.tmp",
                "other host": f".m.json.elsewhere.invalid.{_dead_pid()}.abc123.tmp",
                "no owner": ".m.json.abc123.tmp",  # an older emosteer's name: owner unknown
                "other file": f".other.json.{host}.{_dead_pid()}.abc123.tmp",
            }
            for name in names.values():
                (tmp_path / name).write_text("half")
            _write(tmp_path / "m.json", "{}")
        finally:
            live.kill()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["m.json", *(n for k, n in names.items() if k != "dead")])


def test_replacing_all_commits_every_file_or_none(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with replacing_all([a, b]) as (ta, tb):
        ta.write_text("a1")
        tb.write_text("b1")
    assert (a.read_text(), b.read_text()) == ("a1", "b1")
    with pytest.raises(EmosteerError, match="cannot write"):
        with replacing_all([a, b]) as (ta, tb):
            ta.write_text("a2")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (a.read_text(), b.read_text()) == ("a1", "b1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    with pytest.raises(EmosteerError, match="given twice"):
        with replacing_all([a, tmp_path / "." / "a.txt"]):
            pass


def test_two_processes_writing_the_same_output_both_succeed(tmp_path: Path) -> None:
    """Two real `emosteer featurize` runs to one --out at the same time: each writes its own temp
    file, neither removes the other's, the last rename wins and the file is whole. (Before: the
    later writer deleted the earlier one's temp and the earlier one failed.)"""
    out = tmp_path / "same.h5"
    argv = [
        sys.executable,
        "-m",
        "emosteer.commands.cli",
        "featurize",
        "--synthetic",
        "--n-clips",
        "200",
        "--clip-seconds",
        "0.5",
        "--out",
        str(out),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        while len([p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]) < 2:  # both writing
            assert all(r.poll() is None for r in runs), [r.communicate()[1] for r in runs]
            time.sleep(0.005)
    finally:
        errs = [r.communicate()[1] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], errs
    assert validate_features(out).n == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.h5"]


N_STOPPED = 400  # clips: a few seconds of work, so a run whose Stopped was lost ends soon


def _stop_while_writing(tmp_path: Path, sig: int) -> subprocess.CompletedProcess:
    """`emosteer featurize` stopped by `sig` while it writes: once its temp file (the child's ready
    marker) exists, the child is frozen (SIGSTOP, and waited for until it is stopped), `sig` is
    queued and the child continues, so the signal arrives before the rename whatever the load.
    (Before: `sig` was sent to a running child, and a signal that landed in a callback let a
    20000-clip run go on for many minutes.)"""
    out = tmp_path / "f.h5"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emosteer.commands.cli",
            "featurize",
            "--synthetic",
            "--n-clips",
            str(N_STOPPED),
            "--out",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGSTOP)
        _, status = os.waitpid(proc.pid, os.WUNTRACED)  # returns once the child is stopped (or has ended)
        if not os.WIFSTOPPED(status):
            pytest.fail(
                f"featurize ended (status {status}) before it could be stopped: "
                f"raise N_STOPPED ({N_STOPPED}) for this machine; {proc.communicate()}"
            )
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # stopped before its rename
        proc.send_signal(sig)  # pending until the child continues
        os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate()
    finally:
        if proc.returncode is None:  # a failed assertion above: leave no child behind
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_while_writing_removes_the_temp_and_prints_one_line(
    tmp_path: Path, sig: int, code: int, name: str
) -> None:
    """Before: SIGTERM killed the process silently and left `.f.h5.XXXX.tmp` (mode 0600) behind;
    SIGINT cleaned up but printed a 27-47-line KeyboardInterrupt traceback."""
    done = _stop_while_writing(tmp_path, sig)
    assert done.returncode == code, done.stderr
    left = sorted(p.name for p in tmp_path.iterdir())
    if left:  # the signal's Stopped was lost in a callback (errors.run): the run finished, and says so
        assert left == ["f.h5"] and validate_features(tmp_path / "f.h5").n == N_STOPPED
        assert done.stderr.splitlines() == [
            f"emosteer featurize: stopped by {name}; it had finished, and its outputs are complete"
        ]
    else:
        assert done.stderr.splitlines() == [f"emosteer featurize: stopped by {name}; its temporary files were removed"]


def test_a_signal_in_process_runs_every_finally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """errors.run: the path cli.main and pipeline.run share."""

    def call() -> None:
        with replacing(tmp_path / "m.json") as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives first

    before = signal.getsignal(signal.SIGTERM)
    assert errors.run("emosteer x", call) == 143
    assert capsys.readouterr().err.splitlines() == ["emosteer x: stopped by SIGTERM; its temporary files were removed"]
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) is before


def _full_disk_featurize(out: Path, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "emosteer.commands.cli",
            "featurize",
            "--synthetic",
            "--n-clips",
            "40",
            "--clip-seconds",
            "0.5",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _assert_full_disk_line(done: subprocess.CompletedProcess, out: Path, reason: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)  # before: 139, a segfault at exit
    assert done.stderr.splitlines() == [f"emosteer featurize: error: {out}: cannot write ({reason})"]
    assert list(out.parent.iterdir()) == []


@pytest.fixture()
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    point = tmp_path / "tmpfs"
    point.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(point)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_full_disk_is_one_line_and_exit_2(small_tmpfs: Path) -> None:
    """Before: the right line, then HDF5 tracebacks from h5py's destructors, then a segfault (139)."""
    out = small_tmpfs / "f.h5"
    _assert_full_disk_line(_full_disk_featurize(out), out, "No space left on device")


def test_a_file_size_limit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The same failure without root: RLIMIT_FSIZE makes a write past 256 KiB fail (EFBIG)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "f.h5"
    _assert_full_disk_line(_full_disk_featurize(out, limit), out, "File too large")
