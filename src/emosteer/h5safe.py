"""The one guarded way to open an HDF5 file for reading: nothing outside the file is read, and no
declared size is trusted before it is checked against what the file can hold.

An HDF5 file can make its reader read other files, and its header declares sizes that nothing checks
until the data is read. `open_h5` audits the whole file before any dataset value is read and
refuses, in one line naming the object and what it points to:

- an external link (or a link of a user-defined type) anywhere in the file. Soft links are paths
  inside the same file and are allowed: a path can leave the file only through an external link;
- a virtual dataset: its values come from other datasets, often in other files, and read as the
  fill value when a source is missing;
- external raw storage: the dataset's bytes are read from another file, any file on the machine;
- data that is not all stored: a contiguous dataset never written, or a chunked one with chunks
  never written. Both read back as the fill value, so a 2 kB file could declare 10^9 rows of zeros;
- a declared size larger than the dataset's stored bytes can expand to: x1 uncompressed,
  x1032 through deflate (gzip), x88 through lzf (see FILTERS);
- a filter other than deflate, lzf, shuffle and fletcher32: no known bound on its expansion (and
  HDF5 would search its plugin folders for a library to run);
- a chunk larger than READ_BUDGET; a stored chunk larger than any encoding of its declared bytes
  (HDF5 inflates a deflate stream whole, whatever the chunk's size: measured, 400 MB of memory for a
  chunk of 1 KiB); a compressed chunk whose worst-case expansion is larger than READ_BUDGET.

Every dataset is audited, including ones emosteer does not read. `read` then refuses any one read
larger than READ_BUDGET before allocating it. Every refusal is an EmosteerError; what h5py raises
on a damaged file is one line too ("truncated or corrupt HDF5 file").

Writing goes through `writing`, for one reason: HDF5 does not survive a failed write. On a full
disk it reported the error, then failed again closing the file, printed tracebacks from h5py's
destructors and crashed at interpreter exit (exit 139, measured with `emosteer featurize` on a
256 KiB tmpfs). `writing` hands HDF5 a file object that never fails: the first operating-system
error is kept, later writes are held in memory so HDF5 reads back what it wrote, the file closes
cleanly, and the kept error is raised (the caller's temp file is then removed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5d, h5z

from emosteer.errors import EmosteerError

READ_BUDGET = 2 * 2**30  # bytes: the most one read may allocate (a label vector, a block, a chunk)

# Filters allowed, with the most their decoding can expand a stored byte count:
# deflate: one 258-byte match coded in 2 bits is the format's limit, 258 * 8 / 2 = 1032 (zlib's
#   "technical details"; 1 MiB of float32 zeros at level 9 stores 1039 bytes, x1009, measured);
# lzf: a 3-byte back-reference copies at most 264 bytes, 264 / 3 = 88 (zeros: x86.6, measured);
# shuffle reorders bytes and fletcher32 appends a checksum: neither expands.
FILTERS = {
    h5z.FILTER_DEFLATE: ("deflate", 1032),
    32000: ("lzf", 88),  # h5py's registered id for lzf
    h5z.FILTER_SHUFFLE: ("shuffle", 1),
    h5z.FILTER_FLETCHER32: ("fletcher32", 1),
}

# What h5py raises on a damaged file depends on which structure is broken (measured by overwriting
# bytes of a valid file: OSError, RuntimeError, KeyError, ValueError incl. UnicodeDecodeError);
# TypeError is a dataset of a type numpy cannot hold.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


def open_h5(path: str | Path) -> h5py.File:
    """Open `path` read-only after auditing every link and dataset (module docstring); the
    caller closes it (`with open_h5(path) as f`). One EmosteerError line on any refusal."""
    path = Path(path)
    if not path.is_file():
        raise EmosteerError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise EmosteerError(f"{path}: empty file (0 bytes)")
    if not h5py.is_hdf5(path):
        raise EmosteerError(f"{path}: not an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except H5_ERRORS as exc:
        raise corrupt(path, exc) from None
    try:
        _audit(f, path, size)
    except BaseException as exc:
        f.close()
        if isinstance(exc, H5_ERRORS):
            raise corrupt(path, exc) from None
        raise
    return f


def read(ds: h5py.Dataset, path: str | Path, sel: Any = (), name: str | None = None) -> np.ndarray:
    """`ds[sel]` (sel: () for all, or a slice of the first axis) after checking that it fits
    READ_BUDGET; a damaged file is one line naming the dataset (`name`, default its path)."""
    where = f"{path}: dataset {quote(ds.name.lstrip('/') if name is None else name)}"
    try:
        shape, itemsize = ds.shape, ds.dtype.itemsize
        rows = shape[0] if shape else 1
        if isinstance(sel, slice):
            rows = len(range(*sel.indices(rows)))
        wanted = rows * (math.prod(shape[1:]) if shape else 1) * itemsize
        if wanted > READ_BUDGET:
            raise EmosteerError(
                f"{where}: one read of {_size(wanted)} (shape {shape}, {ds.dtype}) is "
                f"more than the {_size(READ_BUDGET)} a read may take"
            )
        return np.asarray(ds[sel])
    except H5_ERRORS as exc:
        raise EmosteerError(f"{where}: unreadable, file truncated or corrupt? ({first_line(exc)})") from None


def corrupt(path: str | Path, exc: BaseException) -> EmosteerError:
    return EmosteerError(f"{path}: truncated or corrupt HDF5 file ({first_line(exc)})")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"")
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def quote(name: str) -> str:
    """A name from a file, quoted repr-style: a newline or escape code in it shows as \\n, \\x1b."""
    return repr(name)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def _audit(f: h5py.File, path: Path, file_size: int) -> None:
    """Every link, then every dataset, of the open file `f` (module docstring)."""
    names: list[str] = []
    f.visit_links(names.append)  # each link once, hard-link cycles included; no link is followed
    for name in names:
        try:
            link = f.get(name, getlink=True)
        except TypeError:  # h5py: "Unknown link type", a user-defined link class
            link = None
        if isinstance(link, h5py.ExternalLink):
            raise EmosteerError(
                f"{path}: {quote(name)} is an external link to {quote(link.filename)}:"
                f"{quote(link.path)}; refusing to read outside the file"
            )
        if not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
            raise EmosteerError(f"{path}: {quote(name)} is a link of a user-defined type; refusing it")
    for name in names:
        if isinstance(f.get(name, getlink=True), h5py.HardLink):
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                _audit_dataset(obj, f"{path}: dataset {quote(name)}", file_size)


def _audit_dataset(ds: h5py.Dataset, where: str, file_size: int) -> None:
    """Storage inside the file, every value stored, declared size within what is stored."""
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        count = dcpl.get_virtual_count()
        source = (
            f"{quote(dcpl.get_virtual_filename(0))}:{quote(dcpl.get_virtual_dsetname(0))}" if count else "no source"
        )
        more = f" and {count - 1} more" if count > 1 else ""
        raise EmosteerError(
            f"{where}: a virtual dataset (values from {source}{more}); refusing to "
            "read outside the dataset's own storage"
        )
    if dcpl.get_external_count():
        name, offset, size = dcpl.get_external(0)
        raise EmosteerError(
            f"{where}: external raw storage in {quote(_text(name))} (offset {offset}, "
            f"{size} bytes); refusing to read outside the file"
        )
    ratio = 1
    for i in range(dcpl.get_nfilters()):
        code, _, _, label = dcpl.get_filter(i)
        if code not in FILTERS:
            raise EmosteerError(
                f"{where}: filter {quote(_text(label))} (id {code}) is not supported; "
                "rewrite it with gzip (h5repack -f GZIP=4 IN OUT)"
            )
        ratio *= FILTERS[code][1]
    item = ds.id.get_type().get_size()
    shape = ds.shape or ()
    declared = math.prod(shape) * item if ds.shape is not None else 0
    if declared == 0 or layout == h5d.COMPACT:  # compact: in the object header (at most 64 KiB)
        return
    stored = ds.id.get_storage_size()
    if stored > file_size:
        raise EmosteerError(f"{where}: stores {stored} bytes in a file of {file_size}; file corrupt")
    if layout == h5d.CONTIGUOUS and stored < declared:
        raise EmosteerError(
            f"{where}: shape {shape} never written (its values would read as the fill value); refusing it"
        )
    if layout == h5d.CHUNKED:
        _audit_chunks(ds, where, shape, item, ratio)
    if declared > stored * ratio:
        raise EmosteerError(
            f"{where}: shape {shape} declares {_size(declared)}, but its {stored} stored bytes hold at "
            f"most {_size(stored * ratio)} (x{ratio}); refusing it"
        )


def _audit_chunks(ds: h5py.Dataset, where: str, shape: tuple[int, ...], item: int, ratio: int) -> None:
    """Every chunk stored; no chunk (nor a compressed chunk's expansion) above READ_BUDGET."""
    chunk = ds.chunks
    chunk_bytes = math.prod(chunk) * item
    if chunk_bytes > READ_BUDGET:
        raise EmosteerError(
            f"{where}: chunks of {_size(chunk_bytes)} (shape {chunk}) exceed the {_size(READ_BUDGET)} a read may take"
        )
    expected = math.prod(-(-n // c) for n, c in zip(shape, chunk))
    have = ds.id.get_num_chunks()
    if have < expected:
        raise EmosteerError(
            f"{where}: shape {shape}: only {have} of its {expected} chunks are stored "
            "(the rest would read as the fill value); refusing it"
        )
    if ds.id.get_create_plist().get_nfilters():
        largest = [0]
        ds.id.chunk_iter(lambda info: largest.__setitem__(0, max(largest[0], info.size)))
        if largest[0] > encoded_bound(chunk_bytes):
            raise EmosteerError(
                f"{where}: a compressed chunk of {largest[0]} bytes is larger than any encoding of its "
                f"{chunk_bytes} bytes; file crafted or corrupt"
            )
        if largest[0] * ratio > READ_BUDGET:
            raise EmosteerError(
                f"{where}: a compressed chunk of {largest[0]} bytes may expand to "
                f"{_size(largest[0] * ratio)} (x{ratio}), more than the {_size(READ_BUDGET)} a read "
                "may take; rewrite it with smaller chunks (h5repack -l CHUNK=...)"
            )


def encoded_bound(n: int) -> int:
    """The most bytes the allowed filters store for a chunk of `n` bytes, with room to spare:
    deflate stores at most n + n/4096 + n/16384 + 13 (zlib's compressBound), h5py's lzf gives up
    (the chunk is stored raw) rather than expand, fletcher32 adds 4."""
    return n + n // 1024 + 64


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


class Sink:
    """A file object for h5py's `fileobj` driver over the descriptor `fd`, which reports no error
    to HDF5: the first OSError is kept in `error`; from then on writes are held in memory (HDF5
    may read back what it wrote) and nothing more reaches the disk."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pos = fd, 0
        self.error: OSError | None = None
        self.held: list[tuple[int, bytes]] = []

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            pos += max([os.fstat(self.fd).st_size] + [at + len(b) for at, b in self.held])
        elif whence == os.SEEK_CUR:
            pos += self.pos
        self.pos = pos
        return pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int) -> bytes:
        data = bytearray(os.pread(self.fd, size, self.pos))
        data.extend(bytes(size - len(data)))  # past the end: zeros, as HDF5's own driver reads
        for at, held in self.held:  # what HDF5 wrote after the failure, in order
            lo, hi = max(at, self.pos), min(at + len(held), self.pos + size)
            if lo < hi:
                data[lo - self.pos : hi - self.pos] = held[lo - at : hi - at]
        self.pos += size
        return bytes(data)

    def write(self, data: bytes | bytearray) -> int:
        if self.error is None:
            try:
                view, at = memoryview(data), self.pos
                while view:
                    n = os.pwrite(self.fd, view, at)
                    view, at = view[n:], at + n
            except OSError as exc:
                self.error = exc
        if self.error is not None:
            self.held.append((self.pos, bytes(data)))
        self.pos += len(data)
        return len(data)

    def truncate(self, size: int) -> int:
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as exc:
                self.error = exc
        return size

    def flush(self) -> None:
        """Nothing buffered here (every write is a pwrite); the caller fsyncs."""

    def check(self) -> None:
        """Raise the kept OSError, if a write failed (writers call it between rows)."""
        if self.error is not None:
            raise self.error


@contextmanager
def writing(path: str | Path, **kwargs: Any) -> Iterator[tuple[h5py.File, Sink]]:
    """(h5py.File created at `path`, its Sink): the file is closed on the way out, whatever
    happened, and then a failed write is raised as the OSError the disk gave (one line upstream,
    see `emosteer.atomic.replacing`). `kwargs` go to h5py.File (e.g. track_order)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        sink = Sink(fd)
        with h5py.File(sink, "w", **kwargs) as f:
            yield f, sink
        sink.check()
    finally:
        os.close(fd)
