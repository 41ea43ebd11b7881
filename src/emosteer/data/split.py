"""Train / dev / val split that never separates the segments of one clip.

`val` is the evaluation set (only ever used to report); `dev` is a held-out part of the remaining
training clips (picks the steering strength; dev r is logged per epoch); `train` is the rest and
the only source of steering signals. A group is the name before a `_seg<i>` suffix, so every
segment of a clip lands on the same side of every cut.

mode "original" reproduces ORIGINAL.md §e for comparison with the report: the permutation of
``np.random.seed(42); np.random.shuffle(np.arange(N))`` (drawn from a private RandomState(42), which
gives the same permutation without touching NumPy's global state), first int(0.7 N) rows train,
the rest val -- at row level, as the original did, so segments may straddle that cut. `dev` is then
carved from the train part group-wise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emosteer.atomic import replacing
from emosteer.constants import SPLIT_MODES
from emosteer.errors import EmosteerError
from emosteer.steering.grid import Grid

PARTS = ("train", "dev", "val")
SEGMENT_SUFFIX = re.compile(r"_seg\d+$")
ORIGINAL_SEED = 42
ORIGINAL_TRAIN_FRACTION = 0.7


def group_of(name: str) -> str:
    """The clip a row belongs to: its name without a trailing `_seg<i>`."""
    return SEGMENT_SUFFIX.sub("", name)


def original_permutation(n: int) -> np.ndarray:
    """The permutation `np.random.seed(42); np.random.shuffle(arange(n))` gives, state-free."""
    idx = np.arange(n)
    np.random.RandomState(ORIGINAL_SEED).shuffle(idx)
    return idx


def make_split(
    names: Sequence[str],
    valence: np.ndarray,
    arousal: np.ndarray,
    val_fraction: float = 0.3,
    dev_fraction: float = 0.15,
    seed: int = 0,
    mode: str = "group",
    stratify_grid: int | None = None,
) -> dict[str, list[int]]:
    """Disjoint sorted index lists "train", "dev", "val" covering all rows.

    group mode: a seeded shuffle of groups (optionally stratified by the G x G bin of each group's
    mean label, G = `stratify_grid`, binned by `Grid` as everywhere else) puts
    round(val_fraction * groups) groups in val, then round(dev_fraction * rest) of the remaining
    groups in dev. original mode: val as in ORIGINAL.md §e (`val_fraction` is not
    used), dev carved from the original's train part the same group-wise way.
    """
    n = len(names)
    valence = np.asarray(valence, dtype=np.float64).reshape(-1)
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    _check_args(n, valence, arousal, val_fraction, dev_fraction, mode, stratify_grid)
    groups = np.unique([group_of(s) for s in names], return_inverse=True)[1].reshape(-1)
    if mode == "group" and groups.max() < 1:
        raise EmosteerError(f"split: all {n} rows belong to one clip ({group_of(names[0])!r}); nothing to split")
    rng = np.random.Generator(np.random.PCG64(seed))
    if mode == "original":
        perm = original_permutation(n)
        cut = int(ORIGINAL_TRAIN_FRACTION * n)
        val = np.sort(perm[cut:])
        rest = np.sort(perm[:cut])
    else:
        rest_mask = ~_pick_groups(groups, np.arange(n), valence, arousal, val_fraction, stratify_grid, rng)
        val = np.flatnonzero(~rest_mask)
        rest = np.flatnonzero(rest_mask)
    dev_mask = _pick_groups(groups, rest, valence, arousal, dev_fraction, stratify_grid, rng)
    dev = rest[dev_mask[rest]] if dev_fraction > 0 else rest[:0]
    train = np.setdiff1d(rest, dev)
    return {"train": train.tolist(), "dev": np.sort(dev).tolist(), "val": val.tolist()}


def _check_args(
    n: int, valence: np.ndarray, arousal: np.ndarray, val_fraction: float, dev_fraction: float,
    mode: str, stratify_grid: int | None,
) -> None:
    if mode not in SPLIT_MODES:
        raise EmosteerError(f"split: unknown mode {mode!r}; expected one of {SPLIT_MODES}")
    if n < 2:
        raise EmosteerError(f"split: need at least 2 rows, got {n}")
    if valence.size != n or arousal.size != n:
        raise EmosteerError(f"split: {n} names but {valence.size} valence, {arousal.size} arousal")
    if not 0.0 < val_fraction < 1.0:
        raise EmosteerError(f"split: val_fraction must be in (0, 1), got {val_fraction}")
    if not 0.0 <= dev_fraction < 1.0:
        raise EmosteerError(f"split: dev_fraction must be in [0, 1), got {dev_fraction}")
    if stratify_grid is not None and (isinstance(stratify_grid, bool) or not isinstance(stratify_grid, int)
                                      or stratify_grid < 2):
        raise EmosteerError(f"split: stratify_grid must be an integer >= 2 or None, got {stratify_grid!r}")


def _pick_groups(
    groups: np.ndarray, rows: np.ndarray, valence: np.ndarray, arousal: np.ndarray,
    fraction: float, stratify_grid: int | None, rng: np.random.Generator,
) -> np.ndarray:
    """Boolean mask over all rows: the rows of the groups chosen from `rows` (a fraction of them).

    Groups are counted, not rows, so equal-length segments keep the row fraction; groups are taken
    in sorted order before shuffling, so the result depends only on the names and the seed.
    """
    mask = np.zeros(groups.size, dtype=bool)
    present = np.unique(groups[rows])
    if fraction <= 0 or present.size == 0:
        return mask
    strata = _strata(groups, rows, present, valence, arousal, stratify_grid)
    quotas = _quotas(np.bincount(strata), fraction, present.size)
    chosen: list[np.ndarray] = []
    for s, quota in enumerate(quotas):
        members = present[strata == s]
        chosen.append(rng.permutation(members)[:quota])
    picked = np.concatenate(chosen) if chosen else present[:0]
    mask[rows] = np.isin(groups[rows], picked)
    return mask


def _strata(
    groups: np.ndarray, rows: np.ndarray, present: np.ndarray, valence: np.ndarray,
    arousal: np.ndarray, grid: int | None,
) -> np.ndarray:
    """Stratum of each present group: the flat G x G bin of its mean label (0 if unstratified)."""
    if grid is None:
        return np.zeros(present.size, dtype=np.int64)
    pos = np.searchsorted(present, groups[rows])
    counts = np.bincount(pos, minlength=present.size)
    mean_v = np.bincount(pos, weights=valence[rows], minlength=present.size) / counts
    mean_a = np.bincount(pos, weights=arousal[rows], minlength=present.size) / counts
    return Grid(grid).bin_index(mean_v, mean_a, where="split: mean label of a clip")


def _quotas(sizes: np.ndarray, fraction: float, total: int) -> np.ndarray:
    """Largest-remainder allocation of round(fraction * total) groups over strata.

    At least one group is picked and at least one is left when there are two or more.
    """
    target = int(round(fraction * total))
    if total >= 2:
        target = min(max(target, 1), total - 1)
    exact = sizes * target / total
    base = np.minimum(np.floor(exact).astype(np.int64), sizes)
    short = target - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    for s in order:
        if short <= 0:
            break
        if base[s] < sizes[s]:
            base[s] += 1
            short -= 1
    return base


def write_split(
    path: str | Path, split: Mapping[str, Sequence[int]], names: Sequence[str], meta: Mapping[str, Any]
) -> None:
    """JSON with the indices, the names of each part, counts and the parameters; atomic."""
    path = Path(path)
    doc = {
        "n": len(names),
        "counts": {part: len(split[part]) for part in PARTS},
        "params": dict(meta),
        **{part: [int(i) for i in split[part]] for part in PARTS},
        "names": {part: [names[int(i)] for i in split[part]] for part in PARTS},
    }
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def read_parts(path: str | Path, n: int) -> dict[str, np.ndarray]:
    """`read_split` as int64 index arrays (train, dev, val), ready for fancy indexing."""
    return {k: np.asarray(v, dtype=np.int64) for k, v in read_split(path, n).items()}


def read_split(path: str | Path, n: int) -> dict[str, list[int]]:
    """Indices of each part, checked: integers in [0, n), no repeats, disjoint, covering all rows."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EmosteerError(f"{path}: no such file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmosteerError(f"{path}: not a JSON split file ({exc})") from exc
    except RecursionError as exc:
        raise EmosteerError(f"{path}: not a JSON split file (nested too deeply)") from exc
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise EmosteerError(f"{path}: not a JSON split file (top level is not an object)")
    if "n" in doc and doc["n"] != n:
        raise EmosteerError(f"{path}: key 'n': split made for {doc['n']} rows, features have {n}")
    owner: dict[int, str] = {}
    out: dict[str, list[int]] = {}
    for part in PARTS:
        values = doc.get(part)
        if not isinstance(values, list):
            raise EmosteerError(f"{path}: key '{part}': missing or not a list")
        for pos, i in enumerate(values):
            if not isinstance(i, int) or isinstance(i, bool):
                raise EmosteerError(f"{path}: key '{part}': {i!r} is not an integer at index {pos}")
            if not 0 <= i < n:
                raise EmosteerError(f"{path}: key '{part}': row {i} out of range [0, {n}) at index {pos}")
            if i in owner:
                raise EmosteerError(f"{path}: key '{part}': row {i} already in '{owner[i]}' at index {pos}")
            owner[i] = part
        out[part] = list(values)
    if len(owner) != n:
        missing = min(set(range(n)) - set(owner))
        raise EmosteerError(f"{path}: split does not cover row {missing} (first missing index)")
    return out
