"""Steerability: per-bin induced shifts with bootstrap CIs, directionality r, pooling, plot rows."""

import numpy as np
import pytest

from emosteer.constants import STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.steering.signals import SignalTable, nearest_populated
from emosteer.steering.steerability import Steerability, analyse, metrics, plot_rows, pool, shifts, summarise

N, T = 12, 16


def _table(g: int = 3, counts: np.ndarray | None = None) -> SignalTable:
    """Bin k's valence signal holds (centre_v, k, 0, ...), its arousal signal (centre_a, k, 0, ...)."""
    grid = Grid(g)
    k = grid.n_bins
    counts = np.full(k, 4, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    centres = grid.centre_points()
    own_v = np.zeros((k, STEER_DIM), np.float32)
    own_a = np.zeros((k, STEER_DIM), np.float32)
    own_v[:, 0], own_a[:, 0] = centres[:, 0], centres[:, 1]
    own_v[:, 1] = own_a[:, 1] = np.arange(k)
    source = nearest_populated(grid, counts >= 1)
    return SignalTable(
        grid=grid,
        valence=own_v[source],
        arousal=own_a[source],
        counts=counts,
        source=source,
        min_count=1,
        global_valence=own_v.mean(0),
        global_arousal=own_a.mean(0),
    )


def _features(n: int = N) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, T, 64)).astype(np.float32)


def _base(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = x.mean(axis=(1, 2)).astype(np.float64)
    return m, -m


class FakeModel:
    """predict(x, rows, sv, sa, s) on clips x[rows]: unsteered (m, -m) plus s * gain * (sv[:,0],
    sa[:,0]) plus optional noise
    that depends on the clip and the bin (through sv[:, 1] = bin index). Records its calls."""

    def __init__(
        self, gain_v: float = 1.0, gain_a: float = 1.0, noise: float = 0.0, cross: bool = False, offset: float = 0.0
    ):
        self.gain_v, self.gain_a, self.noise, self.cross, self.calls = gain_v, gain_a, noise, cross, []
        self.offset = offset  # a pull of every steered valence prediction, whatever the bin

    def __call__(self, x, rows, sv, sa, s):
        self.calls.append((len(x), rows, sv[:, 1].copy(), s))
        x = x[rows]
        assert sv.shape == sa.shape == (len(x), STEER_DIM)
        m = x.mean(axis=(1, 2)).astype(np.float64)
        wobble = self.noise * np.sin(1000.0 * m + 7.0 * sv[:, 1])
        drive_v = sa[:, 0] if self.cross else sv[:, 0]  # cross: valence follows the AROUSAL centre
        return m + s * self.gain_v * drive_v + wobble + self.offset, -m + s * self.gain_a * sa[:, 0] - wobble


def test_exact_linear_shift_gives_r_one_and_tight_cis() -> None:
    x, table, fake = _features(), _table(), FakeModel()
    res = analyse(fake, table, x, *_base(x), strength=2.0, n_boot=200, seed=1)
    # one call: each clip once, under the 9 bins in turn (its passes next to each other)
    assert len(fake.calls) == 1 and fake.calls[0][0] == N and fake.calls[0][3] == 2.0
    np.testing.assert_array_equal(fake.calls[0][1], np.repeat(np.arange(N), 9))
    np.testing.assert_array_equal(fake.calls[0][2], np.tile(table.valence[:, 1], N))
    centres = table.grid.centre_points()
    np.testing.assert_allclose(res.shift_valence, 2.0 * centres[:, 0], atol=1e-6)
    np.testing.assert_allclose(res.shift_arousal, 2.0 * centres[:, 1], atol=1e-6)
    np.testing.assert_allclose(res.shift_valence_lo, res.shift_valence, atol=1e-6)  # no clip spread
    for d in (res.valence, res.arousal):
        assert d.r == pytest.approx(1.0) and d.lo == pytest.approx(1.0) and d.n_bins == 9
        assert d.slope == pytest.approx(2.0) and d.slope_lo == pytest.approx(2.0)  # shift = 2 * centre
        assert d.common == pytest.approx(0.0, abs=1e-12)  # centres of a full grid average to 0


def test_common_pull_is_separate_from_direction() -> None:
    """A pull of every prediction alike changes the common shift, not r or the slope."""
    x, table = _features(), _table()
    plain = analyse(FakeModel(gain_v=0.1), table, x, *_base(x), strength=1.0, n_boot=50)
    pulled = analyse(FakeModel(gain_v=0.1, offset=-0.4), table, x, *_base(x), strength=1.0, n_boot=50)
    assert pulled.valence.common == pytest.approx(-0.4) and plain.valence.common == pytest.approx(0.0, abs=1e-12)
    assert pulled.valence.r == pytest.approx(plain.valence.r) == pytest.approx(1.0)
    assert pulled.valence.slope == pytest.approx(0.1)
    assert metrics(pulled)["valence_common_shift"] == pytest.approx(-0.4)
    rows = plot_rows(pulled)
    assert [r["shift_valence"] for r in rows] == pytest.approx([r["shift_valence_vs_common"] - 0.4 for r in rows])
    assert sum(r["shift_valence_vs_common"] for r in rows) == pytest.approx(0.0, abs=1e-12)


def test_reversed_and_unrelated_directions() -> None:
    x, table = _features(), _table()
    rev = analyse(FakeModel(gain_v=-1.0), table, x, *_base(x), strength=1.0, n_boot=50)
    assert rev.valence.r == pytest.approx(-1.0) and rev.arousal.r == pytest.approx(1.0)
    # valence shift follows the arousal centre: over a full grid the two axes are uncorrelated
    cross = analyse(FakeModel(cross=True), table, x, *_base(x), strength=1.0, n_boot=50)
    assert cross.valence.r == pytest.approx(0.0, abs=1e-12)


def test_noisy_shift_ci_brackets_the_truth() -> None:
    x, table = _features(40), _table()
    res = analyse(FakeModel(noise=0.3), table, x, *_base(x), strength=0.5, n_boot=300, seed=2)
    centres = table.grid.centre_points()
    assert (res.shift_valence_lo <= res.shift_valence).all() and (res.shift_valence <= res.shift_valence_hi).all()
    width = res.shift_valence_hi - res.shift_valence_lo
    assert (width > 0.01).all()  # the noise shows
    truth = 0.5 * centres[:, 0]
    inside = (res.shift_valence_lo <= truth) & (truth <= res.shift_valence_hi)
    assert inside.sum() >= 7  # a 95% CI misses the truth now and then, not often
    assert res.valence.lo <= res.valence.r <= res.valence.hi < 1.0 and res.valence.r > 0.5
    again = analyse(FakeModel(noise=0.3), table, x, *_base(x), strength=0.5, n_boot=300, seed=2)
    assert again.valence == res.valence  # deterministic given the seed


def test_only_populated_bins_and_too_few_bins() -> None:
    x = _features()
    counts = np.zeros(9, np.int64)
    counts[[0, 4, 8, 2]] = 3
    res = analyse(FakeModel(), _table(counts=counts), x, *_base(x), strength=1.0, n_boot=20)
    assert res.bins.tolist() == [0, 2, 4, 8]
    assert [r["bin"] for r in plot_rows(res)] == [
        "negative_weak",
        "negative_strong",
        "neutral_middle",
        "positive_strong",
    ]
    counts = np.zeros(9, np.int64)
    counts[[0, 8]] = 3
    two = analyse(FakeModel(), _table(counts=counts), x, *_base(x), strength=1.0, n_boot=20)
    assert np.isnan(two.valence.r) and two.valence.n_bins == 2  # no correlation over 2 bins


def test_plot_rows_and_metrics() -> None:
    x = _features()
    res = analyse(FakeModel(), _table(), x, *_base(x), strength=1.0, n_boot=20)
    rows = plot_rows(res)
    assert len(rows) == 9
    assert rows[5] == {
        "bin": "neutral_strong",
        "valence_centre": 0.0,
        "arousal_centre": pytest.approx(2 / 3),
        "shift_valence": pytest.approx(0.0, abs=1e-9),
        "shift_arousal": pytest.approx(2 / 3),
        "shift_valence_vs_common": pytest.approx(0.0, abs=1e-9),
        "shift_arousal_vs_common": pytest.approx(2 / 3),
    }
    m = metrics(res)
    assert m["arousal_direction_r"] == pytest.approx(1.0) and m["valence_n_bins"] == 9 and m["n_clips"] == N


def test_pool_over_seeds() -> None:
    x = _features(30)
    table = _table()
    one = analyse(FakeModel(noise=0.4), table, x, *_base(x), strength=0.5, n_boot=100, seed=0)
    two = analyse(
        FakeModel(noise=0.4, gain_v=0.2), table, x[::-1].copy(), *_base(x[::-1]), strength=0.5, n_boot=100, seed=1
    )
    pooled = pool([one, two])
    assert pooled.valence.n_seeds == 2 and pooled.n_clips == 60
    lo_r, hi_r = sorted([one.valence.r, two.valence.r])
    assert lo_r <= pooled.valence.r <= hi_r
    assert pooled.valence.slope == pytest.approx((one.valence.slope + two.valence.slope) / 2)
    assert pooled.valence.slope_lo < pooled.valence.slope < pooled.valence.slope_hi
    assert pooled.valence.lo < pooled.valence.r < pooled.valence.hi
    np.testing.assert_allclose(pooled.shift_valence, (one.shift_valence + two.shift_valence) / 2)
    assert pooled.seeds_per_bin.tolist() == [2] * 9
    single = pool([one])
    assert (single.valence.r, single.valence.lo, single.valence.hi) == (one.valence.r, one.valence.lo, one.valence.hi)
    # bins populated in only some seeds are averaged over those seeds
    counts = np.full(9, 4)
    counts[4] = 0
    three = analyse(FakeModel(), _table(counts=counts), x, *_base(x), strength=0.5, n_boot=20)
    mixed = pool([one, three])
    assert mixed.seeds_per_bin.tolist() == [2, 2, 2, 2, 1, 2, 2, 2, 2]
    assert mixed.shift_valence[4] == pytest.approx(one.shift_valence[4])


def test_refusals() -> None:
    x, table = _features(), _table()
    base = _base(x)
    with pytest.raises(EmosteerError, match=r"base_valence must have shape \(12,\)"):
        analyse(FakeModel(), table, x, base[0][:5], base[1], strength=1.0)

    def nan_for_bin_2(x, rows, sv, sa, s):
        v, a = FakeModel()(x, rows, sv, sa, s)
        return np.where(sv[:, 1] == 2, np.nan, v), a

    with pytest.raises(EmosteerError, match=r"steered by bin 'negative_strong': valence is not finite at index 0"):
        analyse(nan_for_bin_2, table, x, *base, strength=1.0)
    with pytest.raises(EmosteerError, match="nothing to pool"):
        pool([])
    other = analyse(FakeModel(), _table(g=5), x, *base, strength=1.0, n_boot=10)
    res = analyse(FakeModel(), table, x, *base, strength=1.0, n_boot=10)
    assert isinstance(res, Steerability)
    with pytest.raises(EmosteerError, match="different grids"):
        pool([res, other])


def test_a_pair_strength_reaches_predict_and_is_kept_in_the_metrics() -> None:
    x, table = _features(), _table()
    seen = []

    def predict(features, rows, sv, sa, s):
        seen.append(s)
        neg, pos = s
        return FakeModel()(features, rows, sv, sa, pos)

    res = analyse(predict, table, x, *_base(x), strength=[-0.5, 2.0], n_boot=10)
    assert set(seen) == {(-0.5, 2.0)}  # the JSON-style list arrives as the hashable pair
    assert res.strength == (-0.5, 2.0) and metrics(res)["strength"] == [-0.5, 2.0]
    assert pool([res, res]).strength == (-0.5, 2.0)
    other = analyse(FakeModel(), table, x, *_base(x), strength=-1, n_boot=10)
    assert metrics(other)["strength"] == -1.0
    with pytest.raises(EmosteerError, match=r"different strengths \(-0.5/2, -1\)"):
        pool([res, other])


def test_bins_split_over_tasks_and_stacked_back_give_the_same_result() -> None:
    """What the steerability stage relies on to spread a seed's bins over workers."""
    x, table = _features(), _table()
    whole = analyse(FakeModel(noise=0.3), table, x, *_base(x), strength=0.5, n_boot=100, seed=4)
    bins = np.flatnonzero(table.populated)
    shares = [shifts(FakeModel(noise=0.3), table, x, *_base(x), 0.5, part) for part in np.array_split(bins, 3)]
    moved = {dim: np.concatenate([s[dim] for s in shares]) for dim in ("valence", "arousal")}
    split = summarise(table, bins, moved, 0.5, n_boot=100, seed=4)
    for name in ("shift_valence", "shift_valence_lo", "shift_arousal_hi"):
        assert np.array_equal(getattr(whole, name), getattr(split, name)), name
    assert whole.valence == split.valence and whole.arousal == split.arousal


def test_toward_counts_bins_the_clip_moves_toward_known_answer() -> None:
    from emosteer.steering.steerability import toward

    centre = np.array([-0.5, 0.0, 0.5])
    base = np.array([0.2, 0.0, -0.9])
    shift = np.array(
        [
            [-0.1, -0.1, -0.3],  # bin at -0.5: toward for clips 0, 1; away for clip 2
            [-0.2, 0.4, 0.0],  # bin at 0.0: toward for clip 0; clip 1 sits on it (left
            [0.1, 0.2, 0.1],
        ]
    )  # out); zero shift is not toward; bin at 0.5: toward all
    share, common = toward(shift, centre, base)
    np.testing.assert_allclose(share, [1.0, 1.0, 1 / 3])
    # common shifts -0.067, +0.167, -0.067: 'toward' the bins on that side of the clip only
    np.testing.assert_allclose(common, [2 / 3, 1 / 2, 0.0])
    on_every_centre, _ = toward(np.ones((1, 1)), np.array([0.3]), np.array([0.3]))
    assert np.isnan(on_every_centre).all()
    with pytest.raises(EmosteerError):
        toward(np.ones((2, 3)), centre, base)


def test_measured_strengths_adds_the_chosen_strength_once() -> None:
    from emosteer.steering.steerability import measured_strengths

    assert measured_strengths(5.0, 2.0) == (5.0, 2.0)
    assert measured_strengths(5.0, 5) == (5.0,) and measured_strengths(5.0, None) == (5.0,)
    assert measured_strengths(5.0, [0.5, 2.0]) == (5.0, (0.5, 2.0))


def test_toward_target_known_answer() -> None:
    from emosteer.steering.steerability import toward_target

    # clip 0 below its target moves up (toward); clip 1 above its target moves up (away); clip 2 sits
    # on its target (no direction); clip 3 does not move (not toward)
    got = toward_target(np.array([0.1, 0.1, 0.2, 0.0]), np.array([0.5, -0.5, 0.3, 0.5]), np.array([0.0, 0.0, 0.3, 0.0]))
    assert got[[0, 1, 3]].tolist() == [1.0, 0.0, 0.0] and np.isnan(got[2])
    with pytest.raises(EmosteerError, match="same clips"):
        toward_target(np.zeros(3), np.zeros(2), np.zeros(3))
