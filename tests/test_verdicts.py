"""The verdict procedure for re-split seeds (evaluation.verdicts), its jackknife (evaluation.stats),
its families, and its calibration on simulated re-split tables (evaluation.calibration)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from emosteer.errors import EmosteerError
from emosteer.evaluation import calibration, pooling, stats, verdicts
from emosteer.evaluation.verdicts import PRIMARY, SECONDARY


def _brute_delta_r(y, base, new, keep):
    return np.corrcoef(y[keep], new[keep])[0, 1] - np.corrcoef(y[keep], base[keep])[0, 1]


def test_jackknife_delta_r_is_the_leave_one_out_formula():
    """Against the definition: n leave-one-out Δr computed one by one, (n-1)/n sum of squares."""
    rng = np.random.default_rng(0)
    n = 12
    y = rng.normal(size=n)
    base, new = y + rng.normal(size=n), y + 0.7 * rng.normal(size=n)
    delta, var = stats.jackknife_delta_r(y, base, new)
    leave = np.array([_brute_delta_r(y, base, new, np.arange(n) != i) for i in range(n)])
    assert delta == pytest.approx(_brute_delta_r(y, base, new, np.ones(n, bool)), abs=1e-14)
    assert var == pytest.approx((n - 1) / n * ((leave - leave.mean()) ** 2).sum(), rel=1e-10)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 5])  # segments of one clip leave together
    _, gvar = stats.jackknife_delta_r(y, base, new, groups)
    leave = np.array([_brute_delta_r(y, base, new, groups != g) for g in range(6)])
    assert gvar == pytest.approx(5 / 6 * ((leave - leave.mean()) ** 2).sum(), rel=1e-10)
    rows, rows_var = stats.jackknife_delta_r(y, base, np.stack([new, base]))  # leading axes broadcast
    assert rows[0] == pytest.approx(delta) and rows_var[0] == pytest.approx(var) and rows_var[1] == 0


def test_jackknife_of_a_mean_is_the_sample_variance_over_n_and_a_group_mean_its_leave_outs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=15)
    mean, var = stats.jackknife_ratio(x, np.ones(15))
    assert mean == pytest.approx(x.mean()) and var == pytest.approx(x.var(ddof=1) / 15)
    w = (rng.random(15) < 0.5).astype(float)
    est, gvar = stats.jackknife_ratio(x, w)
    leave = np.array([np.delete(x * w, i).sum() / np.delete(w, i).sum() for i in range(15)])
    assert est == pytest.approx((x * w).sum() / w.sum())
    assert gvar == pytest.approx(14 / 15 * ((leave - leave.mean()) ** 2).sum())
    empty, empty_var = stats.jackknife_ratio(x, np.zeros(15))
    assert np.isnan(empty) and np.isnan(empty_var)


def test_jackknife_variance_of_r_matches_its_normal_theory_value():
    """For bivariate normal clips the sampling variance of r is (1 - rho^2)^2 / n to first order
    (Fisher 1915); the jackknife recovers it, and the variance of r over samples."""
    rng = np.random.default_rng(2)
    rho, n, reps = 0.6, 400, 300
    z = rng.normal(size=(reps, 2, n))
    y, p = z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
    leave = stats.leave_out_pearson(y, p)
    var = (n - 1) / n * ((leave - leave.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    theory = (1 - rho**2) ** 2 / n
    assert np.mean(var) == pytest.approx(theory, rel=0.08)
    r = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(y, p)])
    assert np.var(r, ddof=1) == pytest.approx(theory, rel=0.2)


def test_estimate_hand_computed():
    """mean 0.0152; s^2 = 1.587e-4, s^2/S = 3.174e-5; (180/600) x mean clip variance 4.6e-5 = 1.38e-5;
    V = 4.554e-5. The tail is the Behrens-Fisher integral, here against scipy's adaptive quadrature
    of int P(Z > mean / sqrt(shared + (s^2/S) 4/w)) chi2_4(w) dw."""
    x = [0.012, 0.030, -0.004, 0.021, 0.017]
    e = verdicts.estimate(x, [4e-5, 5e-5, 3e-5, 6e-5, 5e-5], [180] * 5, 600)
    assert e.mean == pytest.approx(0.0152)
    assert e.seed_var == pytest.approx(3.174e-5) and e.shared_var == pytest.approx(1.38e-5)
    assert e.se == pytest.approx(0.0067483331, rel=1e-8)

    def tail(m):
        return integrate.quad(
            lambda w: sps.norm.sf(m / np.sqrt(1.38e-5 + 3.174e-5 * 4 / w)) * sps.chi2.pdf(w, 4),
            0,
            np.inf,
            epsabs=1e-13,
            limit=200,
        )[0]

    assert e.above == pytest.approx(tail(0.0152), rel=1e-6)
    assert e.above + e.below == pytest.approx(1.0)
    assert tail(e.hi - e.mean) == pytest.approx(0.025, rel=1e-6)  # the interval's 97.5% point
    assert e.mean - e.lo == pytest.approx(e.hi - e.mean)
    assert e.sign_agreement == 4 and e.pooled() == pooling.Pooled(e.mean, e.lo, e.hi, x)


def test_estimate_reduces_to_student_without_a_shared_part_and_to_the_normal_without_seed_spread():
    """Shared part 0 (clip variances 0): Student's one-sample t on S - 1 df (scipy's ttest_1samp
    and its interval); equal seeds: the normal with the shared part's variance."""
    x = [0.012, 0.030, -0.004, 0.021, 0.017]
    e = verdicts.estimate(x, [0.0] * 5, [180] * 5, 600)
    assert 2 * min(e.above, e.below) == pytest.approx(sps.ttest_1samp(x, 0.0).pvalue, rel=1e-9)
    half = sps.t.ppf(0.975, 4) * np.std(x, ddof=1) / np.sqrt(5)
    assert (e.lo, e.hi) == pytest.approx((0.0152 - half, 0.0152 + half), rel=1e-9)
    flat = verdicts.estimate([0.01] * 5, [1e-4] * 5, [180] * 5, 600)
    assert flat.above == pytest.approx(sps.norm.sf(0.01 / np.sqrt(0.3e-4)), rel=1e-9)
    assert flat.hi - flat.mean == pytest.approx(sps.norm.ppf(0.975) * np.sqrt(0.3e-4), rel=1e-9)


def test_the_behrens_fisher_tail_is_conservative_where_welch_satterthwaite_is_not():
    """The reason for the integral: seeds' mean ~ N(0, a/S + b), s^2 ~ a chi^2_4 / 4, b known. At
    the Holm tail of a family of 8 (one side 0.003), the integral's p-values hold their level
    whatever b/a is; a t on the Welch-Satterthwaite df (S - 1)(1 + b S / s^2)^2 exceeds it where
    the seed part dominates."""
    rng = np.random.default_rng(7)
    n, level = 20000, 0.05 / 8 / 2
    for ratio, welch_liberal in ((0.1, True), (1.0, False)):
        a, b = 1.0, ratio / 5
        means = rng.normal(0.0, np.sqrt(a / 5 + b), n)
        s2 = a * rng.chisquare(4, n) / 4
        ours = np.array([verdicts._tail(m, v / 5, b, 4) for m, v in zip(means[:4000], s2[:4000])])
        nu = 4 * (1 + b * 5 / s2) ** 2
        welch = sps.t.sf(means / np.sqrt(s2 / 5 + b), nu)
        assert np.mean(ours < level) <= level + 3 * np.sqrt(level / 4000)
        if welch_liberal:
            assert np.mean(welch < level) > 1.5 * level


def test_one_seed_has_the_clip_interval_of_its_split_and_no_verdict():
    e = verdicts.estimate([-0.02], [1e-4], [180], 600)
    assert e.se == pytest.approx(0.01) and e.hi - e.mean == pytest.approx(sps.t.ppf(0.975, 179) * 0.01)
    assert verdicts.verdict(e, None) == "none"


def test_degenerate_inputs():
    zero = verdicts.estimate([0.0] * 5, [0.0] * 5, [180] * 5, 600)  # the control against itself
    assert (zero.lo, zero.hi, zero.above, zero.below) == (0.0, 0.0, 1.0, 1.0)
    sure = verdicts.estimate([0.01] * 5, [0.0] * 5, [180] * 5, 600)
    assert sure.above == 0.0 and verdicts.verdict(sure, zero) == "none"  # cannot beat the control
    nan = verdicts.estimate([0.1, float("nan"), 0.1], [1e-4] * 3, [180] * 3, 600)
    assert np.isnan(nan.lo) and verdicts.verdict(nan, None) == "none" and verdicts.verdict_p(nan, None) == 1.0
    with pytest.raises(EmosteerError, match="of a set of 100"):
        verdicts.estimate([0.1] * 3, [1e-4] * 3, [180] * 3, 100)
    with pytest.raises(EmosteerError, match="one of each per seed"):
        verdicts.estimate([0.1] * 3, [1e-4] * 2, [180] * 3, 600)


def test_a_call_is_made_iff_its_p_value_is_below_alpha_iff_its_intervals_exclude_zero():
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(800):
        s = int(rng.integers(3, 8))
        shift, spread = rng.normal(0, 0.02), rng.uniform(0.001, 0.03)
        dr = verdicts.estimate(rng.normal(shift, spread, s), rng.uniform(0, 2e-4, s), [180] * s, 600)
        gm = verdicts.estimate(
            rng.normal(shift + rng.normal(0, 0.01), spread, s), rng.uniform(0, 2e-4, s), [180] * s, 600
        )
        call, p = verdicts.verdict(dr, gm), verdicts.verdict_p(dr, gm)
        assert (call != "none") == (p < pooling.ALPHA)
        if min(abs(dr.lo), abs(dr.hi), abs(gm.lo)) > 1e-9:  # away from a bound at 0
            assert (call == "hurts") == (dr.hi < 0)
            assert (call == "helps") == (dr.lo > 0 and gm.lo > 0)
        seen.add(call)
    assert seen == {"helps", "hurts", "none"}


def test_family_of_is_a_property_of_the_selection():
    assert verdicts.family_of("predicted") == PRIMARY
    assert {verdicts.family_of(s) for s in ("oracle", "control", "feedback")} == {SECONDARY}


def test_holm_runs_within_each_family_and_counts_their_sizes():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09, within the
    # secondary family; the primary family's two rows are adjusted among themselves only.
    rows = [(("s", i), SECONDARY, "helps", p) for i, p in enumerate((0.03, 0.01, 0.05, 0.02, 0.04))]
    rows += [(("p", 0), PRIMARY, "hurts", 0.02), (("p", 1), PRIMARY, "none", 0.5)]
    fixed, sizes = verdicts.correct(rows)
    assert list(sizes.items()) == [(PRIMARY, 2), (SECONDARY, 5)]  # the primary family first
    assert [fixed[("s", i)].adjusted_p for i in range(5)] == pytest.approx([0.09, 0.05, 0.09, 0.08, 0.09])
    assert [fixed[("s", i)].verdict for i in range(5)] == ["none"] * 5  # 0.05 is not below 0.05
    assert fixed[("p", 0)].adjusted_p == pytest.approx(0.04) and fixed[("p", 0)].verdict == "hurts"
    assert fixed[("p", 0)].family == PRIMARY
    summary = verdicts.correction_summary(sizes)
    assert summary["families"][PRIMARY]["size"] == 2 and summary["alpha"] == 0.05
    with pytest.raises(EmosteerError, match="appears twice"):
        verdicts.correct(rows + [rows[0]])
    with pytest.raises(EmosteerError, match="unknown family"):
        verdicts.correct([(("x",), "tertiary", "none", 1.0)])


SMALL_TABLE = (
    [calibration.Row(f"deployable {i}", i % 2, PRIMARY, "global_mean", 0.006) for i in range(4)]
    + [calibration.Row(f"check {i}", i % 2, SECONDARY, "global_mean", 0.01) for i in range(4)]
    + [calibration.Row(f"global mean {d}", d, SECONDARY, "self", 0.006) for d in (0, 1)]
)


def test_calibration_resplit_is_not_liberal_and_the_check_can_fail():
    """Null tables whose 5 seeds re-split one set of 600 clips with the pipeline's split (no model
    spread: where shared clips matter most). The procedure's false calls per verdict and the
    primary family's Holm rate stay at most 5% (up to 3 simulation SEs); a t over the seeds alone
    (the p-value before) calls about twice its level on the same tables."""
    rows, tables = SMALL_TABLE, 120
    d = calibration.design(rows, 0.0, [0.78, 0.83], 600, 0.3, 0.15, True, range(5), pilot=100)
    rng = np.random.default_rng(5)
    calls = family = seed_t = 0
    means = []
    for _ in range(tables):
        table = calibration.simulate(rows, d, True, rng)
        plain, fixed = calibration.judge(rows, table, "resplit", 600)
        calls += sum(c != "none" for c in plain)
        family += any(c != "none" for c, r in zip(fixed, rows) if r.family == PRIMARY)
        seed_t += sum(pooling.verdict_p(pooling.seed_sides(x), None) < pooling.ALPHA for x in table.dr)
        means.append(table.dr.mean(axis=1))
    verdicts_n = tables * len(rows)
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / verdicts_n)
    assert calls / verdicts_n <= bound
    assert family / tables <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / tables)
    assert seed_t / verdicts_n > bound  # the check fails a procedure that ignores the shared clips
    means = np.array(means)  # the simulated truth is null: pooled Δr centres on 0
    assert np.all(np.abs(means.mean(axis=0)) < 4 * means.std(axis=0) / np.sqrt(tables))


def test_calibration_plants_the_effect_it_is_asked_for():
    rows = [
        calibration.Row("oracle", 0, SECONDARY, "none", 0.01, effect=0.04),
        calibration.Row("null", 1, SECONDARY, "none", 0.01),
    ]
    d = calibration.design(rows, 0.01, [0.78, 0.83], 600, 0.3, 0.15, True, range(5), pilot=100)
    rng = np.random.default_rng(6)
    dr = np.array([calibration.simulate(rows, d, False, rng).dr.mean(axis=1) for _ in range(60)])
    se = dr.std(axis=0) / np.sqrt(len(dr))
    assert abs(dr[:, 0].mean() - 0.04) < 4 * se[0] + 0.002  # + the O(1/n) bias of a sample r
    assert abs(dr[:, 1].mean()) < 4 * se[1] + 0.002
