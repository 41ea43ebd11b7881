"""Steering evaluation: the methods, per-clip signals per method, strength curve and choice, scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.stats

from emosteer import correlation
from emosteer.constants import STEER_DIM
from emosteer.evaluation import evaluate, methods, stats
from emosteer.grid import Grid
from emosteer.steering import selection
from emosteer.steering.signals import aggregate

N = 60


@pytest.fixture(scope="module")
def table():
    """A 3x3 table from 300 random training clips: every bin populated, all rows distinct."""
    rng = np.random.default_rng(0)
    n = 300
    return aggregate(
        rng.normal(size=(n, STEER_DIM)).astype(np.float32),
        rng.normal(size=(n, STEER_DIM)).astype(np.float32),
        rng.uniform(-1, 1, n),
        rng.uniform(-1, 1, n),
        Grid(3),
    )


def _clips(seed: int = 1, n: int = N) -> evaluate.Clips:
    rng = np.random.default_rng(seed)
    v = rng.uniform(-1, 1, n)
    a = rng.uniform(-1, 1, n)
    return evaluate.Clips(
        valence=v,
        arousal=a,
        pred_valence=v + rng.normal(0, 0.5, n),  # some beyond +-1
        pred_arousal=a + rng.normal(0, 0.5, n),
        features=rng.normal(size=(n, 4, 64)).astype(np.float32),
    )


def _by_name(bilinear: bool = True) -> dict[str, methods.Method]:
    return {v.name: v for v in methods.table({"bilinear": bilinear})}


# --------------------------------------------------------------------------------------------
# variants


def test_variant_names_with_and_without_bilinear():
    names = [v.name for v in methods.table({"bilinear": True})]
    assert names == [
        "oracle_categorical",
        "oracle_idw",
        "oracle_bilinear",
        "predicted_categorical",
        "predicted_idw",
        "predicted_bilinear",
        "control_shuffled",
        "control_global_mean",
    ]
    names = [v.name for v in methods.table({"bilinear": False})]
    assert names == [
        "oracle_categorical",
        "oracle_idw",
        "predicted_categorical",
        "predicted_idw",
        "control_shuffled",
        "control_global_mean",
    ]
    assert not any(v.kind == "bilinear" for v in methods.table({"bilinear": False}))


def test_variant_fields_and_which_use_true_labels():
    by = _by_name()
    assert (by["oracle_idw"].selection, by["oracle_idw"].kind) == ("oracle", "idw")
    assert (by["control_shuffled"].selection, by["control_shuffled"].kind) == ("control", "shuffled")
    uses = {name for name, v in by.items() if v.uses_true_labels}
    assert uses == {"oracle_categorical", "oracle_idw", "oracle_bilinear", "control_shuffled"}


# --------------------------------------------------------------------------------------------
# Method.signals


@pytest.mark.parametrize("name", [v.name for v in methods.table({"bilinear": True})])
def test_every_variant_gives_one_finite_vector_per_clip(table, name):
    clips = _clips()
    sv, sa = _by_name()[name].signals(table, clips, seed=0)
    assert sv.shape == (N, STEER_DIM) and sa.shape == (N, STEER_DIM)
    assert np.isfinite(sv).all() and np.isfinite(sa).all()


@pytest.mark.parametrize("name", ["oracle_categorical", "oracle_idw", "oracle_bilinear"])
def test_oracle_uses_true_labels_not_predictions(table, name):
    variant = _by_name()[name]
    clips = _clips()
    sv, sa = variant.signals(table, clips, seed=0)
    expect = selection.select(table, clips.valence, clips.arousal, variant.kind)
    np.testing.assert_array_equal(sv, expect[0])
    np.testing.assert_array_equal(sa, expect[1])

    other_preds = replace(clips, pred_valence=-clips.pred_valence, pred_arousal=clips.pred_arousal[::-1])
    sv2, sa2 = variant.signals(table, other_preds, seed=0)
    np.testing.assert_array_equal(sv2, sv)
    np.testing.assert_array_equal(sa2, sa)

    other_labels = replace(clips, valence=-clips.valence, arousal=-clips.arousal)
    sv3, sa3 = variant.signals(table, other_labels, seed=0)
    assert not np.array_equal(sv3, sv) and not np.array_equal(sa3, sa)


@pytest.mark.parametrize("name", ["predicted_categorical", "predicted_idw", "predicted_bilinear"])
def test_predicted_uses_clipped_predictions_not_labels(table, name):
    variant = _by_name()[name]
    clips = _clips()
    assert (np.abs(clips.pred_valence) > 1).any() and (np.abs(clips.pred_arousal) > 1).any()
    sv, sa = variant.signals(table, clips, seed=0)
    expect = selection.select(
        table, np.clip(clips.pred_valence, -1, 1), np.clip(clips.pred_arousal, -1, 1), variant.kind
    )
    np.testing.assert_array_equal(sv, expect[0])
    np.testing.assert_array_equal(sa, expect[1])

    # beyond +-1 is the same as at +-1
    pushed = replace(
        clips,
        pred_valence=np.where(clips.pred_valence > 1, 7.0, clips.pred_valence),
        pred_arousal=np.where(clips.pred_arousal < -1, -3.0, clips.pred_arousal),
    )
    sv2, sa2 = variant.signals(table, pushed, seed=0)
    np.testing.assert_array_equal(sv2, sv)
    np.testing.assert_array_equal(sa2, sa)

    # labels play no part; predictions do
    relabelled = replace(clips, valence=-clips.valence, arousal=-clips.arousal)
    sv3, _ = variant.signals(table, relabelled, seed=0)
    np.testing.assert_array_equal(sv3, sv)
    repredicted = replace(clips, pred_valence=-clips.pred_valence)
    sv4, _ = variant.signals(table, repredicted, seed=0)
    assert not np.array_equal(sv4, sv)


def test_shuffled_control_is_seeded_and_bins_by_true_label(table):
    variant = _by_name()["control_shuffled"]
    clips = _clips()
    a0 = variant.signals(table, clips, seed=0)
    b0 = variant.signals(table, clips, seed=0)
    np.testing.assert_array_equal(a0[0], b0[0])
    np.testing.assert_array_equal(a0[1], b0[1])
    np.testing.assert_array_equal(a0[0], selection.shuffled(table, clips.valence, clips.arousal, seed=0)[0])
    others = [variant.signals(table, clips, seed=s)[0] for s in (1, 2, 3)]
    assert any(not np.array_equal(o, a0[0]) for o in others)
    # it is not the oracle assignment itself (a permutation of 9 bins is almost never the identity)
    oracle = _by_name()["oracle_categorical"].signals(table, clips, seed=0)
    assert not np.array_equal(a0[0], oracle[0])
    # predictions play no part
    c0 = variant.signals(table, replace(clips, pred_valence=-clips.pred_valence), seed=0)
    np.testing.assert_array_equal(c0[0], a0[0])


def test_global_mean_control_is_the_tables_global_mean(table):
    clips = _clips()
    sv, sa = _by_name()["control_global_mean"].signals(table, clips, seed=5)
    np.testing.assert_array_equal(sv, np.tile(table.global_valence, (N, 1)))
    np.testing.assert_array_equal(sa, np.tile(table.global_arousal, (N, 1)))


# --------------------------------------------------------------------------------------------
# scores


def test_score_keys_and_delta_is_r_new_minus_r_base():
    clips = _clips()
    rng = np.random.default_rng(4)
    v = clips.valence + rng.normal(0, 0.3, N)
    a = clips.pred_arousal + rng.normal(0, 0.3, N)
    m = evaluate.score(clips, v, a, n_boot=200, seed=0)
    per_dim = ("r", "dr", "dr_lo", "dr_hi", "p_williams", "zou_lo", "zou_hi", "ccc", "rmse", "mae")
    assert set(m) == {f"{d}_{k}" for d in ("valence", "arousal") for k in per_dim}
    for dim, y, base, new in (
        ("valence", clips.valence, clips.pred_valence, v),
        ("arousal", clips.arousal, clips.pred_arousal, a),
    ):
        r_new, r_base = correlation.pearson(y, new), correlation.pearson(y, base)
        assert m[f"{dim}_r"] == pytest.approx(r_new)
        assert m[f"{dim}_dr"] == pytest.approx(r_new - r_base, abs=1e-12)
        assert m[f"{dim}_dr_lo"] <= m[f"{dim}_dr_hi"]
        assert m[f"{dim}_zou_lo"] <= m[f"{dim}_dr"] <= m[f"{dim}_zou_hi"]
        assert 0 <= m[f"{dim}_p_williams"] <= 1
        assert m[f"{dim}_rmse"] == pytest.approx(np.sqrt(np.mean((y - new) ** 2)))
        assert m[f"{dim}_mae"] == pytest.approx(np.mean(np.abs(y - new)))
        assert m[f"{dim}_ccc"] == pytest.approx(stats.ccc(y, new))
    # valence was pulled toward the truth: a clear gain, CI above zero
    assert m["valence_dr"] > 0 and m["valence_dr_lo"] > 0
    # same seed, same CI
    assert evaluate.score(clips, v, a, n_boot=200, seed=0) == m


def test_baseline_metrics_fisher_ci_contains_r():
    clips = _clips()
    m = evaluate.baseline_metrics(clips.valence, clips.arousal, clips.pred_valence, clips.pred_arousal)
    per_dim = ("r", "r_lo", "r_hi", "ccc", "rmse", "mae")
    assert set(m) == {f"{d}_{k}" for d in ("valence", "arousal") for k in per_dim}
    for dim, y, p in (("valence", clips.valence, clips.pred_valence), ("arousal", clips.arousal, clips.pred_arousal)):
        assert m[f"{dim}_r"] == pytest.approx(np.corrcoef(y, p)[0, 1])
        assert -1 < m[f"{dim}_r_lo"] < m[f"{dim}_r"] < m[f"{dim}_r_hi"] < 1
        ci = scipy.stats.pearsonr(y, p).confidence_interval(0.95)  # an independent implementation
        assert (m[f"{dim}_r_lo"], m[f"{dim}_r_hi"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert stats.fisher_ci(m[f"{dim}_r"], N) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_steer_variants_runs_each_distinct_pass_once_and_equals_the_naive_loop():
    rng = np.random.default_rng(4)
    n = 150  # more than one CLIP_CHUNK
    y_v, y_a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    acts = rng.normal(size=(300, 128)).astype(np.float32)
    table = aggregate(acts, acts + 1, rng.uniform(-1, 1, 300), rng.uniform(-1, 1, 300), Grid(3), 1)
    clips = evaluate.Clips(
        valence=y_v,
        arousal=y_a,
        pred_valence=y_v,
        pred_arousal=y_a,
        features=rng.normal(size=(n, 4)).astype(np.float32),
    )
    seen = []

    def predict(x, rows, sv, sa, strength):
        seen.append(len(rows))
        x = x[rows]
        return (x.sum(1) + sv.sum(1) * strength).astype(np.float32), (x[:, 0] - sa[:, 0]).astype(np.float32)

    chosen = tuple(v for v in methods.table({"bilinear": False}) if v.name != "control_global_mean")
    strengths = {v.name: (1.0, 2.0) for v in chosen}
    got = evaluate.steer_variants(predict, table, clips, chosen, strengths, seed=0, names=[""] * n)
    assert sum(seen) < len(chosen) * 2 * n  # oracle and predicted categorical coincide here
    for v in chosen:
        sv, sa = v.signals(table, clips, 0)
        for s in (1.0, 2.0):
            want = predict(clips.features, np.arange(n), sv, sa, s)
            np.testing.assert_allclose(got.steered[v.name][s][0], want[0], rtol=1e-6)
            np.testing.assert_allclose(got.steered[v.name][s][1], want[1], rtol=1e-6)
