"""Pooling over seeds: the two-level bootstrap, the verdict rule, the pooled strength choice."""

from __future__ import annotations

import numpy as np
import pytest

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
    assert pooling.verdict(Pooled(*dr, []), Pooled(*gm, [])) == expected


def test_pick_pooled_prefers_best_then_gentler_and_ranks_nan_last():
    c = [Pooled(m, 0, 0, []) for m in (0.01, 0.03, 0.03, float("nan"))]
    assert pooling.pick_pooled((1.0, 2.0, 5.0, 0.5), c) == 2.0
    assert pooling.pick_pooled((1.0, 2.0), [Pooled(float("nan"), 0, 0, []), Pooled(-0.5, 0, 0, [])]) == 2.0
