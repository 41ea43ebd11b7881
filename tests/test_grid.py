"""Grid: one boundary rule (lo <= x < hi, +1 in the last bin), exact edges, names."""

from fractions import Fraction

import numpy as np
import pytest

from emosteer.constants import COARSE_GRID, FINE_GRID
from emosteer.errors import EmosteerError
from emosteer.grid import Grid


@pytest.mark.parametrize("g", [2, 3, 5, 7, 10])
def test_edges_are_correctly_rounded_exact_values(g):
    grid = Grid(g)
    exact = [Fraction(-1) + Fraction(2 * k, g) for k in range(g + 1)]
    assert grid.edges.dtype == np.float64
    assert grid.edges.tolist() == [float(e) for e in exact]
    assert grid.edges[0] == -1.0 and grid.edges[-1] == 1.0
    np.testing.assert_allclose(grid.centres, (grid.edges[:-1] + grid.edges[1:]) / 2, atol=1e-15)


def test_report_edges_for_fine_grid():
    assert Grid(FINE_GRID).edges.tolist() == [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]
    assert Grid(FINE_GRID).centres.tolist() == [-0.8, -0.4, 0.0, 0.4, 0.8]
    assert Grid(COARSE_GRID).edges.tolist() == [-1.0, -1 / 3, 1 / 3, 1.0]


@pytest.mark.parametrize("g", [3, 5, 7])
def test_exact_edges_go_to_the_upper_bin(g):
    grid = Grid(g)
    edges = grid.edges
    # every interior edge, as a float64 value, opens bin k (lo <= x)
    for k in range(1, g):
        assert grid.axis_index(np.array([edges[k]]))[0] == k
        below = np.nextafter(edges[k], -np.inf)
        assert grid.axis_index(np.array([below]))[0] == k - 1
    # the outer edges: -1 is in bin 0, +1 is in the last bin
    assert grid.axis_index(np.array([-1.0, 1.0])).tolist() == [0, g - 1]
    assert grid.axis_index(np.array([-1.0, 1.0], dtype=np.float32)).tolist() == [0, g - 1]


@pytest.mark.parametrize("g", [3, 5, 7])
def test_float32_values_are_binned_by_their_exact_value(g):
    grid = Grid(g)
    interior = grid.edges[1:-1]
    x32 = interior.astype(np.float32)
    expected = np.searchsorted(interior, x32.astype(np.float64), side="right")
    got = grid.axis_index(x32)
    assert got.tolist() == expected.tolist()
    # and the result is the same whether the caller passes float32 or its float64 promotion
    assert grid.axis_index(x32.astype(np.float64)).tolist() == got.tolist()
    for k, (x, e) in enumerate(zip(x32, interior), start=1):
        assert got[k - 1] == (k if float(x) >= e else k - 1)


def test_float32_point_two_examples():
    grid = Grid(5)
    # np.float32(0.2) = 0.20000000298... >= 0.2: "positive"; np.float32(-0.2) = -0.20000000298... < -0.2
    assert grid.axis_index(np.array([np.float32(0.2)])).tolist() == [3]
    assert grid.axis_index(np.array([np.float32(-0.2)])).tolist() == [1]
    assert grid.axis_index(np.array([0.2, -0.2, 0.6, -0.6])).tolist() == [3, 2, 4, 1]
    g3 = Grid(3)
    assert g3.axis_index(np.array([1 / 3, -1 / 3])).tolist() == [2, 1]
    assert g3.axis_index(np.array([np.float32(1 / 3), np.float32(-1 / 3)])).tolist() == [
        2 if float(np.float32(1 / 3)) >= 1 / 3 else 1,
        1 if float(np.float32(-1 / 3)) >= -1 / 3 else 0,
    ]


def test_bin_index_is_valence_major_and_round_trips():
    grid = Grid(5)
    v = np.array([-1.0, -1.0, 1.0, 0.0, 0.5])
    a = np.array([-1.0, 1.0, -1.0, 0.0, -0.5])
    flat = grid.bin_index(v, a)
    assert flat.tolist() == [0, 4, 20, 12, 3 * 5 + 1]
    vi, ai = grid.bin_coords(flat)
    assert vi.tolist() == [0, 0, 4, 2, 3] and ai.tolist() == [0, 4, 0, 2, 1]
    pts = grid.centre_points()
    assert pts.shape == (25, 2)
    assert pts[flat].tolist() == [[-0.8, -0.8], [-0.8, 0.8], [0.8, -0.8], [0.0, 0.0], [0.4, -0.4]]
    # centres land in their own bin
    assert grid.bin_index(pts[:, 0], pts[:, 1]).tolist() == list(range(25))


def test_names_for_3_5_7():
    n3 = Grid(3).names()
    assert len(n3) == 9
    assert n3[0] == "negative_weak" and n3[4] == "neutral_middle" and n3[8] == "positive_strong"
    assert n3[1] == "negative_middle"  # valence-major: arousal varies fastest
    n5 = Grid(5).names()
    assert len(n5) == 25 and len(set(n5)) == 25
    assert n5[0] == "very_negative_very_weak"
    assert n5[12] == "neutral_middle"
    assert n5[24] == "very_positive_very_strong"
    assert n5[5 * 3 + 4] == "positive_very_strong"
    n7 = Grid(7).names()
    assert len(n7) == 49 and len(set(n7)) == 49
    assert n7[0] == "v0_a0" and n7[1] == "v0_a1" and n7[7] == "v1_a0" and n7[48] == "v6_a6"


@pytest.mark.parametrize("bad", [1, 0, -3, 2.0, True, "5"])
def test_invalid_size(bad):
    with pytest.raises(EmosteerError, match="size"):
        Grid(bad)


def test_grid_accepts_numpy_integer():
    assert Grid(np.int64(5)).size == 5


def test_bad_labels_name_the_first_bad_index():
    grid = Grid(5)
    with pytest.raises(EmosteerError, match=r"data.h5: valence\[2\]"):
        grid.bin_index(np.array([0.0, 0.5, 1.5, np.nan]), np.zeros(4), where="data.h5")
    with pytest.raises(EmosteerError, match=r"arousal\[1\] = nan"):
        grid.bin_index(np.zeros(3), np.array([0.0, np.nan, -2.0]))
    with pytest.raises(EmosteerError, match="shape"):
        grid.bin_index(np.zeros(3), np.zeros(4))
    with pytest.raises(EmosteerError, match=r"flat bin index \[1\] = 25"):
        grid.bin_coords(np.array([3, 25]))
