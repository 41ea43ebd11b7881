"""Train / dev / val split that never separates the segments of one clip.

`val` is the evaluation set (only ever used to report); `dev` is a held-out part of the remaining
training clips (picks the steering strength; dev r is logged per epoch); `train` is the rest and
the only source of steering signals. A group is the name before a `_seg<i>` suffix, so every
segment of a clip lands on the same side of every cut. A groups table (`data.groups`: rows
`clip,group`, `read_groups`) joins clips into larger groups, e.g. a mixed clip and the clips it was
mixed from; a clip listed under two groups joins them (connected components).

mode "original" reproduces ORIGINAL.md §e for comparison with the report: the permutation of
``np.random.seed(42); np.random.shuffle(np.arange(N))`` (drawn from a private RandomState(42), which
gives the same permutation without touching NumPy's global state), first int(0.7 N) rows train,
the rest val -- at row level, as the original did, so segments may straddle that cut. With a groups
table the cut is made on groups taken in the order of their first row in that permutation (one row
per group gives the original's cut exactly). `dev` is then carved from the train part group-wise.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emosteer import jsonsafe
from emosteer.atomic import replacing
from emosteer.constants import SPLIT_MODES
from emosteer.errors import EmosteerError
from emosteer.grid import Grid

PARTS = ("train", "dev", "val")
SEGMENT_SUFFIX = re.compile(r"_seg\d+$")
ORIGINAL_SEED = 42
ORIGINAL_TRAIN_FRACTION = 0.7
GROUPS_HEADER = ["clip", "group"]


def group_of(name: str) -> str:
    """The clip a row belongs to: its name without a trailing `_seg<i>`."""
    return SEGMENT_SUFFIX.sub("", name)


def read_groups(path: str | Path) -> list[tuple[str, str]]:
    """Rows (clip, group) of a groups table: a CSV whose first line is `clip,group`, then one clip
    name (as the data names it: the rating files' file name, or `audio_name`) and one group label
    per line. A clip may appear under several groups; blank lines are skipped."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmosteerError(f"{path}: unreadable groups table ({exc})") from exc
    rows = [(i, [c.strip() for c in row]) for i, row in enumerate(rows) if any(c.strip() for c in row)]
    if not rows or rows[0][1] != GROUPS_HEADER:
        got = ",".join(rows[0][1]) if rows else "nothing"
        raise EmosteerError(
            f"{path}: expected the header line 'clip,group' at index {rows[0][0] if rows else 0}, got {got[:80]!r}"
        )
    out = []
    for i, row in rows[1:]:
        if len(row) != 2:
            raise EmosteerError(f"{path}: expected 2 columns (clip,group), got {len(row)} at index {i}")
        for field, value in zip(GROUPS_HEADER, row):
            if not value:
                raise EmosteerError(f"{path}: field '{field}': empty at index {i}")
        out.append((row[0], row[1]))
    if not out:
        raise EmosteerError(f"{path}: no rows after the header")
    return out


def unmatched(names: Sequence[str], table: Sequence[tuple[str, str]]) -> list[str]:
    """Clips the table names that are not among `names` (as clips: segments count as their clip)."""
    clips = {group_of(n) for n in names}
    return list(dict.fromkeys(c for c, _ in table if c not in clips))


def group_ids(names: Sequence[str], table: Sequence[tuple[str, str]] | None = None) -> np.ndarray:
    """(N,) int64: rows with equal ids must stay together. Segments of a clip share its id; with a
    table, clips listed under one group share an id, transitively (a clip under two groups joins
    them). Ids are ranks of each component's smallest clip name: they depend on the names only."""
    clips = [group_of(n) for n in names]
    parent = {c: c for c in clips}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if table:
        if not set(c for c, _ in table) & set(parent):
            raise EmosteerError(
                f"groups table: none of its {len(table)} clips is among the {len(names)} "
                f"rows' clip names (first: {table[0][0]!r}; the data names clips like "
                f"{clips[0]!r})"
            )
        for clip, label in table:
            if clip not in parent:
                continue
            node = ("group", label)
            parent.setdefault(node, node)
            a, b = root(clip), root(node)
            if a != b:
                parent[b] = a
    smallest: dict[Any, str] = {}
    for c in clips:
        r = root(c)
        smallest[r] = min(smallest.get(r, c), c)
    return np.unique([smallest[root(c)] for c in clips], return_inverse=True)[1].reshape(-1).astype(np.int64)


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
    groups: Sequence[tuple[str, str]] | None = None,
) -> dict[str, list[int]]:
    """Disjoint sorted index lists "train", "dev", "val" covering all rows.

    group mode: a seeded shuffle of groups (optionally stratified by the G x G bin of each group's
    mean label, G = `stratify_grid`, binned by `Grid` as everywhere else) puts
    round(val_fraction * groups) groups in val, then round(dev_fraction * rest) of the remaining
    groups in dev. original mode: val as in ORIGINAL.md §e (`val_fraction` is not
    used), dev carved from the original's train part the same group-wise way. `groups`: a groups
    table (`read_groups`), honoured in both modes (`group_ids`).
    """
    n = len(names)
    valence = np.asarray(valence, dtype=np.float64).reshape(-1)
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    _check_args(n, valence, arousal, val_fraction, dev_fraction, mode, stratify_grid)
    ids = group_ids(names, groups)
    if mode == "group" and ids.max() < 1:
        what = "one group of the groups table" if groups else f"one clip ({group_of(names[0])!r})"
        raise EmosteerError(f"split: all {n} rows belong to {what}; nothing to split")
    rng = np.random.Generator(np.random.PCG64(seed))
    if mode == "original":
        perm = original_permutation(n)
        cut = int(ORIGINAL_TRAIN_FRACTION * n)
        in_val = np.zeros(n, dtype=bool)
        in_val[perm[cut:]] = True
        if groups:
            in_val = _original_by_group(ids, perm, cut)
        val = np.flatnonzero(in_val)
        rest = np.flatnonzero(~in_val)
    else:
        rest_mask = ~_pick_groups(ids, np.arange(n), valence, arousal, val_fraction, stratify_grid, rng)
        val = np.flatnonzero(~rest_mask)
        rest = np.flatnonzero(rest_mask)
    dev_mask = _pick_groups(ids, rest, valence, arousal, dev_fraction, stratify_grid, rng)
    dev = rest[dev_mask[rest]] if dev_fraction > 0 else rest[:0]
    train = np.setdiff1d(rest, dev)
    return {"train": train.tolist(), "dev": np.sort(dev).tolist(), "val": val.tolist()}


def _original_by_group(ids: np.ndarray, perm: np.ndarray, cut: int) -> np.ndarray:
    """The original's cut at group level: groups in the order of their first row in `perm`; a group
    that starts before row `cut` of that order is train, the rest val. With one row per group this
    is exactly perm[:cut] / perm[cut:]; a group straddling the cut goes wholly to train."""
    order = list(dict.fromkeys(int(ids[row]) for row in perm))
    sizes = np.bincount(ids)
    starts = np.concatenate([[0], np.cumsum(sizes[order])[:-1]])
    val_groups = [g for g, start in zip(order, starts) if start >= cut]
    return np.isin(ids, val_groups)


def _check_args(
    n: int,
    valence: np.ndarray,
    arousal: np.ndarray,
    val_fraction: float,
    dev_fraction: float,
    mode: str,
    stratify_grid: int | None,
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
    if stratify_grid is not None and (
        isinstance(stratify_grid, bool) or not isinstance(stratify_grid, int) or stratify_grid < 2
    ):
        raise EmosteerError(f"split: stratify_grid must be an integer >= 2 or None, got {stratify_grid!r}")


def _pick_groups(
    groups: np.ndarray,
    rows: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    fraction: float,
    stratify_grid: int | None,
    rng: np.random.Generator,
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
    groups: np.ndarray,
    rows: np.ndarray,
    present: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    grid: int | None,
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
        doc = jsonsafe.loads(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError as exc:
        raise EmosteerError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
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
