"""The features-HDF5 schema: validate, read lazily, write atomically.

Schema (the original's `emotion_features.h5`, plus attributes): `feature` (N,T,64) float32,
`valence` and `arousal` (N,) float32 in [-1, 1], `audio_name` (N,) bytes, unique. File attributes
record the source and front-end parameters (see docs/data.md).

Every reader opens the file through `emosteer.h5safe` (nothing outside the file is read, no declared
size is trusted), then checks the structure and labels (cheap); `validate_features` also scans the
whole `feature` array for NaN/inf, block by block, so a 1000-frame corpus never sits in memory.
Every problem is an EmosteerError "<file>: dataset '<name>': <problem> at index <i>".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emosteer import h5safe
from emosteer.atomic import replacing
from emosteer.constants import N_MELS
from emosteer.errors import EmosteerError
from emosteer.h5safe import H5_ERRORS

FEATURE = "feature"
VALENCE = "valence"
AROUSAL = "arousal"
AUDIO_NAME = "audio_name"
DATASETS = (FEATURE, VALENCE, AROUSAL, AUDIO_NAME)
LABEL_RANGE = (-1.0, 1.0)
SCAN_BYTES = 64 * 2**20  # rows of `feature` read at once while scanning for NaN/inf

Row = tuple[str, np.ndarray, float, float]  # (audio name, (T, 64) features, valence, arousal)


@dataclass(frozen=True)
class FeaturesInfo:
    """What a valid features file holds: N rows of (T, 64) and its attributes."""

    n: int
    frames: int
    attrs: dict[str, Any] = field(default_factory=dict)


def validate_features(path: str | Path) -> FeaturesInfo:
    """Check the whole file (structure, labels, names, every feature value); return its shape."""
    path = Path(path)
    with open_h5(path) as f, _reading(path):
        info = _check_structure(f, path)
        _check_feature_rows(f[FEATURE], path, 0, info.n)
    return info


def read_info(path: str | Path) -> FeaturesInfo:
    """Shape and attributes after the structural, label and name checks; unlike
    `validate_features`, no feature value is read, so it costs the same for any file size."""
    path = Path(path)
    with open_h5(path) as f, _reading(path):
        return _check_structure(f, path)


def read_labels(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(audio names, valence (N,), arousal (N,)) after the structural and label checks."""
    path = Path(path)
    with open_h5(path) as f, _reading(path):
        _check_structure(f, path)
        names = _decode_names(f[AUDIO_NAME], path)
        return names, _read_label(f, VALENCE, path), _read_label(f, AROUSAL, path)


def read_features(path: str | Path, indices: Iterable[int]) -> np.ndarray:
    """Rows `indices` (any order, repeats allowed) of `feature` as (len, T, 64) float32.

    Only those rows are read: h5py wants increasing unique indices, so the unique sorted rows are
    read as contiguous runs and then put back in the caller's order.
    """
    path = Path(path)
    idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
    with open_h5(path) as f, _reading(path):
        info = _check_structure(f, path)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise EmosteerError(f"{path}: dataset '{FEATURE}': row indices must be integers")
        idx = idx.astype(np.int64).reshape(-1)
        bad = np.flatnonzero((idx < 0) | (idx >= info.n))
        if bad.size:
            raise EmosteerError(
                f"{path}: dataset '{FEATURE}': row {idx[bad[0]]} out of range [0, {info.n}) "
                f"at index {bad[0]} of the request"
            )
        uniq, inverse = np.unique(idx, return_inverse=True)
        rows = _read_runs(f[FEATURE], uniq, info.frames)
        _check_finite_block(rows, path, uniq)
    return np.ascontiguousarray(rows[inverse], dtype=np.float32)


def iter_feature_blocks(path: str | Path) -> Iterator[np.ndarray]:
    """`feature` rows in order, as blocks of about SCAN_BYTES (for copying without loading all).

    Checks the structure first and each block for NaN/inf as it is read.
    """
    path = Path(path)
    with open_h5(path) as f, _reading(path):
        info = _check_structure(f, path)
        ds = f[FEATURE]
        step = max(1, SCAN_BYTES // (info.frames * N_MELS * ds.dtype.itemsize))
        for lo in range(0, info.n, step):
            hi = min(info.n, lo + step)
            block = _read_or_fail(ds, path, FEATURE, np.s_[lo:hi])
            _check_finite_block(block, path, np.arange(lo, hi))
            yield block.astype(np.float32, copy=False)


def write_features(
    out: str | Path,
    n: int,
    frames: int,
    rows: Iterable[Row],
    attrs: Mapping[str, Any],
) -> FeaturesInfo:
    """Write exactly `n` rows to `out` atomically; the file is validated before it appears.

    Rows go to a temp file in the same directory (so os.replace is atomic); on any failure the temp
    file is removed and `out` is left untouched. Datasets are chunked one row per chunk (reads of
    arbitrary rows stay cheap) and carry no timestamps, so equal inputs give byte-identical files.
    """
    out = Path(out)
    if n < 1:
        raise EmosteerError(f"{out}: nothing to write (0 rows)")
    with replacing(out) as tmp:
        _write_rows(tmp, out, n, frames, rows, attrs)
        try:
            info = validate_features(tmp)
        except EmosteerError as exc:
            raise EmosteerError(f"{out}: output failed validation, not written: {exc}") from exc
    return info


def _write_rows(tmp: Path, out: Path, n: int, frames: int, rows: Iterable[Row], attrs: Mapping[str, Any]) -> None:
    """Fill a fresh file at `tmp`; errors name `out`, the file the user asked for. A failed write
    (a full disk) stops at the next row and surfaces as its OSError (h5safe.writing)."""
    with h5safe.writing(tmp) as (f, sink):
        for key, value in attrs.items():
            f.attrs[key] = value
        feat = f.create_dataset(
            FEATURE,
            shape=(n, frames, N_MELS),
            dtype=np.float32,
            chunks=(1, frames, N_MELS),
            track_times=False,
        )
        valence = np.empty(n, dtype=np.float32)
        arousal = np.empty(n, dtype=np.float32)
        names: list[bytes] = []
        for i, (name, x, v, a) in enumerate(_exactly(rows, n, out)):
            x = np.asarray(x, dtype=np.float32)
            if x.shape != (frames, N_MELS):
                raise EmosteerError(
                    f"{out}: dataset '{FEATURE}': row shape {x.shape} != {(frames, N_MELS)} at index {i}"
                )
            feat[i] = x
            sink.check()
            valence[i], arousal[i] = v, a
            names.append(name.encode("utf-8"))
        f.create_dataset(VALENCE, data=valence, track_times=False)
        f.create_dataset(AROUSAL, data=arousal, track_times=False)
        width = max(1, max(len(b) for b in names))
        f.create_dataset(AUDIO_NAME, data=np.array(names, dtype=f"S{width}"), track_times=False)


def _exactly(rows: Iterable[Row], n: int, out: Path) -> Iterator[Row]:
    """Yield the rows, insisting there are exactly `n` of them."""
    count = 0
    for row in rows:
        if count == n:
            raise EmosteerError(f"{out}: more rows than the {n} announced")
        count += 1
        yield row
    if count != n:
        raise EmosteerError(f"{out}: {count} rows written, {n} announced")


def open_h5(path: str | Path) -> h5py.File:
    """Open read-only through the guard (`h5safe.open_h5`): missing, empty, non-HDF5, truncated
    files and anything that reads outside the file or declares more than it holds are one line."""
    return h5safe.open_h5(path)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what h5py raises on a damaged file, anywhere inside a read, into one line."""
    try:
        yield
    except H5_ERRORS as exc:
        raise h5safe.corrupt(path, exc) from exc


def _check_structure(f: h5py.File, path: Path) -> FeaturesInfo:
    """Everything except the feature-value scan: datasets, shapes, labels, names."""
    for name in DATASETS:
        if name not in f:
            raise EmosteerError(f"{path}: dataset '{name}': missing")
        if not isinstance(f[name], h5py.Dataset):
            raise EmosteerError(f"{path}: dataset '{name}': is a group, not a dataset")
    feat = f[FEATURE]
    if feat.ndim != 3:
        raise EmosteerError(f"{path}: dataset '{FEATURE}': shape {feat.shape}, expected (N, T, 64)")
    n, frames, mels = feat.shape
    if mels != N_MELS:
        raise EmosteerError(f"{path}: dataset '{FEATURE}': {mels} mel bins, expected {N_MELS} (shape {feat.shape})")
    if n < 1 or frames < 1:
        raise EmosteerError(f"{path}: dataset '{FEATURE}': empty (shape {feat.shape})")
    if feat.dtype.kind != "f":
        raise EmosteerError(f"{path}: dataset '{FEATURE}': dtype {feat.dtype}, expected float")
    for name in (VALENCE, AROUSAL, AUDIO_NAME):
        _check_length(f[name], name, n, path)
    for name in (VALENCE, AROUSAL):
        _read_label(f, name, path)
    _decode_names(f[AUDIO_NAME], path)
    return FeaturesInfo(n=int(n), frames=int(frames), attrs=_attrs(f))


def _check_length(ds: h5py.Dataset, name: str, n: int, path: Path) -> None:
    """A per-row dataset must be 1-D with one entry per `feature` row."""
    if ds.ndim != 1:
        raise EmosteerError(f"{path}: dataset '{name}': shape {ds.shape}, expected ({n},)")
    if ds.shape[0] != n:
        raise EmosteerError(
            f"{path}: dataset '{name}': length {ds.shape[0]} != {n} rows of '{FEATURE}' at index {min(ds.shape[0], n)}"
        )


def _read_label(f: h5py.File, name: str, path: Path) -> np.ndarray:
    """A label vector as float32, finite and inside [-1, 1]."""
    ds = f[name]
    if ds.dtype.kind not in "fiu":
        raise EmosteerError(f"{path}: dataset '{name}': dtype {ds.dtype}, expected float")
    y = _read_or_fail(ds, path, name).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise EmosteerError(f"{path}: dataset '{name}': {y[bad[0]]} (not finite) at index {bad[0]}")
    lo, hi = LABEL_RANGE
    bad = np.flatnonzero((y < lo) | (y > hi))
    if bad.size:
        raise EmosteerError(f"{path}: dataset '{name}': {y[bad[0]]:g} outside [{lo:g}, {hi:g}] at index {bad[0]}")
    return y


def _decode_names(ds: h5py.Dataset, path: Path) -> list[str]:
    """Audio names as str, non-empty and unique (names key the split and the reports)."""
    raw = _read_or_fail(ds, path, AUDIO_NAME)
    names: list[str] = []
    first_at: dict[str, int] = {}
    for i, item in enumerate(raw):
        try:
            name = item.decode("utf-8") if isinstance(item, bytes) else str(item)
        except UnicodeDecodeError as exc:
            raise EmosteerError(f"{path}: dataset '{AUDIO_NAME}': not UTF-8 at index {i}") from exc
        if not name:
            raise EmosteerError(f"{path}: dataset '{AUDIO_NAME}': empty name at index {i}")
        if name in first_at:
            raise EmosteerError(
                f"{path}: dataset '{AUDIO_NAME}': duplicate name {name!r} at index {i} "
                f"(first at index {first_at[name]})"
            )
        first_at[name] = i
        names.append(name)
    return names


def _read_or_fail(ds: h5py.Dataset, path: Path, name: str, sel: Any = ()) -> np.ndarray:
    """Read all or a slice of rows within h5safe's budget; a truncated file fails here, with the
    dataset named."""
    return h5safe.read(ds, path, sel, name)


def _check_feature_rows(ds: h5py.Dataset, path: Path, start: int, stop: int) -> None:
    """Scan rows [start, stop) for NaN/inf in blocks of about SCAN_BYTES."""
    per_row = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
    step = max(1, SCAN_BYTES // per_row)
    for lo in range(start, stop, step):
        hi = min(stop, lo + step)
        block = _read_or_fail(ds, path, FEATURE, np.s_[lo:hi])
        _check_finite_block(block, path, np.arange(lo, hi))


def _check_finite_block(block: np.ndarray, path: Path, rows: np.ndarray) -> None:
    """Raise naming the first row of `block` (file row `rows[k]`) holding NaN or inf."""
    finite = np.isfinite(block).all(axis=tuple(range(1, block.ndim)))
    if not finite.all():
        k = int(np.argmin(finite))
        raise EmosteerError(f"{path}: dataset '{FEATURE}': NaN or inf at index {rows[k]}")


def _read_runs(ds: h5py.Dataset, uniq: np.ndarray, frames: int) -> np.ndarray:
    """Read sorted unique rows as contiguous slices (one h5py call per run)."""
    out = np.empty((uniq.size, frames, N_MELS), dtype=np.float32)
    if uniq.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [uniq.size]])
    for s, e in zip(starts, stops):
        out[s:e] = _read_or_fail(ds, ds.file.filename, FEATURE, np.s_[uniq[s] : uniq[e - 1] + 1])
    return out


def _attrs(f: h5py.File) -> dict[str, Any]:
    """File attributes as plain Python values (bytes decoded, numpy scalars unwrapped)."""
    out: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    return out
