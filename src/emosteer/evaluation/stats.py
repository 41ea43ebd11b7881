"""Metrics and the uncertainty of a steering gain: Δr with a paired bootstrap CI, Williams' t, Zou's CI.

The report gave Δr of 0.01-0.04 at n = 364 with no uncertainty (ORIGINAL.md §h.3). Each method's
gain here comes with three views of the same question, "is r(y, steered) different from
r(y, baseline) on these clips?":

- a paired percentile bootstrap over clips (same resampled clips for both predictions);
- Williams' t for two dependent, overlapping correlations (Williams 1959; Steiger 1980, eq. 7);
- Zou's (2007) confidence interval for r12 - r13, built from the Fisher-z CIs of each r.

Indices: 1 = the true labels, 2 = the steered predictions, 3 = the baseline predictions, so
r12 - r13 = r_new - r_base and a positive t means steering helped.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from emosteer.bootstrap import resample_blocks
from emosteer.correlation import pair as _pair
from emosteer.correlation import rowwise_pearson
from emosteer.errors import EmosteerError

# Resamples per chunk are chosen so one chunk holds about this many gathered values per array.
_CHUNK_ELEMENTS = 2_000_000


def ccc(y: np.ndarray, p: np.ndarray) -> float:
    """Lin's (1989) concordance correlation 2 s_yp / (s_y^2 + s_p^2 + (mean_y - mean_p)^2), 1/n moments.

    Unlike r it penalises bias and scale error, which steering can introduce while leaving r alone.
    """
    yy, pp = _pair(y, p)
    my, mp = yy.mean(), pp.mean()
    s_yp = ((yy - my) * (pp - mp)).mean()
    den = yy.var() + pp.var() + (my - mp) ** 2
    return float(2.0 * s_yp / den) if den > 0 else float("nan")


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    yy, pp = _pair(y, p)
    return float(np.sqrt(np.mean((yy - pp) ** 2)))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    yy, pp = _pair(y, p)
    return float(np.mean(np.abs(yy - pp)))


def _check_int(value: int, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise EmosteerError(f"stats: {field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_level(value: float, field: str) -> float:
    if not 0.0 < float(value) < 1.0:
        raise EmosteerError(f"stats: {field} must be in (0, 1), got {value!r}")
    return float(value)


def bootstrap_delta_r_samples(
    y: np.ndarray, pred_base: np.ndarray, pred_new: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """(n_boot,) Δr = r(y*, new*) - r(y*, base*) over paired resamples of clips.

    Each resample draws n clip indices with replacement (emosteer.bootstrap.resamples); the same
    indices serve both predictions, so the shared clip difficulty cancels. Computed a chunk of
    resamples at a time with array ops; the result depends only on (inputs, n_boot, seed).
    """
    yy, base = _pair(y, pred_base, ("y", "pred_base"))
    _, new = _pair(yy, pred_new, ("y", "pred_new"))
    n_boot = _check_int(n_boot, "n_boot", 1)
    seed = _check_int(seed, "seed", 0)
    n = yy.size
    chunk = max(1, _CHUNK_ELEMENTS // n)  # resamples held at once (indices and floats)
    out = []
    for idx in resample_blocks(n, n_boot, seed, chunk):
        ys = yy[idx]
        out.append(rowwise_pearson(ys, new[idx]) - rowwise_pearson(ys, base[idx]))
    return np.concatenate(out)


def paired_bootstrap_delta_r(
    y: np.ndarray,
    pred_base: np.ndarray,
    pred_new: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, float]:
    """Observed Δr = r(y, new) - r(y, base) with a paired percentile bootstrap CI and bootstrap SE."""
    ci = _check_level(ci, "ci")
    samples = bootstrap_delta_r_samples(y, pred_base, pred_new, n_boot, seed)
    yy, base = _pair(y, pred_base, ("y", "pred_base"))
    _, new = _pair(yy, pred_new, ("y", "pred_new"))
    lo, hi = np.quantile(samples, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    return {
        "delta": float(rowwise_pearson(yy, new) - rowwise_pearson(yy, base)),
        "lo": float(lo),
        "hi": float(hi),
        "se": float(samples.std(ddof=1)) if samples.size > 1 else float("nan"),
    }


def _check_correlations(r12: float, r13: float, r23: float, n: int) -> tuple[float, float, float, int, float]:
    """Validate and return (r12, r13, r23, n, |R|) with |R| the determinant of the 3x3 matrix."""
    n = _check_int(n, "n", 4)
    vals = []
    for field, r in (("r12", r12), ("r13", r13), ("r23", r23)):
        r = float(r)
        if not -1.0 <= r <= 1.0:  # also catches NaN
            raise EmosteerError(f"stats: {field} = {r!r} is not a correlation in [-1, 1]")
        vals.append(r)
    r12, r13, r23 = vals
    det = 1.0 - r12 * r12 - r13 * r13 - r23 * r23 + 2.0 * r12 * r13 * r23
    if det < -1e-12:
        raise EmosteerError(
            f"stats: r12={r12}, r13={r13}, r23={r23} cannot come from one data set (|R| = {det:.3g} < 0)"
        )
    return r12, r13, r23, n, max(det, 0.0)


# Two r's closer than this are the same r computed from float32 predictions that differ by rounding.
SAME_R = 1e-9


def williams_t(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' (1959) t for H0: rho12 = rho13 (variable 1 shared), df = n - 3, two-sided p.

    t = (r12 - r13) sqrt( (n-1)(1+r23) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r23)^3) ),
    rbar = (r12 + r13)/2, |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23 (Steiger 1980, eq. 7;
    the "standard Williams' t" of Hittner, May & Silver 2003). Identical predictions (r23 = 1,
    r12 = r13) give t = 0, p = 1, and so do predictions equal up to float rounding (r23 = 1 in
    floats, r12 and r13 within SAME_R of each other): a model whose steering cannot act (an LRM
    that kept its zero start), or a fusion twin at weight 0.
    """
    r12, r13, r23, n, det = _check_correlations(r12, r13, r23, n)
    rbar = (r12 + r13) / 2.0
    den = 2.0 * (n - 1) / (n - 3) * det + rbar * rbar * (1.0 - r23) ** 3
    if den <= 0.0:
        if abs(r12 - r13) <= SAME_R:
            return 0.0, 1.0
        raise EmosteerError(f"stats: Williams' t undefined for r12={r12}, r13={r13}, r23={r23}")
    t = (r12 - r13) * np.sqrt((n - 1) * (1.0 + r23) / den)
    p = 2.0 * sps.t.sf(abs(t), df=n - 3)
    return float(t), float(p)


def fisher_ci(r: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """CI for one correlation: tanh(atanh(r) -/+ z_{alpha/2} / sqrt(n - 3))."""
    half = sps.norm.ppf(1.0 - alpha / 2.0) / np.sqrt(n - 3)
    z = np.arctanh(r)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def zou_ci(r12: float, r13: float, r23: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Zou's (2007) (1 - alpha) CI for rho12 - rho13, two overlapping dependent correlations.

    With (l_i, u_i) the Fisher-z CI of each r and c = corr(r12, r13)
      = ((r23 - r12 r13 / 2)(1 - r12^2 - r13^2 - r23^2) + r23^3) / ((1 - r12^2)(1 - r13^2)),
    L = r12 - r13 - sqrt((r12 - l1)^2 + (u2 - r13)^2 - 2c (r12 - l1)(u2 - r13)),
    U = r12 - r13 + sqrt((u1 - r12)^2 + (r13 - l2)^2 - 2c (u1 - r12)(r13 - l2))
    (Zou 2007, Psychological Methods 12(4), 399-413, section on overlapping correlations).
    """
    r12, r13, r23, n, _ = _check_correlations(r12, r13, r23, n)
    alpha = _check_level(alpha, "alpha")
    for field, r in (("r12", r12), ("r13", r13)):
        if abs(r) == 1.0:
            raise EmosteerError(f"stats: {field} = {r} has no Fisher-z confidence interval")
    l1, u1 = fisher_ci(r12, n, alpha)
    l2, u2 = fisher_ci(r13, n, alpha)
    c = ((r23 - 0.5 * r12 * r13) * (1.0 - r12**2 - r13**2 - r23**2) + r23**3) / ((1.0 - r12**2) * (1.0 - r13**2))
    d = r12 - r13
    lo = d - np.sqrt(max((r12 - l1) ** 2 + (u2 - r13) ** 2 - 2.0 * c * (r12 - l1) * (u2 - r13), 0.0))
    hi = d + np.sqrt(max((u1 - r12) ** 2 + (r13 - l2) ** 2 - 2.0 * c * (u1 - r12) * (r13 - l2), 0.0))
    return float(lo), float(hi)


def compare_correlations(
    y: np.ndarray,
    pred_base: np.ndarray,
    pred_new: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, float | int]:
    """Everything a metrics row needs about new vs base on the same clips.

    Keys: n, r_base, r_new, delta, boot_lo, boot_hi, boot_se, williams_t, williams_p, zou_lo,
    zou_hi (Zou at alpha = 1 - ci).
    """
    yy, base = _pair(y, pred_base, ("y", "pred_base"))
    _, new = _pair(yy, pred_new, ("y", "pred_new"))
    if yy.size < 4:
        raise EmosteerError(f"stats: need at least 4 clips to compare correlations, got {yy.size}")
    r12 = float(rowwise_pearson(yy, new))
    r13 = float(rowwise_pearson(yy, base))
    r23 = float(rowwise_pearson(new, base))
    if np.isnan([r12, r13, r23]).any():
        raise EmosteerError("stats: a constant label or prediction vector has no correlation")
    boot = paired_bootstrap_delta_r(yy, base, new, n_boot, seed, ci)
    t, p = williams_t(r12, r13, r23, yy.size)
    zlo, zhi = zou_ci(r12, r13, r23, yy.size, alpha=1.0 - ci)
    return {
        "n": int(yy.size),
        "r_base": r13,
        "r_new": r12,
        "delta": r12 - r13,
        "boot_lo": boot["lo"],
        "boot_hi": boot["hi"],
        "boot_se": boot["se"],
        "williams_t": t,
        "williams_p": p,
        "zou_lo": zlo,
        "zou_hi": zhi,
    }


def _one_hot(groups: np.ndarray | None, n: int) -> tuple[np.ndarray | None, int]:
    """(n, g) indicator of each clip's group (None: every clip its own group) and g."""
    if groups is None:
        return None, n
    g = np.asarray(groups)
    if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer):
        raise EmosteerError(f"stats: groups must be {n} integers, got shape {g.shape} of {g.dtype}")
    ids, inverse = np.unique(g, return_inverse=True)
    out = np.zeros((n, len(ids)))
    out[np.arange(n), inverse.reshape(-1)] = 1.0
    return out, len(ids)


def _leave_out(x: np.ndarray, hot: np.ndarray | None) -> np.ndarray:
    """Sums over each group (..., g), the clips' own values where every clip is a group."""
    return x if hot is None else x @ hot


def _finite(x: np.ndarray, field: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), x.shape)
        raise EmosteerError(f"stats: {field}{list(i)} = {x[i]!r} is not finite")
    return x


def _jackknife_variance(leave_out: np.ndarray, g: int) -> np.ndarray:
    """(g - 1)/g * sum_j (theta_(j) - mean theta_(.))^2 over the last axis (Quenouille 1956; Tukey
    1958; Efron & Tibshirani 1993, eq. 11.5). NaN if a leave-out value is undefined."""
    centred = leave_out - leave_out.mean(axis=-1, keepdims=True)
    return (g - 1) / g * (centred * centred).sum(axis=-1)


def leave_out_pearson(y: np.ndarray, p: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """(..., g) Pearson r of y and p with each group of clips left out in turn (every clip its own
    group when `groups` is None), along the last axis, from the full sums minus the group's:
    r_(j) = (Sxy - Sx Sy/m) / sqrt((Sxx - Sx^2/m)(Syy - Sy^2/m)) over the m clips that remain.
    Centred on the full means first (r does not depend on the shift; the sums stay small)."""
    y, p = np.broadcast_arrays(_finite(y, "y"), _finite(p, "p"))
    n = y.shape[-1]
    hot, g = _one_hot(groups, n)
    if g < 3:
        raise EmosteerError(f"stats: the jackknife needs at least 3 groups of clips, got {g}")
    yc = y - y.mean(axis=-1, keepdims=True)
    pc = p - p.mean(axis=-1, keepdims=True)
    m = n - (np.ones(n) if hot is None else hot.sum(axis=0))  # clips left per leave-out
    sy, sp = -_leave_out(yc, hot), -_leave_out(pc, hot)  # the full sums are 0 after centring
    syy = (yc * yc).sum(axis=-1, keepdims=True) - _leave_out(yc * yc, hot)
    spp = (pc * pc).sum(axis=-1, keepdims=True) - _leave_out(pc * pc, hot)
    syp = (yc * pc).sum(axis=-1, keepdims=True) - _leave_out(yc * pc, hot)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (syp - sy * sp / m) / np.sqrt((syy - sy * sy / m) * (spp - sp * sp / m))
    return np.clip(r, -1.0, 1.0)


def jackknife_delta_r(
    y: np.ndarray, base: np.ndarray, new: np.ndarray, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Δr = r(y, new) - r(y, base) along the last axis and its delete-one jackknife variance.

    The variance is what Δr would vary by over samples of these clips drawn independently (its
    clip-sampling variance): (g - 1)/g * sum_j (Δr_(j) - mean Δr_(.))^2 over the g leave-outs
    (Quenouille 1956; Tukey 1958; Efron & Tibshirani 1993, An Introduction to the Bootstrap, eq.
    11.5). In expectation it errs on the large side (Efron & Stein 1981, Annals of Statistics 9,
    586-596). `groups` (n,) ints: clips that must leave together (segments of one clip) are one
    leave-out (the delete-a-group jackknife). Deterministic, O(n): no resample draws. Leading
    axes broadcast (e.g. new (rows, n) against y (n,)); 1-D input gives 0-d arrays."""
    y, base, new = np.broadcast_arrays(_finite(y, "y"), _finite(base, "base"), _finite(new, "new"))
    _, g = _one_hot(groups, y.shape[-1])
    delta = rowwise_pearson(y, new) - rowwise_pearson(y, base)
    leave = leave_out_pearson(y, new, groups) - leave_out_pearson(y, base, groups)
    return delta, _jackknife_variance(leave, g)


def jackknife_ratio(
    values: np.ndarray, weights: np.ndarray, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """sum(w x) / sum(w) along the last axis and its delete-one jackknife variance (as
    `jackknife_delta_r`). Weights 1 give a mean (whose jackknife variance is exactly the sample
    variance / n); a 0/1 weight a group's mean (the clips binned right, say). NaN where the
    weights sum to 0, or where a leave-out leaves no weight."""
    x, w = np.broadcast_arrays(_finite(values, "values"), _finite(weights, "weights"))
    n = x.shape[-1]
    hot, g = _one_hot(groups, n)
    if g < 2:
        raise EmosteerError(f"stats: the jackknife needs at least 2 groups of clips, got {g}")
    total_wx, total_w = (w * x).sum(axis=-1), w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = total_wx / total_w
        leave = (total_wx[..., None] - _leave_out(w * x, hot)) / (total_w[..., None] - _leave_out(w, hot))
    leave = np.where(np.isfinite(leave), leave, np.nan)
    return np.where(total_w != 0, estimate, np.nan), _jackknife_variance(leave, g)
