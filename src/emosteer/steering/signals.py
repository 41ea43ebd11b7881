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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emosteer import h5safe, jsonsafe
from emosteer.atomic import replacing
from emosteer.constants import STEER_DIM
from emosteer.digest import file_sha256
from emosteer.errors import EmosteerError, one_line
from emosteer.grid import Grid, check_unit_interval
from emosteer.h5safe import H5_ERRORS

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
                raise EmosteerError(
                    f"signal table: {name} must be ({k}, {STEER_DIM}) float32, got {arr.shape} {arr.dtype}"
                )
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
            raise EmosteerError(
                f"signal table: no bin has >= {self.min_count} training clips (steering.min_count); "
                "lower steering.min_count or use a coarser grid"
            )
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
            f"signals: no bin has >= {min_count} training clips (steering.min_count) on a "
            f"{grid.size}x{grid.size} grid (grid): the largest bin has {counts.max()} of {n} clips; "
            "lower steering.min_count or use a coarser grid in params.yaml"
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
    for name, arr in (("acts_v", acts_v), ("acts_a", acts_a), ("arousal", arousal)):
        if len(arr) != n_total:
            raise EmosteerError(f"signals: {name} has {len(arr)} rows, valence has {n_total}")
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


def write_h5(
    table: SignalTable,
    path: str | os.PathLike,
    attrs: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
) -> None:
    """Write the table as HDF5 (no timestamps, so identical tables give identical bytes).

    `attrs` (e.g. the params that produced it) and the recorded fields of `provenance` go to file
    attributes; str/int/float/bool values are stored as they are, anything else as its JSON text.
    `grid` and `min_count` are reserved.
    """
    recorded = {k: v for k, v in (provenance or Provenance()).to_json().items() if v not in (None, {})}
    extra = {**recorded, **dict(attrs or {})}
    for key in ("grid", "min_count"):
        if key in extra:
            raise EmosteerError(f"{path}: attribute '{key}' is reserved by the signal table")

    def write(tmp: str) -> None:
        with h5safe.writing(tmp, track_order=True) as (f, _):
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
    with h5safe.open_h5(path) as f:
        for name in _H5_DATASETS:
            if not isinstance(f.get(name), h5py.Dataset):
                raise EmosteerError(f"{path}: missing dataset '{name}'")
        for key in ("grid", "min_count"):
            if key not in f.attrs:
                raise EmosteerError(f"{path}: missing attribute '{key}'")
        try:
            data = {name: h5safe.read(f[name], path) for name in _H5_DATASETS}
            grid = Grid(int(f.attrs["grid"]))
            names = [n.decode("ascii") for n in data["names"]]
            min_count = int(f.attrs["min_count"])
        except H5_ERRORS as exc:
            raise h5safe.corrupt(path, exc) from None
        if names != grid.names():
            raise EmosteerError(f"{path}: names do not match a {grid.size}x{grid.size} grid")
        return SignalTable(
            grid=grid,
            valence=data["valence"],
            arousal=data["arousal"],
            counts=data["counts"],
            source=data["source"],
            min_count=min_count,
            global_valence=data["global_valence"],
            global_arousal=data["global_arousal"],
        )


# ---------------------------------------------------------------------------------------------
# Provenance and the JSON format

JSON_FORMAT = "emosteer-signals/2"
TABLE_SKIP = ("metadata", "generation_config")  # non-category entries of the original's JSON
SIGNAL_FIELDS = ("valence_128d", "arousal_128d")


@dataclass(frozen=True)
class Provenance:
    """Where a table's activations came from; every field is optional (None = not recorded).

    split: the split part whose clips were averaged ("train"); seed: the pipeline seed of that
    split and model; model_file / model_sha256: the checkpoint the activations were computed with;
    activations_pass / forward_passes: which pass of how many the 128-d vectors are from;
    extra: anything else a reader needs (JSON-serialisable), e.g. the fallback rule.
    """

    split: str | None = None
    seed: int | None = None
    model_file: str | None = None
    model_sha256: str | None = None
    activations_pass: int | None = None
    forward_passes: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_model(cls, model_file: str | os.PathLike, **fields: Any) -> Provenance:
        """Provenance naming `model_file` and its sha256, plus the given fields."""
        return cls(model_file=str(model_file), model_sha256=file_sha256(model_file), **fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "seed": self.seed,
            "model_file": self.model_file,
            "model_sha256": self.model_sha256,
            "activations_pass": self.activations_pass,
            "forward_passes": self.forward_passes,
            "extra": dict(self.extra),
        }


def _floats(x: np.ndarray) -> list[float]:
    """float32 values as Python floats: the exact float32 value, so reading it back is lossless."""
    return [float(v) for v in np.asarray(x, dtype=np.float32)]


def to_json(table: SignalTable, provenance: Provenance | None = None) -> dict[str, Any]:
    """The original's JSON format, one entry per bin in flat order, then "metadata".

    `{name: {"valence_128d": [...], "arousal_128d": [...], "count": n, "fallback_to": name|None},
    ..., "metadata": {...}}`. The original's loaders skip the "metadata" key, so the grid (size,
    edges, centres), the clip count per bin, the fallbacks, the global means and the provenance
    (split, seed, model file and sha256, activations pass) live there.
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
    centres = table.grid.centre_points()
    out["metadata"] = {
        "format": JSON_FORMAT,
        "grid": table.grid.size,
        "bins": table.grid.n_bins,
        "edges": [float(e) for e in table.grid.edges],
        "centres": {name: [float(c) for c in centres[k]] for k, name in enumerate(names)},
        "min_count": table.min_count,
        "populated": int(table.populated.sum()),
        "n_clips": int(table.counts.sum()),
        "counts": {name: int(c) for name, c in zip(names, table.counts)},
        "fallbacks": table.fallbacks(),
        **(provenance or Provenance()).to_json(),
        "global_valence_128d": _floats(table.global_valence),
        "global_arousal_128d": _floats(table.global_arousal),
    }
    return out


def _vector(value: Any, where: str) -> np.ndarray:
    """A JSON list of STEER_DIM finite numbers as float32, or EmosteerError naming `where`."""
    if not isinstance(value, list) or len(value) != STEER_DIM:
        got = f"length {len(value)}" if isinstance(value, list) else type(value).__name__
        raise EmosteerError(f"{where}: expected {STEER_DIM} numbers, got {got}")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise EmosteerError(f"{where}: not a number at index {i} ({type(item).__name__})")
    try:
        wide = np.array([float(v) for v in value], dtype=np.float64)
    except OverflowError:
        wide = np.full(STEER_DIM, np.inf)  # an int too large for a float
    with np.errstate(over="ignore", invalid="ignore"):
        arr = wide.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise EmosteerError(f"{where}: not finite (as float32) at index {bad[0]}")
    return arr


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EmosteerError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _entry(obj: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    entry = obj.get(name)
    if not isinstance(entry, dict):
        got = "missing" if entry is None else f"a {type(entry).__name__}"
        raise EmosteerError(f"{where}: category {name!r}: {got}, expected an object")
    return entry


def from_json(obj: Any, where: str = "json") -> SignalTable:
    """Inverse of `to_json`; any malformed input raises EmosteerError naming `where` and the field."""
    if not isinstance(obj, dict):
        raise EmosteerError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise EmosteerError(
            f"{where}: no 'metadata' object, so no grid: the original's format only serves "
            "--category (a full table is emosteer's signals JSON)"
        )
    size = _int(meta.get("grid"), f"{where}: metadata.grid", 2)
    if size * size > len(obj) - 1:
        raise EmosteerError(
            f"{where}: metadata.grid = {size} needs {size * size} bins, the file has {len(obj) - 1} entries"
        )
    grid = Grid(size)
    names = grid.names()
    index = {n: k for k, n in enumerate(names)}
    entries = [_entry(obj, n, where) for n in names]
    source = np.arange(grid.n_bins, dtype=np.int64)
    for k, (name, e) in enumerate(zip(names, entries)):
        target = e.get("fallback_to")
        if target is not None:
            if not isinstance(target, str) or target not in index:
                raise EmosteerError(f"{where}: category {name!r} field 'fallback_to': unknown bin {target!r}")
            source[k] = index[target]
    vectors = {
        fld: np.stack([_vector(e.get(fld), f"{where}: category {n!r} field '{fld}'") for n, e in zip(names, entries)])
        for fld in SIGNAL_FIELDS
    }
    return SignalTable(
        grid=grid,
        valence=vectors["valence_128d"],
        arousal=vectors["arousal_128d"],
        counts=np.array(
            [_int(e.get("count"), f"{where}: category {n!r} field 'count'", 0) for n, e in zip(names, entries)],
            dtype=np.int64,
        ),
        source=source,
        min_count=_int(meta.get("min_count"), f"{where}: metadata.min_count", 1),
        global_valence=_vector(meta.get("global_valence_128d"), f"{where}: metadata.global_valence_128d"),
        global_arousal=_vector(meta.get("global_arousal_128d"), f"{where}: metadata.global_arousal_128d"),
    )


def write_json(table: SignalTable, path: str | os.PathLike, provenance: Provenance | None = None) -> None:
    """Write `to_json(table, provenance)` atomically; key order is fixed, so equal inputs give equal bytes."""
    try:
        text = json.dumps(to_json(table, provenance), allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise EmosteerError(f"{path}: provenance is not plain JSON data ({exc})") from None

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _atomic_write(path, write)


def load_json_object(path: str | os.PathLike) -> Any:
    """The parsed JSON of `path`; a missing, unreadable or non-JSON file raises one clear line."""
    path = Path(path)
    if not path.is_file():
        raise EmosteerError(f"{path}: no such steering table")
    try:
        text = path.read_bytes().decode("utf-8")
        return jsonsafe.loads(text, path)
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise EmosteerError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise EmosteerError(f"{path}: JSON nested too deeply") from None


def read_json(path: str | os.PathLike) -> SignalTable:
    """Read a table written by `write_json` (with or without the provenance fields)."""
    return from_json(load_json_object(path), where=str(path))


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The 'metadata' object of a steering JSON, or None when it has none (the original's files)."""
    obj = load_json_object(path)
    if not isinstance(obj, dict):
        raise EmosteerError(f"{path}: expected a JSON object of categories, got {type(obj).__name__}")
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else None


def read_categories(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{category: (valence_128d, arousal_128d)} from any table in the original's format.

    Every top-level entry whose value is an object is a category and must carry both 128-d
    vectors; 'metadata', 'generation_config' and non-object entries (notes) are skipped, as the
    original's loaders did. Our tables read the same way (their bins are the categories).
    """
    obj = load_json_object(path)
    if not isinstance(obj, dict):
        raise EmosteerError(f"{path}: expected a JSON object of categories, got {type(obj).__name__}")
    table = {}
    for name, entry in obj.items():
        if name in TABLE_SKIP or not isinstance(entry, dict):
            continue
        table[name] = tuple(
            _vector(entry.get(fld), f"{path}: category {name!r} field '{fld}'") for fld in SIGNAL_FIELDS
        )
    if not table:
        raise EmosteerError(f"{path}: no category entries")
    return table  # type: ignore[return-value]


def describe(path: str | os.PathLike) -> str:
    """A readable summary of a steering JSON: grid, counts per bin, fallbacks and provenance."""
    meta = read_metadata(path)
    if meta is None:
        cats = read_categories(path)
        return one_line(f"{path}: the original's format, no metadata") + (
            f"\n  categories  {len(cats)}: {', '.join(one_line(c) for c in cats)}"
        )
    table = read_json(path)
    g = table.grid
    unknown = "not recorded"

    def field_(key: str) -> str:
        value = meta.get(key)
        return unknown if value is None else str(value)

    lines = [
        f"{path}",
        f"  format       {meta.get('format', 'emosteer-signals/1 (before provenance was recorded)')}",
        f"  grid         {g.size} x {g.size} bins over valence and arousal, edges "
        + ", ".join(f"{e:+.3f}" for e in g.edges),
        f"  clips        {int(table.counts.sum())} from split {field_('split')}, seed {field_('seed')}",
        f"  populated    {int(table.populated.sum())} of {g.n_bins} bins have >= {table.min_count} clips (min_count)",
        f"  model        {field_('model_file')}  sha256 {field_('model_sha256')}",
        f"  activations  pass {field_('activations_pass')} of {field_('forward_passes')}",
    ]
    extra = meta.get("extra")
    if isinstance(extra, dict) and extra:
        lines.append("  extra        " + ", ".join(f"{k}={v}" for k, v in extra.items()))
    lines = [one_line(line) for line in lines]  # provenance is the file's text
    lines.append("  clips per bin (rows: arousal, high to low; columns: valence, low to high; * fell back)")
    counts = table.counts.reshape(g.size, g.size)  # [valence index, arousal index]
    w = max(6, len(str(int(counts.max()))) + 1)  # each cell: w characters and a fallback mark
    lines.append(f"    {'':8}" + "".join(f"{c:>+{w}.2f} " for c in g.centres) + " <- valence centre")
    for ai in range(g.size - 1, -1, -1):
        marks = ["*" if table.source[vi * g.size + ai] != vi * g.size + ai else " " for vi in range(g.size)]
        cells = "".join(f"{counts[vi, ai]:>{w}}{marks[vi]}" for vi in range(g.size))
        lines.append(f"    {'a=' + format(g.centres[ai], '+.2f'):8}{cells}")
    fallbacks = table.fallbacks()
    if fallbacks:
        lines.append("  fallbacks    " + ", ".join(f"{k} -> {v}" for k, v in fallbacks.items()))
    return "\n".join(lines)
