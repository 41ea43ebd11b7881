"""The verdict procedure: for each row of the verdict table one pooled estimate, one interval, one
p-value and one call, valid when every seed re-splits the same clips; and Holm's correction within
each family of rows.

Every seed validates on n_val clips drawn from the same N clips (prepare_split re-splits one clip
set per seed), so the seeds' values of a statistic (Δr, say) are not independent draws: besides
what differs between seeds (the split, the model), they share what the N clips are. That shared
part is the same for every seed, so their spread cannot show it, and a t over the seeds alone is
too narrow (the resampled-t problem of Nadeau & Bengio 2003, Machine Learning 52, 239-281). The
variance of the mean over S seeds is estimated in two parts (docs/statistics.md, "The verdict
procedure"):

    V = s^2 / S  +  (n_val / N) * v_clip

- s^2: the sample variance of the S per-seed values: everything in which seeds differ (each seed's
  split of the clip set, its model);
- v_clip: the mean over seeds of each value's clip-sampling variance (the delete-one jackknife
  over the seed's validation clips, `stats.jackknife_delta_r`); (n_val / N) v_clip estimates
  sigma^2 / N, the variance of the N clips' mean contribution, which every seed shares. For a mean
  of per-clip contributions the decomposition is exact: N clips drawn independently, n_val of them
  drawn without replacement per seed, give Var(mean) = sigma^2 / N + E[s^2] / S.

The reference distribution of mean - truth is the Behrens-Fisher distribution (Behrens 1929;
Fisher 1935, Annals of Eugenics 6, 391-398) with the shared part's degrees of freedom infinite:
sqrt(s^2/S) T_{S-1} + sqrt(shared) Z, T and Z independent Student and normal. Its tails are the
integral over W ~ chi^2_{S-1} of the normal tail at mean / sqrt(shared + (s^2/S)(S-1)/W)
(`_tail`). With no shared part it is Student's t on S - 1 degrees of freedom; with no seed spread,
the normal. (A Welch-Satterthwaite t on one pooled df, the usual shortcut, calls up to 2.7 times
its level in the tail Holm reads when the seed part dominates: docs/statistics.md.) The interval
is mean -/+ the distribution's 97.5% point; the one-sided p-values are its tails; a verdict is
called iff its p-value (`verdict_p`) is below ALPHA, which is iff the interval(s) exclude 0 on the
called side. With one seed there is no seed spread and no shared part to separate: V = its own
v_clip (the clip sampling of one split), read on Student's t with n_val - 1 df, and no verdict.

Families: the deployable rows (steering with the model's own bin) are what a user acts on, so they
are corrected as one family (`PRIMARY`); the oracle upper bounds, the controls and the feedback row
form a second (`SECONDARY`); each steering variant against its fusion twin ("beyond fusion": does
steering carry more than the bin's value?) a third (`BEYOND_FUSION`). Holm (1979) runs within
each (`correct`).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from scipy.stats import norm
from scipy.stats import t as student_t

from emosteer.errors import EmosteerError
from emosteer.evaluation import pooling
from emosteer.evaluation.pooling import ALPHA, LEVEL, MIN_SEEDS, Sides

PRIMARY = "primary"
SECONDARY = "secondary"
BEYOND_FUSION = "beyond_fusion"
FAMILIES = {
    PRIMARY: "deployable: steering with the model's own (predicted) bin vs unsteered, per grid and dim",
    SECONDARY: "upper bounds and checks: oracle-bin steering, the controls, the fusion twins, the feedback row",
    BEYOND_FUSION: "steering vs its fusion twin (the unsteered prediction moved toward the same "
    "target, no network), per variant, grid and dim",
}


@dataclass(frozen=True)
class Estimate:
    """A statistic pooled over seeds: the mean of its per-seed values, its standard error sqrt(V),
    the LEVEL interval, and the one-sided p-values of "> 0" (`above`) and "< 0" (`below`) from
    the same distribution. `seed_var` (s^2/S) and `shared_var` are V's two parts."""

    mean: float
    se: float
    lo: float
    hi: float
    above: float
    below: float
    per_seed: list[float]
    seed_var: float
    shared_var: float

    @property
    def sides(self) -> Sides:
        return Sides(self.above, self.below)

    @property
    def sign_agreement(self) -> int:
        """How many seeds have the sign of the pooled mean (0 when the mean is 0 or undefined)."""
        sign = np.sign(self.mean)
        return int(sum(np.sign(v) == sign for v in self.per_seed)) if sign != 0 else 0

    def pooled(self) -> pooling.Pooled:
        """The same mean, interval and per-seed values as a `pooling.Pooled` (for the callers that
        read those four, such as `pooling.pick_pooled` and the metrics writers)."""
        return pooling.Pooled(self.mean, self.lo, self.hi, self.per_seed)


def val_share(n_val: Sequence[int], n_clips: int) -> float:
    """n_val / N: the share of the clip set a seed validates on (mean over seeds), checked."""
    sizes = np.asarray(n_val, dtype=np.float64)
    if sizes.ndim != 1 or len(sizes) == 0 or not (sizes >= 2).all() or not np.isfinite(sizes).all():
        raise EmosteerError(f"verdicts: validation sizes must be >= 2 clips per seed, got {list(n_val)}")
    if not n_clips >= sizes.max():
        raise EmosteerError(f"verdicts: a seed validates on {int(sizes.max())} clips of a set of {n_clips}")
    return float(sizes.mean() / n_clips)


# The Behrens-Fisher integral over W ~ chi^2_k, by the trapezoid rule in z where W is the chi^2_k
# quantile of the normal probability of z: smooth in z, and both tails of W reached (z to +-8.5).
_Z = np.linspace(-8.5, 8.5, 341)
_Z_WEIGHTS = norm.pdf(_Z) * np.where((_Z == _Z[0]) | (_Z == _Z[-1]), 0.5, 1.0)
_Z_WEIGHTS = _Z_WEIGHTS / _Z_WEIGHTS.sum()


@functools.cache
def _inverse_chi2_nodes(k: int) -> np.ndarray:
    """k / W at each node, W the chi^2_k quantile of Phi(z), each from the tail that keeps it exact
    (a pure function of k, computed once per k: read-only)."""
    lower = 2 * special.gammaincinv(k / 2, special.ndtr(_Z))
    upper = 2 * special.gammainccinv(k / 2, special.ndtr(-_Z))
    with np.errstate(divide="ignore"):
        out = k / np.where(_Z < 0, lower, upper)
    out.setflags(write=False)
    return out


def _tail(x: float, seed_var: float, shared_var: float, k: int) -> float:
    """P(D > x) for D = sqrt(seed_var) T_k + sqrt(shared_var) Z: the mean over W ~ chi^2_k of the
    normal tail at x / sqrt(shared_var + seed_var k / W)."""
    scale = np.sqrt(shared_var + seed_var * _inverse_chi2_nodes(k))
    return float(_Z_WEIGHTS @ special.ndtr(-x / scale))


def estimate(per_seed: Sequence[float], clip_var: Sequence[float], n_val: Sequence[int], n_clips: int) -> Estimate:
    """Pool one statistic over seeds that re-split one set of `n_clips` clips.

    per_seed: the statistic on each seed's validation clips; clip_var: its clip-sampling variance
    there (`stats.jackknife_delta_r` or `stats.jackknife_ratio`); n_val: each seed's number of
    validation clips. V = s^2/S + (n_val/N) mean(clip_var); tails and interval from the
    Behrens-Fisher distribution (module doc). One seed: V = its clip_var on Student's t with
    n_val - 1 df. A NaN value gives a NaN estimate and p-values of 1; V = 0 gives certainty in the
    mean's direction (and none for a mean of exactly 0)."""
    x = np.asarray(per_seed, dtype=np.float64)
    v = np.asarray(clip_var, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0 or v.shape != x.shape or len(n_val) != len(x):
        raise EmosteerError(
            f"verdicts: {len(x)} per-seed values, {v.size} clip variances and "
            f"{len(n_val)} validation sizes; need one of each per seed"
        )
    share = val_share(n_val, n_clips)
    values = [float(a) for a in x]
    mean = float(x.mean())
    if np.isnan(x).any() or np.isnan(v).any():
        nan = float("nan")
        return Estimate(mean if np.isfinite(mean) else nan, nan, nan, nan, 1.0, 1.0, values, nan, nan)
    if (v < 0).any():
        raise EmosteerError(f"verdicts: a clip-sampling variance is negative: {v.tolist()}")
    if len(x) == 1:
        se = float(np.sqrt(v[0]))
        if se == 0.0:
            return _certain(mean, values, 0.0, 0.0)
        df = float(np.mean(n_val)) - 1
        half = float(student_t.ppf((1 + LEVEL) / 2, df)) * se
        return Estimate(
            mean,
            se,
            mean - half,
            mean + half,
            float(student_t.sf(mean / se, df)),
            float(student_t.cdf(mean / se, df)),
            values,
            0.0,
            float(v[0]),
        )
    k = len(x) - 1
    seed_var = float(x.var(ddof=1)) / len(x)
    shared_var = share * float(v.mean())
    se = float(np.sqrt(seed_var + shared_var))
    if se == 0.0:
        return _certain(mean, values, seed_var, shared_var)
    tail = (1 - LEVEL) / 2
    # the 97.5% point lies below sqrt(seed_var) t_k(1 - tail/2) + sqrt(shared_var) z(1 - tail/2)
    # (the union bound: each term exceeds its own bound with probability tail/2)
    top = np.sqrt(seed_var) * special.stdtrit(k, 1 - tail / 2) + np.sqrt(shared_var) * special.ndtri(1 - tail / 2)
    half = optimize.brentq(
        lambda h: _tail(h, seed_var, shared_var, k) - tail, 0.0, float(top), xtol=1e-12 * se, rtol=1e-12
    )
    above = _tail(mean, seed_var, shared_var, k)  # "> 0": how far out the observed mean lies
    return Estimate(mean, se, mean - half, mean + half, above, 1.0 - above, values, seed_var, shared_var)


def _certain(mean: float, values: list[float], seed_var: float, shared_var: float) -> Estimate:
    """No variance: the mean's direction is certain (neither, for a mean of exactly 0)."""
    above, below = (0.0 if mean > 0 else 1.0), (0.0 if mean < 0 else 1.0)
    return Estimate(mean, 0.0, mean, mean, above, below, values, seed_var, shared_var)


def verdict_p(dr: Estimate, vs_global_mean: Estimate | None) -> float:
    """The row's two-sided p-value (`pooling.verdict_p` on this procedure's one-sided p-values):
    hurts 2 * below; helps 2 * max(above, vs_global_mean.above) (intersection-union, Berger 1982);
    the smaller of the two calls', at most 1."""
    return pooling.verdict_p(dr.sides, None if vs_global_mean is None else vs_global_mean.sides)


def verdict(dr: Estimate, vs_global_mean: Estimate | None) -> str:
    """`hurts` iff 2 * dr.below < ALPHA (iff dr's interval lies below 0); `helps` iff 2 * the larger
    of dr.above and vs_global_mean.above < ALPHA (iff both intervals lie above 0: steering with the
    bin beats no steering and beats a signal that knows no bin); `none` otherwise, and always with
    fewer than MIN_SEEDS seeds. `vs_global_mean` None: the row has no such control (the feedback
    row), so `helps` needs dr alone. The call is made iff `verdict_p` < ALPHA."""
    if len(dr.per_seed) < MIN_SEEDS:
        return "none"
    if 2 * dr.below < ALPHA:
        return "hurts"
    helps = dr.above if vs_global_mean is None else max(dr.above, vs_global_mean.above)
    return "helps" if 2 * helps < ALPHA else "none"


def family_of(selection: str) -> str:
    """A row's family from its method's selection: `predicted` (the model's own bin: what a user
    can deploy) is PRIMARY; oracle, control, feedback and anything else SECONDARY. (A method
    registry that carries the family can replace this function; the rule stays a property of the
    method, never of the row's result.)"""
    return PRIMARY if selection == "predicted" else SECONDARY


@dataclass(frozen=True)
class Corrected:
    """A row's verdict after Holm within its family: the plain call where the adjusted p-value is
    below ALPHA, else `none`."""

    verdict: str
    adjusted_p: float
    family: str


def correct(rows: Sequence[tuple[Hashable, str, str, float]]) -> tuple[dict[Hashable, Corrected], dict[str, int]]:
    """Holm within each family. `rows`: (key, family, plain verdict, verdict p-value), keys unique.
    Returns each key's Corrected, and each family's size in order of first appearance (the
    primary family first when present), so a family's name and size are counted, never written."""
    keys = [r[0] for r in rows]
    if len(set(keys)) != len(keys):
        raise EmosteerError("verdicts: a row of the verdict table appears twice")
    for key, family, plain, _ in rows:
        if family not in FAMILIES:
            raise EmosteerError(f"verdicts: row {key!r}: unknown family {family!r}; expected one of {tuple(FAMILIES)}")
        if plain not in pooling.VERDICTS:
            raise EmosteerError(f"verdicts: row {key!r}: unknown verdict {plain!r}")
    sizes: dict[str, int] = {}
    for name in sorted({r[1] for r in rows}, key=lambda f: (f != PRIMARY, [r[1] for r in rows].index(f))):
        sizes[name] = sum(r[1] == name for r in rows)
    out: dict[Hashable, Corrected] = {}
    for name in sizes:
        members = [r for r in rows if r[1] == name]
        adjusted = pooling.holm([r[3] for r in members])
        for (key, _, plain, _), a in zip(members, adjusted):
            out[key] = Corrected(pooling.corrected(plain, float(a)), float(a), name)
    return out, sizes


def correction_summary(sizes: Mapping[str, int]) -> dict[str, object]:
    """What the corrected verdicts correct for, for metrics/headline.json: the procedure, its
    level, and each family's name, size and what it holds (sizes as `correct` counted them)."""
    return {
        "procedure": "holm",
        "alpha": ALPHA,
        "families": {name: {"size": int(n), "holds": FAMILIES[name]} for name, n in sizes.items()},
    }
