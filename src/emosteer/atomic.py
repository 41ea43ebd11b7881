"""Atomic file replacement: every output appears whole or not at all, and never over an input.

All writers go through `replacing` (one file) or `replacing_all` (the outputs of one command,
committed together), so an interrupted stage never leaves a half-written file that looks complete
(DVC removes outputs before a stage runs, but a reader may still look mid-run). A folder that cannot
be written to, an output path that is a folder, or a parent that is a file is one EmosteerError
line, not a traceback. `refuse_overwrite` stops a command from writing over one of its own inputs;
`require_finite` is the check every writer makes before its rename.

A temp file is `.<name>.<host>.<pid>.<random>.tmp` beside its output: each process writes its own,
so two runs writing the same output never touch each other's temp (the last rename wins). A writer
removes its own temp on any exception (SIGTERM and SIGINT become one, see `errors.run`); a temp of
this host whose process is gone (SIGKILL skips `finally`) is removed by the next write of the same
file. A temp of another host, or of a live process, is left alone: its owner may still need it.
"""

from __future__ import annotations

import glob
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from emosteer.errors import EmosteerError


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary path beside `path` to write to; on success it replaces `path`.

    The temporary file lives in the same directory, so the final rename is atomic; it is synced
    to disk first. On any exception it is removed and `path` is left as it was. Operating-system
    errors (permissions, a full disk, a folder where the file should be) become one EmosteerError
    naming the path.
    """
    with replacing_all([path]) as (tmp,):
        yield tmp


@contextmanager
def replacing_all(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """`replacing` for several outputs of one command: yield one temp path per output; only when
    the block succeeds are all of them synced, then all renamed. On any exception none is renamed
    and every temp is removed. (The renames follow one another: a crash between two of them, after
    every file is complete on disk, can still leave the first one renamed.)"""
    targets = [Path(p) for p in paths]
    seen: dict[str, Path] = {}
    for target in targets:
        key = os.path.normpath(os.path.abspath(target))
        if key in seen:
            raise EmosteerError(f"{target}: given twice as an output (also as {seen[key]})")
        seen[key] = target
    temps: list[Path] = []
    where = " and ".join(map(str, targets))  # the block writes them all: any may have failed
    try:
        for target in targets:
            temps.append(_temp_beside(target))
        yield list(temps)
        for target, tmp in zip(targets, temps):
            where = str(target)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for target, tmp in zip(targets, temps):
            where = str(target)
            os.replace(tmp, target)
    except OSError as exc:
        named = None if exc.filename is None else str(exc.filename)
        own = {str(t): str(target) for t, target in zip(temps, targets)}
        where = own.get(named or "", where)
        about = named if named not in (None, *own, *map(str, targets)) else None
        detail = f"{about}: {_reason(exc)}" if about else _reason(exc)
        raise EmosteerError(f"{where}: cannot write ({detail})") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def _temp_beside(target: Path) -> Path:
    """Create the parent folders and an empty temp file of this process beside `target`, after
    removing temps of `target` whose writer is provably gone; one line on failure."""
    if target.is_dir():
        raise EmosteerError(f"{target}: is a folder; give a file path to write")
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise EmosteerError(f"{target}: cannot write: {parent} is a file, not a folder")
    host = _host()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            if _owner_gone(stale.name[len(target.name) + 2 : -len(".tmp")], host):
                stale.unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.{host}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise EmosteerError(f"{target}: cannot write in {target.parent} ({_reason(exc)})") from exc
    os.close(fd)
    return Path(name)


def _host() -> str:
    """This machine's name as it goes into temp names (letters, digits, '-' and '.' only)."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname()) or "host"


def _owner_gone(middle: str, host: str) -> bool:
    """True for the `<host>.<pid>.<random>` of a temp made on this host by a process that no
    longer exists; False whenever that cannot be proved (another host, a live or foreign pid, an
    older name without them)."""
    if not middle.startswith(f"{host}."):
        return False
    pid, _, rest = middle[len(host) + 1 :].partition(".")
    if not pid.isdigit() or not rest or "." in rest:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # alive, another user's; or not a pid at all
        return False
    return False


def _reason(exc: OSError) -> str:
    """The operating system's words for the error (h5py's OSError carries HDF5's multi-line
    message as its text: its errno says it in one line)."""
    if exc.errno:
        return os.strerror(exc.errno)
    text = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def refuse_overwrite(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise if `out` is (or would replace) one of `inputs`: same path after resolving symlinks and
    relative parts, or the same file by device and inode (a hard link). Missing inputs are skipped."""
    out = Path(out)
    for item in inputs:
        if item is None:
            continue
        source = Path(item)
        same = out.resolve() == source.resolve()
        if not same and out.exists() and source.exists():
            same = os.path.samefile(out, source)
        if same:
            raise EmosteerError(
                f"{out}: is the input {source}; refusing to overwrite an input (choose another output path)"
            )


def require_finite(values: np.ndarray, where: str) -> None:
    """Raise naming the first NaN or inf in `values` (its row, for 2-D and larger arrays)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return
    finite = np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1) if arr.ndim > 1 else np.isfinite(arr)
    if not finite.all():
        i = int(np.argmin(finite))
        raise EmosteerError(f"{where}: NaN or inf at index {i}; refusing to write it")
