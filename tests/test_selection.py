"""Selection: categorical at exact edges, IDW and bilinear weights, and the two controls."""

import numpy as np
import pytest

from emosteer.constants import IDW_EPS, STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.steering.selection import (
    bilinear,
    bilinear_target,
    bilinear_weights,
    bin_permutation,
    bins_for,
    categorical,
    categorical_target,
    clip_unit,
    global_mean,
    idw,
    idw_target,
    idw_weights,
    permuted,
    select,
    shuffled,
)
from emosteer.steering.signals import SignalTable, nearest_populated


def _table(g: int, counts: np.ndarray | None = None, min_count: int = 1, own=None) -> SignalTable:
    """A table whose bin k's own mean is `own[k]` (default: every entry equals k)."""
    grid = Grid(g)
    k = grid.n_bins
    counts = np.full(k, 5, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    if own is None:
        own = np.repeat(np.arange(k, dtype=np.float32)[:, None], STEER_DIM, axis=1)
    source = nearest_populated(grid, counts >= min_count)
    return SignalTable(
        grid=grid,
        valence=own[source].astype(np.float32),
        arousal=(-own[source]).astype(np.float32),
        counts=counts,
        source=source,
        min_count=min_count,
        global_valence=np.full(STEER_DIM, 0.5, np.float32),
        global_arousal=np.full(STEER_DIM, -0.5, np.float32),
    )


@pytest.mark.parametrize("g", [3, 5, 7])
def test_categorical_at_exact_edges(g):
    table = _table(g)
    edges = table.grid.edges
    # every edge value on the valence axis, arousal at -1: lo <= x puts interior edges upward
    v = edges.copy()
    a = np.full_like(v, -1.0)
    expect_vi = list(range(g)) + [g - 1]
    steer_v, steer_a = categorical(table, v, a)
    assert steer_v[:, 0].tolist() == [vi * g for vi in expect_vi]
    assert steer_a[:, 0].tolist() == [-vi * g for vi in expect_vi]
    # the arousal axis, valence at +1 (last valence bin)
    steer_v, _ = categorical(table, np.ones_like(v), edges)
    assert steer_v[:, 0].tolist() == [(g - 1) * g + ai for ai in expect_vi]
    assert bins_for(table.grid, v, a).tolist() == [vi * g for vi in expect_vi]


def test_categorical_uses_fallback_rows():
    counts = np.zeros(9, dtype=np.int64)
    counts[[0, 8]] = 3
    table = _table(3, counts)
    steer_v, _ = categorical(table, np.array([0.0, 0.9, 0.5]), np.array([0.0, 0.1, 0.9]))
    # centre -> 0 (tie to lowest index); (positive, middle) -> 8; (positive, strong) -> 8
    assert steer_v[:, 0].tolist() == [0.0, 8.0, 8.0]


def test_clip_unit_for_predicted_selection():
    x = np.array([1.07, -1.3, 0.2, 1.0], dtype=np.float32)
    assert clip_unit(x).tolist() == [1.0, -1.0, float(np.float32(0.2)), 1.0]
    assert bins_for(Grid(5), clip_unit(x), np.zeros(4)).tolist() == [22, 2, 17, 22]
    with pytest.raises(EmosteerError, match=r"\[1\] is NaN"):
        clip_unit(np.array([0.0, np.nan]))
    with pytest.raises(EmosteerError, match=r"valence\[0\]"):
        categorical(_table(5), np.array([1.07]), np.array([0.0]))  # unclipped predictions are refused


def test_idw_weights_sum_to_one_and_equal_the_formula():
    rng = np.random.default_rng(0)
    pts = Grid(5).centre_points()
    query = np.concatenate([rng.uniform(-1, 1, (50, 2)), pts[:3], [[-1.0, 1.0]]])
    w = idw_weights(pts, query)
    assert w.shape == (len(query), 25)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    for n, q in enumerate(query):  # the report's formula, one query at a time
        raw = np.array([1.0 / (np.hypot(q[0] - c[0], q[1] - c[1]) + IDW_EPS) for c in pts])
        np.testing.assert_allclose(w[n], raw / raw.sum(), rtol=1e-12)
    # an exact hit is the heaviest weight (1/eps before normalising), not 1.0 as in the original
    hit = w[50]
    assert np.argmax(hit) == 0
    raw0 = 1.0 / IDW_EPS
    others = 1.0 / (np.hypot(*(pts[1:] - pts[0]).T) + IDW_EPS)
    assert hit[0] == pytest.approx(raw0 / (raw0 + others.sum()), rel=1e-12)
    with pytest.raises(EmosteerError, match="eps"):
        idw_weights(pts, query, eps=0.0)


def test_idw_uses_only_populated_centres_and_their_own_means():
    counts = np.array([5, 0, 5, 0, 1, 0, 5, 0, 5])
    table = _table(3, counts, min_count=2)  # bin 4 has 1 clip < min_count: falls back, left out
    v = np.array([0.1, -0.7, 1.0])
    a = np.array([0.2, 0.9, -1.0])
    steer_v, steer_a = idw(table, v, a)
    keep = [0, 2, 6, 8]
    w = idw_weights(Grid(3).centre_points()[keep], np.stack([v, a], 1))
    np.testing.assert_allclose(steer_v[:, 0], w @ np.array(keep, float), rtol=1e-6)
    np.testing.assert_allclose(steer_a[:, 5], -(w @ np.array(keep, float)), rtol=1e-6)
    assert steer_v.dtype == np.float32 and steer_v.shape == (3, STEER_DIM)


def _affine_table(g: int) -> tuple[SignalTable, np.ndarray]:
    c = Grid(g).centre_points()
    coef = np.random.default_rng(1).normal(size=(2, STEER_DIM))
    own = c @ coef + 0.25
    return _table(g, own=own), coef


@pytest.mark.parametrize("g", [2, 3, 5, 7])
def test_bilinear_reproduces_affine_signals_inside_the_centres(g):
    table, coef = _affine_table(g)
    rng = np.random.default_rng(2)
    lim = 1.0 - 1.0 / g  # outermost centre
    v, a = rng.uniform(-lim, lim, 40), rng.uniform(-lim, lim, 40)
    v[:2], a[:2] = [-lim, lim], [lim, 0.0]
    steer_v, steer_a = bilinear(table, v, a)
    expect = np.stack([v, a], 1) @ coef + 0.25
    np.testing.assert_allclose(steer_v, expect, atol=1e-5)
    np.testing.assert_allclose(steer_a, -expect, atol=1e-5)


def test_bilinear_weights_formula_and_clamping():
    grid = Grid(5)
    # (0.1, -0.5): t_v = 2.25 -> between centres 2 and 3 with f = 0.25; t_a = 0.75 -> 0 and 1, f = 0.75
    flat, w = bilinear_weights(grid, np.array([0.1]), np.array([-0.5]))
    assert flat[0].tolist() == [2 * 5 + 0, 2 * 5 + 1, 3 * 5 + 0, 3 * 5 + 1]
    np.testing.assert_allclose(w[0], [0.75 * 0.25, 0.75 * 0.75, 0.25 * 0.25, 0.25 * 0.75], atol=1e-12)
    # outer half-bins clamp to the edge centre; exact edges and centres are fine too
    v = np.array([-1.0, 1.0, -0.9, 0.8, 0.2, 0.0])
    a = np.array([-1.0, 1.0, 0.95, 0.8, -0.2, 0.4])
    flat, w = bilinear_weights(grid, v, a)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    value = (w * flat).sum(axis=1)  # each weight on its own corner: a point at a centre -> that bin
    np.testing.assert_allclose(value[:4], [0, 24, 4, 24], atol=1e-12)
    steer_v, _ = bilinear(_table(5), v, a)
    np.testing.assert_allclose(steer_v[:4, 0], [0, 24, 4, 24], atol=1e-5)
    # halfway between centres 2 and 3 (0.2 is the edge): the mean of the two rows
    np.testing.assert_allclose(steer_v[4, 0], (12 + 11 + 17 + 16) / 4, atol=1e-5)


def test_shuffled_control_follows_the_documented_rule():
    counts = np.array([5, 0, 5, 3, 1, 0, 5, 4, 5])
    table = _table(3, counts, min_count=2)
    populated = np.flatnonzero(table.populated)
    perm = np.random.Generator(np.random.PCG64(11)).permutation(len(populated))
    expect = {int(p): int(populated[perm[i]]) for i, p in enumerate(populated)}
    mapping = bin_permutation(table, 11)
    for k in range(9):
        assert mapping[k] == expect[int(table.source[k])]
    assert set(mapping[populated].tolist()) == set(populated.tolist())  # bijection on populated bins
    assert table.populated[mapping].all()  # never an empty bin

    rng = np.random.default_rng(4)
    v, a = rng.uniform(-1, 1, 30), rng.uniform(-1, 1, 30)
    steer_v, steer_a = shuffled(table, v, a, seed=11)
    flat = Grid(3).bin_index(v, a)
    assert steer_v[:, 0].tolist() == mapping[flat].astype(float).tolist()
    assert steer_a[:, 0].tolist() == (-mapping[flat]).astype(float).tolist()
    # seeded: same seed, same answer; another seed, another assignment
    np.testing.assert_array_equal(shuffled(table, v, a, seed=11)[0], steer_v)
    assert any((bin_permutation(table, s) != mapping).any() for s in range(12, 20))
    # the interpolating variants blend the same centres with shuffled signals
    for method in ("idw", "bilinear"):
        np.testing.assert_array_equal(
            shuffled(table, v, a, 11, method)[0], select(permuted(table, 11), v, a, method)[0]
        )
    with pytest.raises(EmosteerError, match="seed"):
        bin_permutation(table, -1)


def test_global_mean_control_and_method_dispatch():
    table = _table(3)
    gv, ga = global_mean(table, 4)
    assert gv.shape == (4, STEER_DIM) and (gv == 0.5).all() and (ga == -0.5).all()
    assert global_mean(table, 0)[0].shape == (0, STEER_DIM)
    v, a = np.array([0.3]), np.array([-0.3])
    for name, fn in (("categorical", categorical), ("idw", idw), ("bilinear", bilinear)):
        np.testing.assert_array_equal(select(table, v, a, name)[0], fn(table, v, a)[0])
    with pytest.raises(EmosteerError, match="unknown method"):
        select(table, v, a, "nearest")


# --- the point each selection's signal stands for (a fusion's target) ---------------------------


@pytest.mark.parametrize("g", [3, 5])
def test_targets_weigh_the_centres_as_the_signals_weigh_the_means(g):
    """A table whose bin k's signal is its own centre: each selection's signal is then its target,
    so the target is the same blend of centres as the signal is of the bins' means."""
    grid = Grid(g)
    centres = grid.centre_points()
    own = np.zeros((grid.n_bins, STEER_DIM), np.float32)
    own[:, :2] = centres
    table = _table(g, own=own)
    rng = np.random.default_rng(g)
    v, a = rng.uniform(-1, 1, 40), rng.uniform(-1, 1, 40)
    for pick, target in ((categorical, categorical_target), (idw, idw_target), (bilinear, bilinear_target)):
        sv, _ = pick(table, v, a)
        np.testing.assert_allclose(target(table, v, a), sv[:, :2], atol=1e-6)
    np.testing.assert_array_equal(categorical_target(table, v, a), centres[bins_for(grid, v, a)])


def test_bilinear_target_is_the_point_itself_between_the_outer_centres():
    table = _table(5)
    c = table.grid.centres
    v, a = np.array([c[0], 0.13, c[-1]]), np.array([-0.21, c[2], c[-1]])
    np.testing.assert_allclose(bilinear_target(table, v, a), np.stack([v, a], axis=1), atol=1e-12)
    # outside the outer centres it is clamped to them, as the signal is
    np.testing.assert_allclose(bilinear_target(table, np.array([1.0]), np.array([-1.0])), [[c[-1], c[0]]])


def test_idw_target_leaves_out_the_bins_that_fell_back():
    counts = np.full(9, 5)
    counts[4] = 0  # the centre bin is empty: its row is a neighbour's
    table = _table(3, counts=counts, min_count=1)
    t = idw_target(table, np.array([0.0]), np.array([0.0]))
    np.testing.assert_allclose(t, [[0.0, 0.0]], atol=1e-12)  # the eight others, symmetric about 0
