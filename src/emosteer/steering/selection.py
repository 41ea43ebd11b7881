"""Which steering signal each clip gets: categorical, inverse-distance and bilinear selection, and controls.

Selection mode is the caller's choice of which (v, a) to pass in — every function here takes them:

- ``oracle``: the clip's TRUE labels. This is the report's protocol (ORIGINAL.md §e, §h.2); it
  uses the answer, so it is an upper bound on what steering could do, never a deployable result.
- ``predicted``: the model's own UNSTEERED prediction for the clip. This works on new audio.
  Predictions can leave [-1, 1]; pass them through `clip_unit` first (the grid refuses values
  outside [-1, 1] rather than guess).

Controls tell a bin-specific gain from a generic modulation effect: `shuffled` steers with a
seeded random permutation of the populated bins' signals, `global_mean` with the mean over all
training clips. Everything is vectorised over clips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from emosteer.constants import IDW_EPS
from emosteer.errors import EmosteerError
from emosteer.grid import Grid, check_unit_interval
from emosteer.steering.signals import SignalTable

Steer = tuple[np.ndarray, np.ndarray]


def clip_unit(x: np.ndarray) -> np.ndarray:
    """Clip predictions to [-1, 1] (float64) before binning; NaN is an error, not a bin.

    A prediction of 1.07 is "very positive" to any reader; clipping puts it in the outer bin,
    which is what `predicted` selection should do with it.
    """
    arr = np.asarray(x, dtype=np.float64)
    nan = np.isnan(arr)
    if nan.any():
        i = int(np.argmax(nan.ravel()))
        raise EmosteerError(f"selection: prediction [{i}] is NaN")
    return np.clip(arr, -1.0, 1.0)


def bins_for(grid: Grid, v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(N,) flat bin index of each (v, a), by the grid's one boundary rule."""
    return grid.bin_index(v, a, where="selection")


def categorical(table: SignalTable, v: np.ndarray, a: np.ndarray) -> Steer:
    """(N,128) x2: the fallback-resolved signal of the bin of (v, a)."""
    flat = bins_for(table.grid, v, a)
    return table.valence[flat], table.arousal[flat]


def idw_weights(points: np.ndarray, query: np.ndarray, eps: float = IDW_EPS) -> np.ndarray:
    """(N, K) weights w_c = 1 / (d_c + eps), d_c = ||query - points_c||, normalised to sum 1 per row.

    No special case for an exact hit. The original set w = 1.0 when d < 1e-6 (ORIGINAL.md §e),
    which gave the bin the query sits on LESS weight (1.0) than it gets from the formula at d = 0
    (1/eps = 10): a defect, not a design.
    """
    pts = np.asarray(points, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise EmosteerError(f"selection: points must be (K, 2) with K >= 1, got {pts.shape}")
    if q.ndim != 2 or q.shape[1] != 2:
        raise EmosteerError(f"selection: query must be (N, 2), got {q.shape}")
    if not eps > 0:
        raise EmosteerError(f"selection: eps must be > 0, got {eps}")
    d = np.sqrt(((q[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2))
    w = 1.0 / (d + eps)
    return w / w.sum(axis=1, keepdims=True)


def _query(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    vv = check_unit_interval(np.atleast_1d(v), "valence", "selection")
    aa = check_unit_interval(np.atleast_1d(a), "arousal", "selection")
    if vv.shape != aa.shape:
        raise EmosteerError(f"selection: valence shape {vv.shape} != arousal shape {aa.shape}")
    return np.stack([vv, aa], axis=1)


def idw(table: SignalTable, v: np.ndarray, a: np.ndarray, eps: float = IDW_EPS) -> Steer:
    """(N,128) x2: inverse-distance blend over the POPULATED bin centres and their own means.

    Bins that fell back are left out: their row is a copy of another bin's mean, and counting it
    at its own centre would pull that mean toward places it was never measured.
    """
    q = _query(v, a)
    keep = table.populated
    w = idw_weights(table.grid.centre_points()[keep], q, eps)
    steer_v = (w @ table.valence[keep].astype(np.float64)).astype(np.float32)
    steer_a = (w @ table.arousal[keep].astype(np.float64)).astype(np.float32)
    return steer_v, steer_a


def bilinear_weights(grid: Grid, v: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flat (N,4), weights (N,4)) for bilinear interpolation between the four surrounding centres.

    Per axis, t = (x + 1) * G / 2 - 1/2 is the position in centre units (centre i at t = i); it is
    clamped to [0, G-1], so in the outer half-bins the value is the edge centre's (no
    extrapolation). Corners are (i0, j0), (i0, j0+1), (i0+1, j0), (i0+1, j0+1).
    """
    q = _query(v, a)
    g = grid.size
    t = np.clip((q + 1.0) * (g / 2.0) - 0.5, 0.0, g - 1.0)  # (N, 2)
    i0 = np.minimum(np.floor(t).astype(np.int64), g - 2)
    f = t - i0
    iv, ia = i0[:, 0], i0[:, 1]
    fv, fa = f[:, 0], f[:, 1]
    flat = np.stack([iv * g + ia, iv * g + ia + 1, (iv + 1) * g + ia, (iv + 1) * g + ia + 1], axis=1)
    w = np.stack([(1 - fv) * (1 - fa), (1 - fv) * fa, fv * (1 - fa), fv * fa], axis=1)
    return flat, w


def bilinear(table: SignalTable, v: np.ndarray, a: np.ndarray) -> Steer:
    """(N,128) x2: bilinear interpolation of the fallback-resolved table."""
    flat, w = bilinear_weights(table.grid, v, a)
    steer_v = np.einsum("nk,nkd->nd", w, table.valence[flat].astype(np.float64)).astype(np.float32)
    steer_a = np.einsum("nk,nkd->nd", w, table.arousal[flat].astype(np.float64)).astype(np.float32)
    return steer_v, steer_a


# The point of the valence-arousal square each selection's signal stands for, (N, 2): the same
# weights over the bin centres that the signal takes over the bins' means. A "fusion" of the
# unsteered prediction with the bin moves the prediction toward this point.


def categorical_target(table: SignalTable, v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(N, 2): the centre of the bin whose signal `categorical` uses: the bin of (v, a), or the
    populated bin it falls back to (`SignalTable.source`)."""
    return table.grid.centre_points()[table.source[bins_for(table.grid, v, a)]]


def idw_target(table: SignalTable, v: np.ndarray, a: np.ndarray, eps: float = IDW_EPS) -> np.ndarray:
    """(N, 2): the populated bins' centres, weighted as `idw` weights their means."""
    centres = table.grid.centre_points()[table.populated]
    return idw_weights(centres, _query(v, a), eps) @ centres


def bilinear_target(table: SignalTable, v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(N, 2): the centres of the four surrounding bins' signals (each resolved to the populated bin
    it falls back to, as `bilinear` resolves them), weighted as `bilinear` weights them (the point
    itself inside the square of the outer centres when all four are populated)."""
    flat, w = bilinear_weights(table.grid, v, a)
    return np.einsum("nk,nkd->nd", w, table.grid.centre_points()[table.source[flat]])


METHODS: dict[str, Callable[[SignalTable, np.ndarray, np.ndarray], Steer]] = {
    "categorical": categorical,
    "idw": idw,
    "bilinear": bilinear,
}


def select(table: SignalTable, v: np.ndarray, a: np.ndarray, method: str) -> Steer:
    """Dispatch to `categorical`, `idw` or `bilinear` by name."""
    if method not in METHODS:
        raise EmosteerError(f"selection: unknown method {method!r}; expected one of {sorted(METHODS)}")
    return METHODS[method](table, v, a)


def bin_permutation(table: SignalTable, seed: int) -> np.ndarray:
    """(K,) int64 map from each bin to the populated bin whose mean the shuffled control uses.

    Rule: P = the populated flat indices in increasing order (m of them); perm =
    Generator(PCG64(seed)).permutation(m); populated bin P[i] maps to P[perm[i]]; a bin that fell
    back maps where its fallback target maps. So the control never uses an empty bin and is a
    bijection on the populated bins (a random permutation can leave some bins fixed).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EmosteerError(f"selection: seed must be a non-negative integer, got {seed!r}")
    populated = np.flatnonzero(table.populated)
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(len(populated))
    rank = np.full(table.grid.n_bins, -1, dtype=np.int64)
    rank[populated] = np.arange(len(populated))
    return populated[perm[rank[table.source]]].astype(np.int64)


def permuted(table: SignalTable, seed: int) -> SignalTable:
    """The table with each bin's signal replaced by that of its shuffled bin (see `bin_permutation`).

    Counts stay with the bins, so the same bins are populated and `idw`/`bilinear` on the result
    blend the same centres with shuffled signals.
    """
    target = bin_permutation(table, seed)
    # a populated bin's own mean is its row; fallback rows already equal their target's row
    return replace(
        table,
        valence=table.valence[target].copy(),
        arousal=table.arousal[target].copy(),
        source=table.source.copy(),  # row k still equals row source[k]: the fallback structure is kept
    )


def shuffled(table: SignalTable, v: np.ndarray, a: np.ndarray, seed: int, method: str = "categorical") -> Steer:
    """Control: steer each clip with `method` over the bin-permuted table (seeded)."""
    return select(permuted(table, seed), v, a, method)


def global_mean(table: SignalTable, n: int) -> Steer:
    """Control: (n,128) x2 copies of the mean activation over all training clips."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise EmosteerError(f"selection: n must be a non-negative integer, got {n!r}")
    return np.tile(table.global_valence, (n, 1)), np.tile(table.global_arousal, (n, 1))
