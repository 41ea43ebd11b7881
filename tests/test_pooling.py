"""Pooling over seeds: the two-level bootstrap, the verdict rule, the pooled strength choice."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.errors import EmosteerError
from emosteer.evaluation import pooling
from emosteer.evaluation.pooling import Pooled


def _seed(rng, n, gain):
    y = rng.normal(size=n)
    base = y + rng.normal(scale=1.0, size=n)
    new = y + rng.normal(scale=1.0 - gain, size=n)
    return y, base, new


def test_delta_r_matches_numpy_and_bank_is_paired():
    rng = np.random.default_rng(0)
    y, base, new = _seed(rng, 50, 0.3)
    bank = pooling.clip_bank(50, 200, seed=3)
    observed, reps = pooling.delta_r(y, base, new, bank)
    assert observed == pytest.approx(np.corrcoef(y, new)[0, 1] - np.corrcoef(y, base)[0, 1])
    i = bank[7]
    assert reps[7] == pytest.approx(np.corrcoef(y[i], new[i])[0, 1] - np.corrcoef(y[i], base[i])[0, 1])
    # the same seed draws the same clips: every method of a seed is resampled identically
    assert np.array_equal(bank, pooling.clip_bank(50, 200, seed=3))


def test_two_level_ci_covers_seed_spread():
    """With one seed the CI reflects only clip noise; seeds that disagree widen it."""
    rng = np.random.default_rng(1)
    agree, spread = [], []
    for s, gain in enumerate((0.3, 0.3, 0.3, 0.3)):
        y, b, n = _seed(rng, 200, gain)
        agree.append(pooling.delta_r(y, b, n, pooling.clip_bank(200, 500, s)))
    for s, gain in enumerate((0.6, 0.0, 0.6, -0.2)):
        y, b, n = _seed(rng, 200, gain)
        spread.append(pooling.delta_r(y, b, n, pooling.clip_bank(200, 500, s)))
    a = pooling.pool([o for o, _ in agree], [r for _, r in agree], 1000)
    w = pooling.pool([o for o, _ in spread], [r for _, r in spread], 1000)
    assert a.lo > 0 and a.lo < a.mean < a.hi
    assert (w.hi - w.lo) > 2 * (a.hi - a.lo)
    assert a.sign_agreement == 4 and len(a.per_seed) == 4


def test_pool_is_deterministic_and_nan_safe():
    reps = [np.linspace(-1, 1, 100), np.linspace(0, 2, 100)]
    assert pooling.pool([0.0, 1.0], reps, 300) == pooling.pool([0.0, 1.0], reps, 300)
    nan = pooling.pool([0.1, float("nan")], [reps[0], np.full(100, np.nan)], 300)
    assert np.isnan(nan.lo) and pooling.verdict(nan, nan) == "none"


@pytest.mark.parametrize(
    "dr, gm, expected",
    [
        ((0.02, 0.01, 0.03), (0.01, 0.001, 0.02), "helps"),
        ((0.02, 0.01, 0.03), (0.01, -0.001, 0.02), "none"),  # no better than the global-mean control
        ((0.02, -0.01, 0.03), (0.01, 0.001, 0.02), "none"),  # CI vs unsteered includes 0
        ((-0.02, -0.03, -0.01), (0.0, -0.01, 0.01), "hurts"),
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), "none"),  # the global-mean control against itself
    ],
)
def test_verdict_rule(dr, gm, expected):
    seeds = [dr[0]] * pooling.MIN_SEEDS
    assert pooling.verdict(Pooled(*dr, seeds), Pooled(*gm, seeds)) == expected


def test_no_verdict_below_min_seeds():
    few = [-0.02] * (pooling.MIN_SEEDS - 1)
    assert pooling.verdict(Pooled(-0.02, -0.03, -0.01, few), Pooled(0, 0, 0, few)) == "none"


def test_pick_pooled_prefers_best_then_gentler_and_ranks_nan_last():
    c = [Pooled(m, m, m, []) for m in (0.01, 0.03, 0.03, float("nan"))]  # zero-width CIs: argmax
    assert pooling.pick_pooled((1.0, 2.0, 5.0, 0.5), c) == 1
    assert pooling.pick_pooled((1.0, 2.0), [Pooled(float("nan"), 0, 0, []), Pooled(-0.5, -0.5, -0.5, [])]) == 1


def test_pick_pooled_takes_the_gentlest_strength_within_one_standard_error_of_the_best():
    # The default run's 3x3 oracle-categorical dev curve: 5 is best, 2 is within one SE of it.
    curve = [Pooled(0.0394, 0.0237, 0.0565, []), Pooled(0.0594, 0.0379, 0.0810, []), Pooled(0.0691, 0.0398, 0.1006, [])]
    assert pooling.pick_pooled((1.0, 2.0, 5.0), curve) == 1
    # Half the CI width: one SE is 0.0077 and 2 falls outside; 5 stays.
    narrow = [Pooled(c.mean, c.mean - (c.mean - c.lo) / 2, c.mean + (c.hi - c.mean) / 2, []) for c in curve]
    assert pooling.pick_pooled((1.0, 2.0, 5.0), narrow) == 2
    # Gentler means smaller magnitude: -1 ties with 1 by size and keeps list order.
    flat = [Pooled(0.02, 0.0, 0.04, [])] * 3
    assert pooling.pick_pooled((2.0, 1.0, 1.0), flat) == 1


def test_pick_pooled_refuses_mismatched_lengths():
    with pytest.raises(EmosteerError):
        pooling.pick_pooled((1.0,), [])


def test_feedback_verdict_has_no_global_mean_condition():
    seeds = [0.02] * pooling.MIN_SEEDS
    assert pooling.verdict(Pooled(0.02, 0.01, 0.03, seeds), None) == "helps"
    assert pooling.verdict(Pooled(-0.02, -0.03, -0.01, seeds), None) == "hurts"
    assert pooling.verdict(Pooled(0.02, -0.01, 0.03, seeds), None) == "none"


def test_seed_sides_is_students_one_sample_t():
    from scipy import stats as sps

    x = [0.012, 0.03, -0.004, 0.021, 0.017]
    got = pooling.seed_sides(x)
    ref = sps.ttest_1samp(x, 0.0, alternative="greater").pvalue
    assert got.above == pytest.approx(ref) and got.below == pytest.approx(1 - ref)
    assert pooling.verdict_p(got, None) == pytest.approx(sps.ttest_1samp(x, 0.0).pvalue)
    assert pooling.seed_sides([0.0] * 5) == pooling.Sides(1.0, 1.0)  # the control vs itself
    assert pooling.seed_sides([0.01] * 5) == pooling.Sides(0.0, 1.0)
    assert pooling.seed_sides([0.01]) == pooling.seed_sides([0.1, float("nan")]) == pooling.Sides(1.0, 1.0)


def test_verdict_p_of_helps_is_the_larger_of_its_two_conditions():
    strong, weak, against = pooling.Sides(0.001, 0.999), pooling.Sides(0.02, 0.98), pooling.Sides(0.9, 0.1)
    assert pooling.verdict_p(strong, weak) == pytest.approx(0.04)  # both needed: max, doubled
    assert pooling.verdict_p(strong, None) == pytest.approx(0.002)
    assert pooling.verdict_p(against, strong) == pytest.approx(0.2)  # hurts: 2 * below
    assert pooling.verdict_p(strong, against) == pytest.approx(1.0)  # helps blocked, hurts absent


def test_holm_adjusted_p_values_known_answer():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
    got = pooling.holm([0.03, 0.01, 0.05, 0.02, 0.04])
    np.testing.assert_allclose(got, [0.09, 0.05, 0.09, 0.08, 0.09])
    np.testing.assert_allclose(pooling.holm([0.5, float("nan"), 0.001]), [1.0, 1.0, 0.003])
    assert pooling.holm([]).shape == (0,)
    assert pooling.corrected("hurts", 0.049) == "hurts" and pooling.corrected("hurts", 0.05) == "none"
    assert pooling.corrected("none", 0.0) == "none"


def test_holm_keeps_the_familywise_rate_under_dependence():
    """24 true nulls with exactly uniform, equicorrelated (rho 0.5) two-sided p-values: Holm makes
    a false call in at most 5% of families; uncorrected 5% per test, in far more of them."""
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    families, m = 4000, 24
    z = np.sqrt(0.5) * rng.normal(size=(families, 1)) + np.sqrt(0.5) * rng.normal(size=(families, m))
    p = 2 * norm.sf(np.abs(z))
    holm_any = np.mean([(pooling.holm(row) < pooling.ALPHA).any() for row in p])
    plain_any = np.mean((p < pooling.ALPHA).any(axis=1))
    se = np.sqrt(0.05 * 0.95 / families)
    assert holm_any <= 0.05 + 3 * se
    assert plain_any > 0.3


@pytest.mark.parametrize("seed_sd, clip_sd", [(0.0, 0.03), (0.05, 0.005)])
def test_seed_t_p_values_hold_their_level_however_the_spread_divides(seed_sd, clip_sd):
    """Under the null (pooled mean 0), the per-seed t p-value of 5 seeds rejects at about its level,
    at 5% and at 1%, whether the spread of the per-seed Δr comes from the seeds' models or from
    their clips (the two-level bootstrap's does not: docs/statistics.md)."""
    rng = np.random.default_rng(1)
    rows = 4000
    x = rng.normal(0, seed_sd, size=(rows, 5)) + rng.normal(0, clip_sd, size=(rows, 5))
    p = np.array([pooling.verdict_p(pooling.seed_sides(row), None) for row in x])
    for level in (0.05, 0.01):
        assert abs(np.mean(p < level) - level) < 4 * np.sqrt(level / rows)


def test_holm_on_pooled_seeds_controls_false_calls_end_to_end():
    """The whole chain under the null, on data: 6 verdicts a family, 5 seeds each whose true Δρ
    varies around 0 as much as clip sampling moves Δr; the plain rule (two-level bootstrap CI) and
    its Holm correction (per-seed t p-values). Holm keeps false calls near 5% of families."""
    rng = np.random.default_rng(2)
    families, m, seeds, n, n_boot = 200, 6, 5, 30, 60
    plain = holm = 0
    for f in range(families):
        calls, ps = [], []
        for _ in range(m):
            observed, reps = [], []
            for s in range(seeds):
                rho = 0.7071 + np.clip(rng.normal(0, 0.08), -0.25, 0.25)  # symmetric: mean 0
                y = rng.normal(size=n)
                base = y + rng.normal(size=n)
                new = y + rng.normal(scale=np.sqrt(1 / rho**2 - 1), size=n)
                o, r = pooling.delta_r(y, base, new, pooling.clip_bank(n, n_boot, 100 * f + s))
                observed.append(o)
                reps.append(r)
            calls.append(pooling.verdict(pooling.pool(observed, reps, n_boot), None))
            ps.append(pooling.verdict_p(pooling.seed_sides(observed), None))
        plain += any(c != "none" for c in calls)
        holm += any(pooling.corrected(c, a) != "none" for c, a in zip(calls, pooling.holm(ps)))
    assert holm / families <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / families)
    assert plain / families > 2.5 * holm / families
