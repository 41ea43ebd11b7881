"""Statistics: metrics, the paired bootstrap (incl. coverage), Williams' t and Zou's CI vs published examples."""

import numpy as np
import pytest
from scipy import stats as sps

from emosteer.correlation import pearson
from emosteer.errors import EmosteerError
from emosteer.evaluation.stats import (
    bootstrap_delta_r_samples,
    ccc,
    compare_correlations,
    mae,
    paired_bootstrap_delta_r,
    rmse,
    williams_t,
    zou_ci,
)


def test_metrics_against_hand_values_and_scipy():
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([2.0, 3.0, 4.0])
    assert pearson(y, p) == pytest.approx(1.0)
    # var_y = var_p = cov = 2/3 (1/n moments), mean difference 1: 2*(2/3) / (4/3 + 1) = 4/7
    assert ccc(y, p) == pytest.approx(4 / 7)
    assert rmse(y, p) == pytest.approx(1.0) and mae(y, p) == pytest.approx(1.0)
    assert ccc(y, y) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100), rng.normal(size=100)
    assert pearson(a, b) == pytest.approx(sps.pearsonr(a, b)[0], abs=1e-12)
    assert rmse(a, b) == pytest.approx(np.sqrt(np.mean((a - b) ** 2)))
    assert mae(a, b) == pytest.approx(np.mean(np.abs(a - b)))
    assert np.isnan(pearson(a, np.ones(100)))  # undefined, and reported as such
    with pytest.raises(EmosteerError, match=r"p\[3\]"):
        pearson(a[:5], np.array([0, 1, 2, np.inf, 4.0]))
    with pytest.raises(EmosteerError, match="has 5 values"):
        rmse(a[:5], b[:4])


def test_williams_t_reproduces_published_example():
    # Silver, Hittner & May (2006), DEPCOR, Applied Psychological Measurement 30, 152-153:
    # r_jk = .3, r_jh = .4, r_kh = .5, n = 100 -> Williams' t = -1.0767, p = .2843 (df = 97).
    # The same values are the williams1959 test case of the R package cocor (tests/testthat/tests.r).
    t, p = williams_t(0.3, 0.4, 0.5, 100)
    assert round(t, 4) == -1.0767
    assert round(p, 4) == 0.2843
    # symmetric in the order of the two correlations being compared
    t2, p2 = williams_t(0.4, 0.3, 0.5, 100)
    assert t2 == pytest.approx(-t) and p2 == pytest.approx(p)


def test_williams_t_formula_by_hand():
    # Steiger (1980) eq. 7 written out for r12=.5, r13=.2, r23=.3, n=50.
    r12, r13, r23, n = 0.5, 0.2, 0.3, 50
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23  # 0.67
    rbar = 0.35
    t = 0.3 * np.sqrt(49 * 1.3 / (2 * 49 / 47 * det + rbar**2 * 0.7**3))
    got_t, got_p = williams_t(r12, r13, r23, n)
    assert got_t == pytest.approx(t, rel=1e-12)
    assert got_p == pytest.approx(2 * sps.t.sf(t, 47), rel=1e-12)
    assert williams_t(0.6, 0.6, 1.0, 30) == (0.0, 1.0)  # identical predictions
    # predictions equal up to rounding: r23 is 1 in floats while the r's differ in the 11th digit
    assert williams_t(0.7956820330583172, 0.7956820330884405, 1.0, 180) == (0.0, 1.0)
    with pytest.raises(EmosteerError, match="cannot come from one data set"):
        williams_t(0.7, 0.6, 1.0, 30)  # impossible: identical predictions with different r


def test_zou_ci_reproduces_published_example():
    # Zou (2007), Psychological Methods 12(4), 399-413, worked example for two overlapping
    # correlations: r12 = .396, r13 = .179, r23 = .088, n = 66 -> 95% CI (-.093, .517).
    # Also the zou2007 test case of cocor.dep.groups.overlap in the R package cocor.
    lo, hi = zou_ci(0.396, 0.179, 0.088, 66)
    assert (round(lo, 3), round(hi, 3)) == (-0.093, 0.517)


def test_correlation_inputs_are_checked():
    with pytest.raises(EmosteerError, match="r23"):
        williams_t(0.3, 0.4, 1.5, 100)
    with pytest.raises(EmosteerError, match="cannot come from one data set"):
        williams_t(0.9, -0.9, 0.9, 100)
    with pytest.raises(EmosteerError, match="n must be"):
        zou_ci(0.3, 0.4, 0.5, 3)
    with pytest.raises(EmosteerError, match="Fisher-z"):
        zou_ci(1.0, 0.4, 0.4, 30)


def test_bootstrap_is_vectorised_form_of_the_naive_loop():
    rng = np.random.default_rng(1)
    n, n_boot = 40, 50
    y = rng.normal(size=n)
    base = y + rng.normal(size=n)
    new = y + 0.5 * rng.normal(size=n)
    samples = bootstrap_delta_r_samples(y, base, new, n_boot=n_boot, seed=9)
    idx = np.random.Generator(np.random.PCG64(9)).integers(0, n, size=(n_boot, n))
    naive = [sps.pearsonr(y[i], new[i])[0] - sps.pearsonr(y[i], base[i])[0] for i in idx]
    np.testing.assert_allclose(samples, naive, rtol=0, atol=1e-12)
    res = paired_bootstrap_delta_r(y, base, new, n_boot=n_boot, seed=9)
    assert res["delta"] == pytest.approx(pearson(y, new) - pearson(y, base))
    assert res["lo"] == pytest.approx(np.quantile(naive, 0.025))
    assert res["hi"] == pytest.approx(np.quantile(naive, 0.975))
    assert res["se"] == pytest.approx(np.std(naive, ddof=1))
    assert paired_bootstrap_delta_r(y, base, new, n_boot=n_boot, seed=9) == res  # seeded
    assert paired_bootstrap_delta_r(y, base, new, n_boot=n_boot, seed=10) != res


def _simulate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline and steered predictions sharing part of their error, as a steered model would.

    base = y + 0.8 z1, new = y + 0.7 (0.8 z1 + 0.6 z2), y, z1, z2 iid N(0, 1):
    rho_base = 1/sqrt(1.64), rho_new = 1/sqrt(1.49).
    """
    y, z1, z2 = rng.normal(size=(3, n))
    return y, y + 0.8 * z1, y + 0.7 * (0.8 * z1 + 0.6 * z2)


def test_bootstrap_ci_covers_known_delta_at_about_the_nominal_rate():
    true_delta = 1 / np.sqrt(1.49) - 1 / np.sqrt(1.64)  # 0.0384
    rng = np.random.default_rng(2024)
    reps, covered, zou_covered = 200, 0, 0
    for rep in range(reps):
        y, base, new = _simulate(rng, 200)
        res = paired_bootstrap_delta_r(y, base, new, n_boot=400, seed=rep)
        covered += res["lo"] <= true_delta <= res["hi"]
        lo, hi = zou_ci(pearson(y, new), pearson(y, base), pearson(new, base), 200)
        zou_covered += lo <= true_delta <= hi
    assert 0.90 <= covered / reps <= 0.99
    assert 0.90 <= zou_covered / reps <= 0.99


def test_compare_correlations_keys_and_consistency():
    rng = np.random.default_rng(3)
    y, base, new = _simulate(rng, 300)
    out = compare_correlations(y, base, new, n_boot=300, seed=1)
    assert list(out) == [
        "n",
        "r_base",
        "r_new",
        "delta",
        "boot_lo",
        "boot_hi",
        "boot_se",
        "williams_t",
        "williams_p",
        "zou_lo",
        "zou_hi",
    ]
    assert out["n"] == 300
    assert out["r_base"] == pytest.approx(pearson(y, base))
    assert out["r_new"] == pytest.approx(pearson(y, new))
    assert out["delta"] == pytest.approx(out["r_new"] - out["r_base"])
    assert out["boot_lo"] < out["delta"] < out["boot_hi"]
    assert out["zou_lo"] < out["delta"] < out["zou_hi"]
    t, p = williams_t(out["r_new"], out["r_base"], pearson(new, base), 300)
    assert (out["williams_t"], out["williams_p"]) == (t, p)
    # the same predictions: no difference, no evidence of one
    same = compare_correlations(y, base, base.copy(), n_boot=50, seed=1)
    assert same["delta"] == 0.0 and same["williams_p"] == 1.0
    assert same["boot_lo"] == same["boot_hi"] == 0.0
