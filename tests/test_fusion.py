"""Fusion twins: the points each variant steers toward, the fused predictions, the weight pick.

Expected values are worked by hand on a 3x3 grid (centres -2/3, 0, 2/3 per axis) whose bin 0
(valence and arousal both low) is empty and falls back to bin 1 (the lowest-index nearest bin).
"""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.errors import EmosteerError
from emosteer.evaluation import fusion, pooling
from emosteer.grid import Grid
from emosteer.steering import selection
from emosteer.steering.signals import SignalTable

C = 2 / 3


def _table() -> SignalTable:
    grid = Grid(3)
    counts = np.array([0, 4, 4, 4, 4, 4, 4, 4, 4])
    source = np.array([1, 1, 2, 3, 4, 5, 6, 7, 8])
    rng = np.random.RandomState(0)
    means = rng.rand(9, 128).astype(np.float32)[source]
    return SignalTable(
        grid=grid,
        valence=means,
        arousal=means[::-1].copy(),
        counts=counts,
        source=source,
        min_count=3,
        global_valence=means.mean(0),
        global_arousal=means.mean(0),
    )


def test_categorical_targets_the_centre_of_the_bin_whose_signal_it_uses() -> None:
    v, a = np.array([-0.9, 0.5, 0.0]), np.array([-0.9, -0.1, 1.0])
    got = fusion.targets(_table(), v, a, "categorical")
    # (-0.9, -0.9): bin 0, empty, uses bin 1's signal -> bin 1's centre (-2/3, 0)
    # (0.5, -0.1): bin (2, 1); (0, 1): bin (1, 2)
    np.testing.assert_allclose(got, [[-C, 0.0], [C, 0.0], [0.0, C]], atol=1e-12)


def test_idw_targets_the_centres_weighted_as_the_variant_weights_the_signals() -> None:
    got = fusion.targets(_table(), np.array([0.0]), np.array([0.0]), "idw")
    # from (0, 0): itself at d = 0 (w 1/0.1), four edge centres at d = 2/3, three populated corners
    # at d = 2*sqrt(2)/3 (the empty corner (-2/3, -2/3) is left out, as in selection.idw)
    w0, w1, w2 = 1 / 0.1, 1 / (C + 0.1), 1 / (2 * np.sqrt(2) / 3 + 0.1)
    total = w0 + 4 * w1 + 3 * w2
    # the edge centres cancel; the corners (-2/3, 2/3), (2/3, -2/3), (2/3, 2/3) leave 2/3 * w2 per axis
    np.testing.assert_allclose(got, [[C * w2 / total, C * w2 / total]], atol=1e-12)
    assert got[0, 0] == pytest.approx(0.0353, abs=1e-4)


def test_idw_target_equals_the_idw_blend_of_the_centres_with_the_variants_own_weights() -> None:
    table = _table()
    rng = np.random.RandomState(1)
    v, a = rng.uniform(-1, 1, 20), rng.uniform(-1, 1, 20)
    keep = table.populated
    pts = table.grid.centre_points()[keep]
    w = selection.idw_weights(pts, np.stack([v, a], 1))
    np.testing.assert_allclose(fusion.targets(table, v, a, "idw"), w @ pts, atol=1e-12)


def test_bilinear_targets_the_weighted_centres_of_the_four_bins_it_blends() -> None:
    v, a = np.array([-1 / 3, -0.5, 1.0]), np.array([1 / 3, -0.5, 1.0])
    got = fusion.targets(_table(), v, a, "bilinear")
    # (-1/3, 1/3) sits halfway between the centres of bins 1, 2, 4, 5: their mean (-1/3, 1/3)
    # (-0.5, -0.5): position 0.25 per axis; weights 0.5625, 0.1875, 0.1875, 0.0625 on bins 0, 1, 3, 4,
    # bin 0 taking bin 1's centre (-2/3, 0): v = -2/3 * 0.75 = -0.5, a = -2/3 * 0.1875 = -0.125
    # (1, 1): the outer half-bin keeps the edge centre (2/3, 2/3)
    np.testing.assert_allclose(got, [[-1 / 3, 1 / 3], [-0.5, -0.125], [C, C]], atol=1e-12)


def test_fused_moves_each_dim_a_share_w_toward_its_target() -> None:
    pv, pa = np.array([0.2, -0.4]), np.array([0.0, 0.9])
    target = np.array([[C, 0.0], [-C, C]])
    v, a = fusion.fused(pv, pa, target, 0.25)
    np.testing.assert_allclose(v, [0.75 * 0.2 + 0.25 * C, 0.75 * -0.4 - 0.25 * C], atol=1e-12)
    np.testing.assert_allclose(a, [0.0, 0.75 * 0.9 + 0.25 * C], atol=1e-12)
    np.testing.assert_array_equal(fusion.fused(pv, pa, target, 0.0)[0], pv)
    np.testing.assert_array_equal(fusion.fused(pv, pa, target, 1.0)[1], target[:, 1])


def test_bad_inputs_are_refused() -> None:
    table = _table()
    with pytest.raises(EmosteerError, match="weight must be in"):
        fusion.fuse(np.zeros(2), np.zeros(2), 1.5)
    with pytest.raises(EmosteerError, match="unknown method 'shuffled'"):
        fusion.targets(table, np.zeros(1), np.zeros(1), "shuffled")
    with pytest.raises(EmosteerError, match=r"selection: valence\[1\] = 1.2"):
        fusion.targets(table, np.array([0.0, 1.2]), np.zeros(2), "idw")
    with pytest.raises(EmosteerError, match=r"target must be \(N, 2\)"):
        fusion.fused(np.zeros(2), np.zeros(2), np.zeros(2), 0.5)


def test_pick_weight_pools_the_dev_score_over_seeds_and_takes_the_gentlest_within_one_se() -> None:
    """On clips whose unsteered prediction is the label plus noise and whose target is the label,
    a larger weight always helps on dev: the pick is the smallest weight within one SE of the best,
    which is what pooling.pick_pooled returns for the same curve."""
    dev = []
    for seed in range(3):
        rng = np.random.RandomState(seed)
        y = rng.uniform(-1, 1, size=(60, 2))
        pred = y + 0.5 * rng.randn(60, 2)
        dev.append(fusion.DevClips(seed, y[:, 0], y[:, 1], pred[:, 0], pred[:, 1], y.copy()))
    weights = [0.0, 0.5, 0.9, 1.0]
    pick, curve = fusion.pick_weight(dev, weights, n_boot=200)
    assert curve[0].mean == 0.0 and curve[0].lo == curve[0].hi == 0.0
    assert curve[1].mean < curve[2].mean < curve[3].mean  # closer to the labels, higher r
    assert pick == pooling.pick_pooled(weights, curve) and pick in (2, 3)
    # one seed's own Δr at w = 0.5, by hand: r(y, fused) - r(y, pred), mean over the two dims
    d = dev[0]
    by_hand = np.mean(
        [
            np.corrcoef(yy, 0.5 * p + 0.5 * yy)[0, 1] - np.corrcoef(yy, p)[0, 1]
            for yy, p in ((d.valence, d.pred_valence), (d.arousal, d.pred_arousal))
        ]
    )
    assert curve[1].per_seed[0] == pytest.approx(by_hand, abs=1e-12)
