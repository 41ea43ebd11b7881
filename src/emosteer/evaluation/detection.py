"""Bin detection: how often the model's own bin is the clip's true bin, and what that costs steering.

`predicted` steering bins a clip by the model's unsteered prediction (clipped to [-1, 1]), `oracle`
by its true label; where the two bins agree, both steer with the same signal. So detection caps
deployable steering, and three measures say by how much (docs/statistics.md, "Bin detection"):

- accuracy: the share of a seed's validation clips whose predicted bin is the true bin (joint, and
  per axis), and the confusion of true and predicted bins;
- decomposition: a variant's change in mean absolute error (steered - unsteered) on the clips the
  model bins right and on those it bins wrong;
- the break-even curve: the model's own bins with a growing share q of its wrong bins repaired
  (given the true bin), both steered at the oracle's strength; Δr against the joint accuracy
  a + q(1 - a), and the accuracy p* where the pooled curve (or its lower bound) crosses 0.

Everything here is a function of arrays; `deployable` runs it per seed and pools with the verdict
procedure. The repair order is seeded per seed, apart from every other draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emosteer.errors import EmosteerError
from emosteer.evaluation import stats
from emosteer.grid import Grid
from emosteer.steering.selection import clip_unit

AXES = ("joint", "valence", "arousal")  # what "right bin" means: both axes, or one


def bins(
    grid: Grid, valence: np.ndarray, arousal: np.ndarray, pred_valence: np.ndarray, pred_arousal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) flat bins (n,): the labels' bin, and the bin of the clipped prediction
    (what `predicted` selection steers with)."""
    return (
        grid.bin_index(valence, arousal, where="labels"),
        grid.bin_index(clip_unit(pred_valence), clip_unit(pred_arousal), where="predictions"),
    )


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
        raise EmosteerError(
            f"break-even: need >= 2 decreasing accuracies with a bound each, got {ps.tolist()} and {lo.tolist()}"
        )
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


# --- Break-even from the model's own errors -------------------------------------------------------
# An earlier curve drew a clip's wrong bin from its true bin's row of the confusion, independently of
# the clip: a noisy oracle whose wrong bins sit next to the truth. This one starts from the model's
# own bins instead and repairs a growing share q of the clips it bins wrong,
# so every point mixes only two real predictions: the model's bin (where it is left wrong) and the
# true bin (where it is right or repaired), steered at one strength.

REPAIR_STREAM = 23  # repair order: PCG64([REPAIR_STREAM, seed]), apart from every other draw
Q_STEP = 0.05
Q_GRID = tuple(round(1.0 - k * Q_STEP, 2) for k in range(int(round(1 / Q_STEP)) + 1))  # 1.0 .. 0.0


def repaired_accuracy(accuracy: float | np.ndarray, q: float | np.ndarray) -> float | np.ndarray:
    """Joint accuracy after the true bin replaces the model's on a share q of its wrong clips:
    a + q (1 - a) (the right clips stay right; a share q of the 1 - a wrong ones become right)."""
    return accuracy + q * (1 - accuracy)


@dataclass(frozen=True)
class Repair:
    """One seed's repair order: the model's bin is right on `right`; its wrong clips are repaired in
    the order of `rank` (0 first; -1 on right clips), so the repaired sets are nested in q and the
    share is exact up to rounding: round(q * n_wrong) clips at q."""

    right: np.ndarray  # (n,) bool
    rank: np.ndarray  # (n,) int

    @property
    def n_wrong(self) -> int:
        return int((~self.right).sum())

    def repaired(self, q: float) -> np.ndarray:
        """(n,) bool: the wrong clips that get their true bin at share q."""
        if not 0.0 <= q <= 1.0:
            raise EmosteerError(f"break-even: a share of wrong clips must be in [0, 1], got {q}")
        return ~self.right & (self.rank < int(round(q * self.n_wrong)))

    def accuracy(self, q: float) -> float:
        """The realised joint accuracy at q (a + q (1 - a) up to one clip's rounding)."""
        return float((self.right | self.repaired(q)).mean())

    def steered(self, q: float, oracle: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """The curve's prediction at q, a lookup: the oracle-bin prediction where the bin is right
        or repaired (a right clip's own bin is its true bin, so both steer alike there), the
        model's-bin prediction elsewhere; both at the same strength."""
        return np.where(self.right | self.repaired(q), oracle, predicted)


def repair(true: np.ndarray, predicted: np.ndarray, seed: int) -> Repair:
    """The seed's repair order: a random permutation of its wrong clips from
    PCG64([REPAIR_STREAM, seed])."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.shape != predicted.shape or true.ndim != 1:
        raise EmosteerError(f"break-even: {true.shape} true bins for {predicted.shape} predicted")
    right = true == predicted
    wrong = np.flatnonzero(~right)
    rank = np.full(len(true), -1, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64([REPAIR_STREAM, seed]))
    rank[wrong[rng.permutation(len(wrong))]] = np.arange(len(wrong))
    return Repair(right=right, rank=rank)


def repair_curve(
    y: np.ndarray,
    base: np.ndarray,
    oracle: np.ndarray,
    predicted: np.ndarray,
    rep: Repair,
    qs: Sequence[float] = Q_GRID,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One seed's curve: at each q of `qs`, Δr = r(y, rep.steered(q)) - r(y, base), its jackknife
    variance (`stats.jackknife_delta_r`, for `verdicts.estimate`) and the realised accuracy."""
    steered = np.stack([rep.steered(q, oracle, predicted) for q in qs])
    delta, var = stats.jackknife_delta_r(y, base, steered)
    return delta, var, np.array([rep.accuracy(q) for q in qs])


@dataclass(frozen=True)
class BreakEvenAccuracy:
    """p*, as joint accuracy, read from the pooled repair curve: where its estimate crosses 0
    (`estimate`) and where its lower bound does (`bound`, the accuracy at which the gain is
    established). Each with the curve's status (`break_even`): `crossed`; `never_above` (even the
    oracle end, every bin right, is not above 0: p* NaN); `above_everywhere` (the model's own bins
    are already above 0: p* is the model's accuracy, an upper bound on the true break-even)."""

    estimate: float
    estimate_status: str
    bound: float
    bound_status: str


def break_even_accuracy(
    qs: Sequence[float], mean: Sequence[float], lo: Sequence[float], accuracy: float
) -> BreakEvenAccuracy:
    """p* on the repair curve (`qs` decreasing from 1), mapped from the share q* of wrong clips
    repaired to joint accuracy a + q* (1 - a), a = the model's pooled joint accuracy."""
    at_mean, at_lo = break_even(qs, mean), break_even(qs, lo)
    return BreakEvenAccuracy(
        float(repaired_accuracy(accuracy, at_mean.p_star)),
        at_mean.status,
        float(repaired_accuracy(accuracy, at_lo.p_star)),
        at_lo.status,
    )


GROUPS = ("right", "wrong", "all")  # the decomposition's rows: the two groups add up to the last


# --- The decomposition's "all clips" row --------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One group's change in mean |error| (steered - unsteered) over its clips, its share of the
    clips, and its contribution share x change (0 for an empty group) with the jackknife
    variances of change and contribution. The groups' contributions add up to the `all` row's
    change (for one seed exactly; pooled over seeds, as means of per-seed values, too)."""

    change: float
    change_var: float
    share: float
    contribution: float
    contribution_var: float


def decompose(y: np.ndarray, base: np.ndarray, new: np.ndarray, right: np.ndarray) -> dict[str, Part]:
    """`right`, `wrong` and `all` clips' Parts for one seed: d_i = |new_i - y_i| - |base_i - y_i|;
    a group's change is the mean of d over it, its contribution the sum of d over it / n."""
    y, base, new = (np.asarray(a, dtype=np.float64) for a in (y, base, new))
    d = np.abs(new - y) - np.abs(base - y)
    mask = np.asarray(right, dtype=bool)
    if mask.shape != d.shape:
        raise EmosteerError(f"decomposition: {mask.shape} right/wrong flags for {d.shape} clips")
    out = {}
    for group, g in zip(GROUPS, (mask, ~mask, np.ones_like(mask))):
        change, change_var = stats.jackknife_ratio(d, g.astype(np.float64))
        contribution, contribution_var = stats.jackknife_ratio(np.where(g, d, 0.0), np.ones(len(d)))
        out[group] = Part(
            float(change), float(change_var), float(g.mean()), float(contribution), float(contribution_var)
        )
    return out
