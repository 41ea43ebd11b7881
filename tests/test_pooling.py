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


@pytest.mark.parametrize("dr, gm, expected", [
    ((0.02, 0.01, 0.03), (0.01, 0.001, 0.02), "helps"),
    ((0.02, 0.01, 0.03), (0.01, -0.001, 0.02), "none"),   # no better than the global-mean control
    ((0.02, -0.01, 0.03), (0.01, 0.001, 0.02), "none"),   # CI vs unsteered includes 0
    ((-0.02, -0.03, -0.01), (0.0, -0.01, 0.01), "hurts"),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), "none"),           # the global-mean control against itself
])
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
    curve = [Pooled(0.0394, 0.0237, 0.0565, []), Pooled(0.0594, 0.0379, 0.0810, []),
             Pooled(0.0691, 0.0398, 0.1006, [])]
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


