"""Bin detection: how often the model's own bin is the clip's true bin, and what that costs steering.

`predicted` steering bins a clip by the model's unsteered prediction (clipped to [-1, 1]), `oracle`
by its true label; where the two bins agree, both steer with the same signal. So detection caps
deployable steering, and three measures say by how much (docs/statistics.md, "Bin detection"):

- accuracy: the share of a seed's validation clips whose predicted bin is the true bin (joint, and
  per axis), and the confusion of true and predicted bins;
- decomposition: a variant's change in mean absolute error (steered - unsteered) on the clips the
  model bins right and on those it bins wrong;
- the break-even curve: oracle steering whose true bin is replaced, on a random share 1 - p of the
  clips, by a wrong bin drawn the way the model errs; Δr against p, and the accuracy p* where the
  curve's CI reaches 0.

Everything here is a function of arrays; `deployable` runs it per seed and pools with
`pooling.pool`. The corruption draws are seeded per seed, apart from every other draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.steering.selection import clip_unit

AXES = ("joint", "valence", "arousal")  # what "right bin" means: both axes, or one
P_STEP = 0.05
P_GRID = tuple(round(1.0 - k * P_STEP, 2) for k in range(int(round(1 / P_STEP)) + 1))  # 1.0 .. 0.0
CORRUPTION_STREAM = 22  # corruption draws: PCG64([CORRUPTION_STREAM, seed]), apart from other draws


def bins(grid: Grid, valence: np.ndarray, arousal: np.ndarray, pred_valence: np.ndarray,
         pred_arousal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) flat bins (n,): the labels' bin, and the bin of the clipped prediction
    (what `predicted` selection steers with)."""
    return (grid.bin_index(valence, arousal, where="labels"),
            grid.bin_index(clip_unit(pred_valence), clip_unit(pred_arousal), where="predictions"))


def hits(grid: Grid, true: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Per clip, whether the predicted bin is right: `joint` (both axes), `valence`, `arousal`."""
    tv, ta = grid.bin_coords(true)
    pv, pa = grid.bin_coords(predicted)
    return {"joint": true == predicted, "valence": tv == pv, "arousal": ta == pa}


def confusion(grid: Grid, true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(K, K) counts: row = true bin, column = predicted bin."""
    for flat in (true, predicted):
        grid.bin_coords(flat)  # range check, naming the first bad index
    k = grid.n_bins
    return np.bincount(np.asarray(true) * k + np.asarray(predicted), minlength=k * k).reshape(k, k)


def error_model(grid: Grid, true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(K, K) row-stochastic, zero diagonal: where the model puts a clip of true bin t when it errs.

    Row t is the off-diagonal part of the confusion's row t, normalised. A true bin the model never
    errs on (or never sees) has no such row; it errs the way the model errs elsewhere: by the
    displacements (dvi, dai) of all wrong clips, counted, kept where t + displacement is on the
    grid. A model that never errs gives every wrong bin the same chance.
    """
    counts = confusion(grid, true, predicted).astype(np.float64)
    np.fill_diagonal(counts, 0.0)
    k, g = grid.n_bins, grid.size
    shifts: dict[tuple[int, int], float] = {}
    for t, q in zip(*np.nonzero(counts)):
        key = (int(q // g - t // g), int(q % g - t % g))
        shifts[key] = shifts.get(key, 0.0) + counts[t, q]
    out = np.zeros((k, k))
    for t in range(k):
        row = counts[t]
        if row.sum() == 0:
            for (dv, da), w in shifts.items():
                vi, ai = t // g + dv, t % g + da
                if 0 <= vi < g and 0 <= ai < g:
                    row[vi * g + ai] += w
        if row.sum() == 0:
            row = np.ones(k)
            row[t] = 0.0
        out[t] = row / row.sum()
    return out


@dataclass(frozen=True)
class Corruption:
    """One seed's corruption of its clips' true bins: clip i keeps its true bin at accuracy p when
    u[i] < p, and otherwise takes wrong[i] (never its true bin). The sets are nested in p, and each
    clip's (u, wrong) travels with it when clips are resampled."""

    u: np.ndarray  # (n,) uniform on [0, 1)
    wrong: np.ndarray  # (n,) flat bin drawn from error_model's row of the clip's true bin

    def kept(self, p: float) -> np.ndarray:
        """(n,) bool: the clips that keep their true bin at accuracy p (expected share p)."""
        return self.u < p

    def bins(self, true: np.ndarray, p: float) -> np.ndarray:
        """The corrupted bins at accuracy p."""
        return np.where(self.kept(p), true, self.wrong)


def corruption(grid: Grid, true: np.ndarray, predicted: np.ndarray, seed: int) -> Corruption:
    """The seed's draws: u[i], then wrong[i] by inverse CDF from error_model(true, predicted)."""
    q = error_model(grid, true, predicted)
    rng = np.random.Generator(np.random.PCG64([CORRUPTION_STREAM, seed]))
    u = rng.random(len(true))
    cdf = np.cumsum(q[true], axis=1)
    r = rng.random(len(true))[:, None] * cdf[:, -1:]
    return Corruption(u=u, wrong=np.argmax(r < cdf, axis=1))


def error_change(y: np.ndarray, base: np.ndarray, new: np.ndarray, group: np.ndarray,
                 bank: np.ndarray) -> tuple[float, np.ndarray]:
    """Change in mean absolute error (steered - unsteered) over the clips in `group` (bool (n,)):
    observed, and on each resample of `bank` (its rows' clips that fall in the group). NaN where
    the group is empty. Negative = steering brought those predictions closer to the labels."""
    y, base, new = (np.asarray(a, dtype=np.float64) for a in (y, base, new))
    d = np.abs(new - y) - np.abs(base - y)
    g = np.asarray(group, dtype=bool)
    observed = float(d[g].mean()) if g.any() else float("nan")
    counts = g[bank].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(g, d, 0.0)[bank].sum(axis=1) / counts
    return observed, np.where(counts > 0, reps, np.nan)


@dataclass(frozen=True)
class BreakEven:
    """Where a curve's lower CI bound first reaches 0, scanning down from p = 1.

    p_star: the accuracy where the lower bound, linearly interpolated between the grid's last
    point above 0 and the next one, equals 0; status `crossed`. `never_above` (p_star NaN): even
    p = 1 (oracle steering) has a lower bound <= 0. `above_everywhere` (p_star = the grid's lowest
    p): the bound stays above 0 down to there."""

    p_star: float
    status: str


def break_even(ps: Sequence[float], lo: Sequence[float]) -> BreakEven:
    """p* from the grid `ps` (strictly decreasing, from 1) and the lower CI bounds `lo` there."""
    ps, lo = np.asarray(ps, dtype=np.float64), np.asarray(lo, dtype=np.float64)
    if ps.ndim != 1 or ps.shape != lo.shape or len(ps) < 2 or not (np.diff(ps) < 0).all():
        raise EmosteerError(f"break-even: need >= 2 decreasing accuracies with a bound each, got "
                            f"{ps.tolist()} and {lo.tolist()}")
    above = np.nan_to_num(lo, nan=-np.inf) > 0
    if not above[0]:
        return BreakEven(float("nan"), "never_above")
    if above.all():
        return BreakEven(float(ps[-1]), "above_everywhere")
    j = int(np.argmin(above))  # first point at or below 0
    if not np.isfinite(lo[j]):
        return BreakEven(float(ps[j - 1]), "crossed")
    frac = lo[j - 1] / (lo[j - 1] - lo[j])
    return BreakEven(float(ps[j - 1] - frac * (ps[j - 1] - ps[j])), "crossed")


def interpolate(ps: Sequence[float], values: Sequence[float], p: float) -> float:
    """A curve over decreasing `ps` read at p by linear interpolation (NaN outside the grid)."""
    ps, values = np.asarray(ps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if not ps[-1] <= p <= ps[0]:
        return float("nan")
    return float(np.interp(p, ps[::-1], values[::-1]))
