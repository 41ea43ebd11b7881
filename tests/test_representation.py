"""The representation measure: how much of a signal table's between-bin variance the value explains."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.errors import EmosteerError
from emosteer.steering.representation import neighbour_means, value_share


def test_a_hand_worked_example() -> None:
    # acts 0, 2, 4, 6 in bins 0, 0, 1, 1; bin means 1 and 5 around 3: SS_between 16, SS_total 20.
    # k = 1: clip 1 is as near clip 0 as clip 2 and takes the lower value, so the stand-ins are
    # 2, 0, 2, 4, their bin means 1 and 3, residuals 0 and 2: value = 1 - 2 * 4 / 16.
    acts, value, bins = np.array([[0.0], [2.0], [4.0], [6.0]]), np.arange(4.0), np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(neighbour_means(acts, value, 1)[:, 0], [2.0, 0.0, 2.0, 4.0])
    share = value_share(acts, value, bins, k=1)
    assert share.between == pytest.approx(16 / 20)
    assert share.value == pytest.approx(0.5)
    assert share.linear == pytest.approx(1.0)  # acts = 2 * value: a line
    assert share.noise == pytest.approx((2 - 1) * 20 / 3 / 16)
    assert (share.n_bins, share.n_clips) == (2, 4)


def _population_code(value: np.ndarray) -> np.ndarray:
    """128 tuning curves over [-2, 2] (the ridge read-out's code)."""
    knots = np.linspace(-2, 2, 128)
    return np.maximum(0.0, 1 - np.abs(value[:, None] - knots[None, :]) / 0.25)


def test_a_population_code_is_all_value_and_a_straight_line_understates_it() -> None:
    rng = np.random.RandomState(0)
    label = rng.uniform(-1, 1, 400)
    value = 0.8 * label + 0.2 * rng.randn(400)  # the estimate: bins are by label, the code by value
    bins = np.digitize(label, [-1 / 3, 1 / 3])
    share = value_share(_population_code(value), value, bins)
    assert share.value > 0.97
    assert share.linear < share.value - 0.2
    assert share.noise < 0.05


def test_units_unrelated_to_the_value_are_not_value() -> None:
    """Bins that differ in units the value does not predict: the between-bin part beyond noise is
    not explained by the value."""
    rng = np.random.RandomState(1)
    n = 600
    label = rng.uniform(-1, 1, n)
    bins = np.digitize(label, [-1 / 3, 1 / 3])
    value = rng.randn(n)  # unrelated to the bins
    acts = rng.randn(n, 64) + np.eye(3)[bins] @ rng.randn(3, 64)  # a bin offset per unit
    share = value_share(acts, value, bins)
    assert share.between > 0.3 and share.noise < 0.05
    assert abs(share.value) < 0.1 and abs(share.linear) < 0.05


def test_pure_noise_sits_at_the_noise_share() -> None:
    rng = np.random.RandomState(2)
    shares = [value_share(rng.randn(300, 32), rng.randn(300), rng.randint(0, 9, 300)) for _ in range(20)]
    assert np.mean([s.noise for s in shares]) == pytest.approx(1.0, abs=0.1)


def test_bad_inputs() -> None:
    with pytest.raises(EmosteerError, match="k must be in 1..3"):
        value_share(np.zeros((4, 2)), np.zeros(4), np.zeros(4), k=4)
    with pytest.raises(EmosteerError, match="need acts"):
        value_share(np.zeros((4, 2)), np.zeros(3), np.zeros(4))
    with pytest.raises(EmosteerError, match="finite"):
        value_share(np.full((4, 2), np.nan), np.zeros(4), np.zeros(4), k=1)
