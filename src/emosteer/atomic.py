"""Atomic file replacement: every output appears whole or not at all, and never over an input.

All writers go through `replacing`, so an interrupted stage never leaves a half-written file that
looks complete (DVC removes outputs before a stage runs, but a reader may still look mid-run).
A folder that cannot be written to, an output path that is a folder, or a parent that is a file is
one EmosteerError line, not a traceback. `refuse_overwrite` stops a command from writing over one
of its own inputs; `require_finite` is the check every writer makes before its rename.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
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
    target = Path(path)
    tmp = _temp_beside(target)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        named = None if exc.filename is None else str(exc.filename)
        about = named if named not in (None, str(tmp), str(target)) else None
        detail = f"{about}: {_reason(exc)}" if about else _reason(exc)
        raise EmosteerError(f"{target}: cannot write ({detail})") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _temp_beside(target: Path) -> Path:
    """Create the parent folders and an empty temp file beside `target`; one line on failure."""
    if target.is_dir():
        raise EmosteerError(f"{target}: is a folder; give a file path to write")
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise EmosteerError(f"{target}: cannot write: {parent} is a file, not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise EmosteerError(f"{target}: cannot write in {target.parent} ({_reason(exc)})") from exc
    os.close(fd)
    return Path(name)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


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
