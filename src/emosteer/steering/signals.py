"""Steering signals: per-bin mean 128-d valence/arousal activations over TRAINING clips only.

The original averaged over all clips, validation included (ORIGINAL.md §h.1), and patched two
empty bins with hard-coded names (§d). Here:

- the caller passes training rows only; `aggregate_split` takes the full arrays plus the train
  indices and reads nothing else, which the leak test proves byte for byte;
- a bin is *populated* if it holds at least `min_count` training clips; any other bin takes the
  mean of the nearest populated bin by Euclidean distance between bin centres, ties broken by the
  lowest flat index, and the table records that target in `source`;
- means are accumulated in float64 in input order (training indices sorted), then cast to float32,
  so the same inputs give byte-identical tables, HDF5 and JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emosteer.constants import STEER_DIM
from emosteer.atomic import replacing
from emosteer.errors import EmosteerError
from emosteer.steering.grid import Grid, check_unit_interval

_H5_DATASETS = (
    "valence",
    "arousal",
    "counts",
    "source",
    "names",
    "centres",
    "global_valence",
    "global_arousal",
)


@dataclass(frozen=True, eq=False)
class SignalTable:
    """Per flat bin (K = G*G): the signal each bin steers with, after fallback.

    valence, arousal: (K, 128) float32, fallback-resolved (row k is the own mean of bin source[k]).
    counts: (K,) int64 training clips per bin. source: (K,) int64, k itself if populated.
    global_valence, global_arousal: (128,) float32 mean over all training clips (global control).
    """

    grid: Grid
    valence: np.ndarray
    arousal: np.ndarray
    counts: np.ndarray
    source: np.ndarray
    min_count: int
    global_valence: np.ndarray
    global_arousal: np.ndarray

    def __post_init__(self) -> None:
        k = self.grid.n_bins
        for name in ("valence", "arousal"):
            arr = getattr(self, name)
            if arr.shape != (k, STEER_DIM) or arr.dtype != np.float32:
                raise EmosteerError(f"signal table: {name} must be ({k}, {STEER_DIM}) float32, got {arr.shape} {arr.dtype}")
        for name in ("global_valence", "global_arousal"):
            arr = getattr(self, name)
            if arr.shape != (STEER_DIM,) or arr.dtype != np.float32:
                raise EmosteerError(f"signal table: {name} must be ({STEER_DIM},) float32, got {arr.shape} {arr.dtype}")
        for name in ("counts", "source"):
            arr = getattr(self, name)
            if arr.shape != (k,) or not np.issubdtype(arr.dtype, np.integer):
                raise EmosteerError(f"signal table: {name} must be ({k},) integers, got {arr.shape} {arr.dtype}")
        _check_min_count(self.min_count)
        if ((self.source < 0) | (self.source >= k)).any():
            i = int(np.argmax((self.source < 0) | (self.source >= k)))
            raise EmosteerError(f"signal table: source[{i}] = {self.source[i]} outside [0, {k})")
        populated = self.populated
        if not populated.any():
            raise EmosteerError(f"signal table: no bin has >= {self.min_count} training clips")
        bad = ~populated[self.source] | (populated & (self.source != np.arange(k)))
        if bad.any():
            i = int(np.argmax(bad))
            raise EmosteerError(f"signal table: source[{i}] = {self.source[i]} is not a valid fallback target")

    @property
    def populated(self) -> np.ndarray:
        """(K,) bool: bins with at least min_count training clips, whose own mean is used."""
        return self.counts >= self.min_count

    @property
    def names(self) -> list[str]:
        return self.grid.names()

    def fallbacks(self) -> dict[str, str]:
        """{bin name: name of the bin whose mean it uses} for every bin that fell back."""
        names = self.names
        return {names[k]: names[int(s)] for k, s in enumerate(self.source) if int(s) != k}


def _check_min_count(min_count: int) -> None:
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise EmosteerError(f"signals: min_count must be an integer >= 1, got {min_count!r}")


def _check_activations(x: np.ndarray, field: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != STEER_DIM:
        raise EmosteerError(f"signals: {field} must be (N, {STEER_DIM}), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise EmosteerError(f"signals: {field} has {arr.shape[0]} rows, expected {n}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise EmosteerError(f"signals: {field}[{i}] has a non-finite value")
    return arr


def nearest_populated(grid: Grid, populated: np.ndarray) -> np.ndarray:
    """(K,) int64: each bin itself if populated, else the nearest populated bin by centre distance.

    Distances are compared as exact integers in centre-index units (see Grid.centre_index_points),
    and a tie goes to the lowest flat index, so the rule never depends on float rounding.
    """
    if not populated.any():
        raise EmosteerError("signals: no bin is populated, so there is nothing to fall back to")
    pts = grid.centre_index_points()
    targets = np.flatnonzero(populated)
    d2 = ((pts[:, None, :] - pts[None, targets, :]) ** 2).sum(axis=2)  # (K, n_populated)
    return targets[np.argmin(d2, axis=1)].astype(np.int64)  # argmin takes the first (lowest index) tie


def _bin_means(acts: np.ndarray, flat: np.ndarray, n_bins: int) -> np.ndarray:
    """(K, 128) float64 per-bin means (zeros for empty bins), summed in input order per bin."""
    out = np.zeros((n_bins, acts.shape[1]), dtype=np.float64)
    for k in np.unique(flat):  # loop over bins, not clips
        out[k] = acts[flat == k].astype(np.float64).mean(axis=0)
    return out


def aggregate(
    valence_128d: np.ndarray,
    arousal_128d: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    grid: Grid,
    min_count: int = 1,
) -> SignalTable:
    """Build the signal table from TRAINING clips: per-bin means, counts and nearest-populated fallback."""
    _check_min_count(min_count)
    v = check_unit_interval(valence, "valence", "signals")
    a = check_unit_interval(arousal, "arousal", "signals")
    if v.shape != a.shape:
        raise EmosteerError(f"signals: valence has {v.shape[0]} rows, arousal {a.shape[0]}")
    n = v.shape[0]
    if n == 0:
        raise EmosteerError("signals: no training clips")
    acts_v = _check_activations(valence_128d, "valence_128d", n)
    acts_a = _check_activations(arousal_128d, "arousal_128d", n)

    flat = grid.bin_index(v, a, where="signals")
    counts = np.bincount(flat, minlength=grid.n_bins).astype(np.int64)
    populated = counts >= min_count
    if not populated.any():
        raise EmosteerError(
            f"signals: no bin has >= {min_count} training clips (largest bin has {counts.max()})"
        )
    source = nearest_populated(grid, populated)
    mean_v = _bin_means(acts_v, flat, grid.n_bins)[source]
    mean_a = _bin_means(acts_a, flat, grid.n_bins)[source]
    return SignalTable(
        grid=grid,
        valence=mean_v.astype(np.float32),
        arousal=mean_a.astype(np.float32),
        counts=counts,
        source=source,
        min_count=int(min_count),
        global_valence=acts_v.astype(np.float64).mean(axis=0).astype(np.float32),
        global_arousal=acts_a.astype(np.float64).mean(axis=0).astype(np.float32),
    )


def aggregate_split(
    acts_v: np.ndarray,
    acts_a: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    train_idx: np.ndarray,
    grid: Grid,
    min_count: int = 1,
) -> SignalTable:
    """`aggregate` over the rows `train_idx` of full-dataset arrays, reading no other row.

    This is the one entry point the pipeline uses, so the leak test on it covers the pipeline:
    rows outside `train_idx` are never validated, converted or summed. Indices are sorted first,
    so the table does not depend on the order the split lists them in.
    """
    idx = np.asarray(train_idx)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise EmosteerError(f"signals: train_idx must be a 1-D integer array, got {idx.shape} {idx.dtype}")
    n_total = len(valence)
    for field, arr in (("acts_v", acts_v), ("acts_a", acts_a), ("arousal", arousal)):
        if len(arr) != n_total:
            raise EmosteerError(f"signals: {field} has {len(arr)} rows, valence has {n_total}")
    bad = (idx < 0) | (idx >= n_total)
    if bad.any():
        i = int(np.argmax(bad))
        raise EmosteerError(f"signals: train_idx[{i}] = {idx[i]} outside [0, {n_total})")
    idx = np.sort(idx)
    dup = idx[1:] == idx[:-1]
    if dup.any():
        raise EmosteerError(f"signals: train_idx lists clip {idx[1:][dup][0]} more than once")
    return aggregate(
        np.asarray(acts_v)[idx],
        np.asarray(acts_a)[idx],
        np.asarray(valence)[idx],
        np.asarray(arousal)[idx],
        grid,
        min_count,
    )


# ---------------------------------------------------------------------------------------------
# Writers and readers


def _atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write via `write(tmp_path)` to a temp file beside `path`, then rename over it."""
    with replacing(path) as tmp:
        write(str(tmp))


def write_h5(table: SignalTable, path: str | os.PathLike, attrs: Mapping[str, Any] | None = None) -> None:
    """Write the table as HDF5 (no timestamps, so identical tables give identical bytes).

    `attrs` (e.g. the params that produced it) go to file attributes; str/int/float/bool values are
    stored as they are, anything else as its JSON text. `grid` and `min_count` are reserved.
    """
    extra = dict(attrs or {})
    for key in ("grid", "min_count"):
        if key in extra:
            raise EmosteerError(f"{path}: attribute '{key}' is reserved by the signal table")

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w", track_order=True) as f:
            data = {
                "valence": table.valence,
                "arousal": table.arousal,
                "counts": table.counts.astype(np.int64),
                "source": table.source.astype(np.int64),
                "names": np.array([n.encode("ascii") for n in table.names]),
                "centres": table.grid.centre_points(),
                "global_valence": table.global_valence,
                "global_arousal": table.global_arousal,
            }
            for name in _H5_DATASETS:
                f.create_dataset(name, data=data[name], track_times=False)
            f.attrs["grid"] = table.grid.size
            f.attrs["min_count"] = table.min_count
            for key, value in extra.items():
                ok = isinstance(value, (str, int, float, bool, np.integer, np.floating))
                f.attrs[key] = value if ok else json.dumps(value, sort_keys=True)

    _atomic_write(path, write)


def read_h5(path: str | os.PathLike) -> SignalTable:
    """Read a table written by `write_h5`; a missing or inconsistent field raises naming it."""
    if not Path(path).is_file():
        raise EmosteerError(f"{path}: signal table file does not exist")
    with h5py.File(path, "r") as f:
        for name in _H5_DATASETS:
            if name not in f:
                raise EmosteerError(f"{path}: missing dataset '{name}'")
        for key in ("grid", "min_count"):
            if key not in f.attrs:
                raise EmosteerError(f"{path}: missing attribute '{key}'")
        grid = Grid(int(f.attrs["grid"]))
        names = [n.decode("ascii") for n in f["names"][()]]
        if names != grid.names():
            raise EmosteerError(f"{path}: names do not match a {grid.size}x{grid.size} grid")
        return SignalTable(
            grid=grid,
            valence=f["valence"][()],
            arousal=f["arousal"][()],
            counts=f["counts"][()],
            source=f["source"][()],
            min_count=int(f.attrs["min_count"]),
            global_valence=f["global_valence"][()],
            global_arousal=f["global_arousal"][()],
        )


def _floats(x: np.ndarray) -> list[float]:
    """float32 values as Python floats: the exact float32 value, so reading it back is lossless."""
    return [float(v) for v in np.asarray(x, dtype=np.float32)]


def to_json(table: SignalTable) -> dict[str, Any]:
    """The original's JSON format, one entry per bin in flat order, then "metadata".

    `{name: {"valence_128d": [...], "arousal_128d": [...], "count": n, "fallback_to": name|None},
    ..., "metadata": {...}}`. The original's loaders skip the "metadata" key, so the global means
    live there too.
    """
    names = table.names
    out: dict[str, Any] = {}
    for k, name in enumerate(names):
        src = int(table.source[k])
        out[name] = {
            "valence_128d": _floats(table.valence[k]),
            "arousal_128d": _floats(table.arousal[k]),
            "count": int(table.counts[k]),
            "fallback_to": None if src == k else names[src],
        }
    out["metadata"] = {
        "grid": table.grid.size,
        "bins": table.grid.n_bins,
        "min_count": table.min_count,
        "populated": int(table.populated.sum()),
        "fallbacks": table.fallbacks(),
        "counts": {name: int(c) for name, c in zip(names, table.counts)},
        "global_valence_128d": _floats(table.global_valence),
        "global_arousal_128d": _floats(table.global_arousal),
    }
    return out


def from_json(obj: Mapping[str, Any], where: str = "json") -> SignalTable:
    """Inverse of `to_json`; `where` names the source in errors."""
    try:
        meta = obj["metadata"]
        grid = Grid(int(meta["grid"]))
        names = grid.names()
        index = {n: k for k, n in enumerate(names)}
        entries = [obj[n] for n in names]
        source = np.array(
            [k if e["fallback_to"] is None else index[e["fallback_to"]] for k, e in enumerate(entries)],
            dtype=np.int64,
        )
        return SignalTable(
            grid=grid,
            valence=np.array([e["valence_128d"] for e in entries], dtype=np.float32),
            arousal=np.array([e["arousal_128d"] for e in entries], dtype=np.float32),
            counts=np.array([int(e["count"]) for e in entries], dtype=np.int64),
            source=source,
            min_count=int(meta["min_count"]),
            global_valence=np.array(meta["global_valence_128d"], dtype=np.float32),
            global_arousal=np.array(meta["global_arousal_128d"], dtype=np.float32),
        )
    except KeyError as exc:
        raise EmosteerError(f"{where}: missing key {exc}") from exc


def write_json(table: SignalTable, path: str | os.PathLike) -> None:
    """Write `to_json(table)` atomically; key order is fixed, so equal tables give equal bytes."""
    text = json.dumps(to_json(table), allow_nan=False) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _atomic_write(path, write)


def read_json(path: str | os.PathLike) -> SignalTable:
    """Read a table written by `write_json`."""
    if not Path(path).is_file():
        raise EmosteerError(f"{path}: signal table file does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            obj = json.load(f)
        except json.JSONDecodeError as exc:
            raise EmosteerError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return from_json(obj, where=str(path))
