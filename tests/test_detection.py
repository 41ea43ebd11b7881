"""Bin detection: accuracy, the confusion and the repair curve, the change in
mean |error| by group, and the break-even accuracy p* (synthetic arrays, known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.errors import EmosteerError
from emosteer.evaluation import detection
from emosteer.grid import Grid

G3 = Grid(3)


def test_bins_and_hits_known_answer():
    # true (v, a) and predictions; 1.4 is clipped to the top bin, as `predicted` selection does
    v, a = np.array([-0.9, 0.0, 0.9, 0.5]), np.array([-0.9, 0.0, 0.9, -0.5])
    pv, pa = np.array([-0.5, 0.5, 1.4, 0.5]), np.array([-0.8, 0.0, 0.2, 0.9])
    true, predicted = detection.bins(G3, v, a, pv, pa)
    assert true.tolist() == [0, 4, 8, 6] and predicted.tolist() == [0, 7, 7, 8]
    hits = detection.hits(G3, true, predicted)
    assert hits["joint"].tolist() == [True, False, False, False]
    assert hits["valence"].tolist() == [True, False, True, True]
    assert hits["arousal"].tolist() == [True, True, False, False]
    c = detection.confusion(G3, true, predicted)
    assert c.sum() == 4 and c[0, 0] == c[4, 7] == c[8, 7] == c[6, 8] == 1


def test_break_even_interpolates_the_first_crossing():
    ps = [1.0, 0.75, 0.5, 0.25, 0.0]
    # lower bound +0.02 at 0.75 and -0.02 at 0.5: crosses 0 halfway, at 0.625; a later recovery
    # below (at 0.25) does not count: the curve is read down from p = 1
    assert detection.break_even(ps, [0.05, 0.02, -0.02, 0.01, -0.1]) == detection.BreakEven(0.625, "crossed")
    assert detection.break_even(ps, [0.05, 0.03, 0.01, 0.0, -0.1]).p_star == pytest.approx(0.25)
    never = detection.break_even(ps, [-0.01, 0.02, 0.03, 0.04, 0.05])
    assert np.isnan(never.p_star) and never.status == "never_above"
    assert detection.break_even(ps, [0.1, 0.1, 0.1, 0.1, 0.1]) == detection.BreakEven(0.0, "above_everywhere")
    assert detection.break_even(ps, [0.1, float("nan"), 0.1, 0.1, 0.1]) == detection.BreakEven(1.0, "crossed")
    with pytest.raises(EmosteerError):
        detection.break_even([0.0, 1.0], [0.1, 0.2])


def test_repaired_accuracy_is_a_plus_q_one_minus_a():
    assert detection.repaired_accuracy(0.47, 0.0) == 0.47
    assert detection.repaired_accuracy(0.47, 1.0) == 1.0
    assert detection.repaired_accuracy(0.3, 0.5) == pytest.approx(0.65)


def test_repair_is_seeded_nested_exact_and_fixes_only_wrong_clips():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 9, 200)
    predicted = np.where(rng.random(200) < 0.4, true, (true + 1) % 9)
    rep = detection.repair(true, predicted, seed=3)
    again = detection.repair(true, predicted, seed=3)
    assert np.array_equal(rep.rank, again.rank)
    assert not np.array_equal(rep.rank, detection.repair(true, predicted, seed=4).rank)
    a = rep.right.mean()
    previous = np.zeros(200, bool)
    for q in sorted(detection.Q_GRID):
        fixed = rep.repaired(q)
        assert not (fixed & rep.right).any() and (fixed >= previous).all()  # nested in q
        assert fixed.sum() == round(q * rep.n_wrong)
        assert rep.accuracy(q) == pytest.approx(detection.repaired_accuracy(a, q), abs=0.5 / 200)
        previous = fixed
    with pytest.raises(EmosteerError, match="share of wrong clips"):
        rep.repaired(1.5)


def test_repair_curve_runs_from_the_models_bins_to_the_oracle():
    """q = 0: the model's-bin prediction everywhere it is wrong (a right clip's bin is its true
    bin); q = 1: the oracle prediction everywhere. Each point a lookup between the two."""
    rng = np.random.default_rng(1)
    n = 120
    y = rng.normal(size=n)
    base = y + rng.normal(size=n)
    oracle = base + 0.3 * (y - base)
    true = rng.integers(0, 9, n)
    predicted_bins = np.where(rng.random(n) < 0.5, true, (true + 2) % 9)
    right = true == predicted_bins
    predicted = np.where(right, oracle, base - 0.1 * (y - base))
    rep = detection.repair(true, predicted_bins, seed=0)
    delta, var, acc = detection.repair_curve(y, base, oracle, predicted, rep)
    assert detection.Q_GRID[0] == 1.0 and detection.Q_GRID[-1] == 0.0
    r = lambda p: np.corrcoef(y, p)[0, 1] - np.corrcoef(y, base)[0, 1]  # noqa: E731
    assert delta[0] == pytest.approx(r(oracle)) and delta[-1] == pytest.approx(r(predicted))
    assert acc[0] == 1.0 and acc[-1] == pytest.approx(right.mean())
    assert (var > 0).all() and np.all(np.diff(acc) <= 0)


def test_break_even_accuracy_maps_the_share_repaired_to_joint_accuracy():
    qs = (1.0, 0.5, 0.0)
    # estimate crosses 0 halfway between q = 0.5 (+0.01) and q = 0 (-0.01): q* = 0.25;
    # bound crosses between q = 1 (+0.02) and q = 0.5 (-0.02): q* = 0.75; a = 0.4
    got = detection.break_even_accuracy(qs, [0.03, 0.01, -0.01], [0.02, -0.02, -0.04], 0.4)
    assert got.estimate == pytest.approx(0.4 + 0.25 * 0.6) and got.estimate_status == "crossed"
    assert got.bound == pytest.approx(0.4 + 0.75 * 0.6) and got.bound_status == "crossed"
    already = detection.break_even_accuracy(qs, [0.03, 0.02, 0.01], [0.02, 0.01, 0.005], 0.4)
    assert already.bound == pytest.approx(0.4) and already.bound_status == "above_everywhere"
    never = detection.break_even_accuracy(qs, [0.01, 0.0, -0.01], [-0.01, -0.02, -0.03], 0.4)
    assert np.isnan(never.bound) and never.bound_status == "never_above"


def test_decomposition_groups_add_up_to_the_all_clips_row():
    rng = np.random.default_rng(2)
    seeds = []
    for _ in range(5):
        n = 50
        y = rng.normal(size=n)
        base, new = y + rng.normal(size=n), y + 0.8 * rng.normal(size=n)
        right = rng.random(n) < 0.45
        parts = detection.decompose(y, base, new, right)
        whole = np.mean(np.abs(new - y) - np.abs(base - y))
        assert parts["all"].change == pytest.approx(whole) and parts["all"].share == 1.0
        assert parts["right"].contribution + parts["wrong"].contribution == pytest.approx(whole)
        assert parts["right"].contribution == pytest.approx(parts["right"].share * parts["right"].change)
        assert parts["right"].change_var > 0 and parts["all"].contribution_var == pytest.approx(parts["all"].change_var)
        seeds.append(parts)
    pooled = {g: np.mean([p[g].contribution for p in seeds]) for g in ("right", "wrong", "all")}
    assert pooled["right"] + pooled["wrong"] == pytest.approx(pooled["all"])  # means of per-seed values
    empty = detection.decompose(np.zeros(4) + [0, 1, 2, 3], np.arange(4.0), np.arange(4.0) + 1, np.zeros(4, bool))
    assert np.isnan(empty["right"].change) and empty["right"].contribution == 0.0
