"""Evidence pooled over seeds: the two-level bootstrap of Δr, the pooled strength choice, the verdict.

One seed is one split and one trained model; the seed-to-seed spread of Δr is as large as the
effects under test, so no decision or verdict rests on one seed. For each seed s, Δr_s is
r(y, new) - r(y, base) on its validation clips. The pooled estimate is the mean of Δr_s over seeds;
its 95% CI comes from a two-level bootstrap: draw n seeds with replacement, then, within each drawn
seed, a resample of its clips (paired: the same clip indices for `new` and `base`), and average the
resampled Δr. The rule that turns this into a verdict is written in docs/statistics.md, and so is
the multiple-comparison correction of the verdict family (Holm's step-down on each verdict's
p-value, from Student's t over the per-seed values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from emosteer.bootstrap import resamples
from emosteer.correlation import rowwise_pearson
from emosteer.errors import EmosteerError

LEVEL = 0.95
Z_LEVEL = float(norm.ppf((1 + LEVEL) / 2))  # a LEVEL CI half-width / Z_LEVEL is one SE (1.96)
POOL_SEED = 0  # the seed-level draws; clip-level draws are seeded by each seed itself
VERDICTS = ("helps", "hurts", "none")
# A verdict's error rate: plain per verdict, Holm-corrected per family (0.05, not 1 - 0.95 in floats).
ALPHA = round(1 - LEVEL, 10)
# Below this many seeds the two-level bootstrap has (almost) no seed level: its CI carries only the
# clip sampling of one split and one model, the very one-off whose verdict flipped on another CPU.
MIN_SEEDS = 3


def clip_bank(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) clip indices drawn with replacement: one seed's paired resamples."""
    if n < 2:
        raise EmosteerError(f"pooling: a seed needs >= 2 clips to resample, got {n}")
    return resamples(n, n_boot, seed)


def delta_r(y: np.ndarray, base: np.ndarray, new: np.ndarray, bank: np.ndarray) -> tuple[float, np.ndarray]:
    """Observed Δr and its (n_boot,) resampled values over the rows of `bank` (in float64)."""
    y, base, new = (np.asarray(a, dtype=np.float64) for a in (y, base, new))
    observed = float(rowwise_pearson(y[None], new[None])[0] - rowwise_pearson(y[None], base[None])[0])
    ys = y[bank]
    return observed, rowwise_pearson(ys, new[bank]) - rowwise_pearson(ys, base[bank])


@dataclass(frozen=True)
class Pooled:
    """Mean over seeds, its two-level bootstrap CI, the per-seed values and their sign agreement."""

    mean: float
    lo: float
    hi: float
    per_seed: list[float]

    @property
    def sign_agreement(self) -> int:
        """How many seeds have the sign of the pooled mean (0 when the mean is 0 or undefined)."""
        sign = np.sign(self.mean)
        return int(sum(np.sign(v) == sign for v in self.per_seed)) if sign != 0 else 0


def pool(observed: Sequence[float], replicates: Sequence[np.ndarray], n_boot: int) -> Pooled:
    """Two-level bootstrap: seeds with replacement, then one clip resample within each drawn seed."""
    if len(observed) != len(replicates) or not observed:
        raise EmosteerError(f"pooling: {len(observed)} observed values for {len(replicates)} seeds")
    table = np.stack([np.asarray(r, dtype=np.float64) for r in replicates])  # (S, B)
    n_seeds, bank = table.shape
    rng = np.random.Generator(np.random.PCG64(POOL_SEED))
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    rows = rng.integers(0, bank, size=(n_boot, n_seeds))
    samples = table[seeds, rows].mean(axis=1)
    if np.isnan(samples).any():
        lo = hi = float("nan")
    else:
        lo, hi = (float(q) for q in np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]))
    return Pooled(mean=float(np.mean(observed)), lo=lo, hi=hi, per_seed=[float(v) for v in observed])


def verdict(dr: Pooled, dr_vs_global_mean: Pooled | None) -> str:
    """`helps` only if both CIs (vs unsteered, vs the global-mean control) exclude 0 above;
    `hurts` if the CI vs unsteered excludes 0 below; otherwise `none` (NaN bounds give `none`).
    With fewer than MIN_SEEDS seeds there is no verdict: `none`. `dr_vs_global_mean` None: the
    row has no such control (the feedback row: no bin to be specific about), so `helps` needs the
    CI vs unsteered alone."""
    if len(dr.per_seed) < MIN_SEEDS:
        return "none"
    if dr.hi < 0:
        return "hurts"
    if dr.lo > 0 and (dr_vs_global_mean is None or dr_vs_global_mean.lo > 0):
        return "helps"
    return "none"


@dataclass(frozen=True)
class Sides:
    """One-sided p-values of a pooled mean over seeds: `above` for "the mean is > 0", `below` for
    "< 0". From Student's one-sample t over the per-seed values (`seed_sides`)."""

    above: float
    below: float


def seed_sides(per_seed: Sequence[float]) -> Sides:
    """One-sided p-values of the mean of the per-seed values: t = mean / (sd / sqrt(S)) on S - 1
    degrees of freedom (Student 1908). Exact only for seeds that are independent draws of their
    clips; the pipeline's seeds re-split one clip set and share clips, which this t does not see
    (on simulated re-split tables it calls well over 5% of null verdicts at 5%:
    tests/test_verdicts.py); `verdicts.estimate` is the procedure for them (docs/statistics.md).
    Zero spread: certainty in the mean's direction; fewer than 2 seeds or a NaN: no evidence."""
    x = np.asarray(per_seed, dtype=np.float64)
    if len(x) < 2 or np.isnan(x).any():
        return Sides(1.0, 1.0)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0.0:
        return Sides(0.0 if mean > 0 else 1.0, 0.0 if mean < 0 else 1.0)
    t = mean / (sd / np.sqrt(len(x)))
    return Sides(float(student_t.sf(t, len(x) - 1)), float(student_t.cdf(t, len(x) - 1)))


def verdict_p(dr: Sides, dr_vs_global_mean: Sides | None) -> float:
    """The two-sided p-value of a verdict row: the smallest error rate at which a test of its
    call (`hurts` or `helps`) rejects.

    hurts: 2 * dr.below. helps: 2 * max(dr.above, dr_vs_global_mean.above), the intersection-union
    p-value (Berger 1982): `helps` needs both comparisons, so its p is the larger of the two. The
    doubling makes each call a two-sided test (the plain rule's 95% CI puts 2.5% in each tail)."""
    helps = dr.above if dr_vs_global_mean is None else max(dr.above, dr_vs_global_mean.above)
    return float(min(1.0, 2 * dr.below, 2 * helps))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values: sorted ascending p_(1) <= ... <= p_(m),
    adjusted p_(j) = max over i <= j of min(1, (m - i + 1) p_(i)), in the input order. Rejecting
    where the adjusted p < alpha keeps the family-wise error rate <= alpha under any dependence
    between the tests. NaN counts as 1 (a test that cannot reject)."""
    p = np.nan_to_num(np.asarray(p_values, dtype=np.float64), nan=1.0)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(stepped)
    return out


def corrected(plain: str, adjusted_p: float) -> str:
    """The corrected verdict: the plain one where the family's adjusted p is below ALPHA, else
    `none`. It can only withdraw a call, never make one the plain rule did not."""
    return plain if adjusted_p < ALPHA else "none"


def pick_pooled(sizes: Sequence[float], curve: Sequence[Pooled]) -> int:
    """Index of the chosen strength: the gentlest whose pooled dev score is within one standard
    error of the best score (the one-standard-error rule).

    `sizes`: each strength's magnitude (gentler = smaller; equal sizes keep list order). The
    standard error is the best score's 95% CI half-width / 1.96. Plain argmax flips between
    near-equal strengths with float noise (another CPU or thread count) and moves every downstream
    number with it; a tolerance of one SE keeps the choice where the evidence cannot tell them
    apart, and prefers the smaller intervention. NaN scores rank last; a NaN CI gives SE 0.
    """
    if len(sizes) != len(curve) or not curve:
        raise EmosteerError(f"pooling: {len(sizes)} strengths for {len(curve)} dev scores")
    scores = [c.mean if c.mean == c.mean else -float("inf") for c in curve]
    best = max(range(len(curve)), key=lambda i: (scores[i], -sizes[i]))
    half = (curve[best].hi - curve[best].lo) / 2
    se = half / Z_LEVEL if half == half else 0.0
    near = [i for i in range(len(curve)) if scores[i] >= scores[best] - se]
    return min(near, key=lambda i: (sizes[i], i))
