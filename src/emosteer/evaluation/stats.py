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


def williams_t(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' (1959) t for H0: rho12 = rho13 (variable 1 shared), df = n - 3, two-sided p.

    t = (r12 - r13) sqrt( (n-1)(1+r23) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r23)^3) ),
    rbar = (r12 + r13)/2, |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23 (Steiger 1980, eq. 7;
    the "standard Williams' t" of Hittner, May & Silver 2003). Identical predictions (r23 = 1,
    r12 = r13) give t = 0, p = 1.
    """
    r12, r13, r23, n, det = _check_correlations(r12, r13, r23, n)
    rbar = (r12 + r13) / 2.0
    den = 2.0 * (n - 1) / (n - 3) * det + rbar * rbar * (1.0 - r23) ** 3
    if den <= 0.0:
        if r12 == r13:
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
    c = ((r23 - 0.5 * r12 * r13) * (1.0 - r12**2 - r13**2 - r23**2) + r23**3) / (
        (1.0 - r12**2) * (1.0 - r13**2)
    )
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
