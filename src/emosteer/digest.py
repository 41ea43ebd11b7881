"""The sha256 that names a checkpoint, an input file or a model in provenance records."""

from __future__ import annotations

import hashlib
import os

from emosteer.errors import EmosteerError

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks; an unreadable file is one line."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise EmosteerError(f"{path}: cannot read to hash it ({exc.strerror or exc})") from None
    return digest.hexdigest()
