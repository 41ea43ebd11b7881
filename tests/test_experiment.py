"""The experiment with a strength sweep both ways: a negative strength and a [neg, pos] pair go
through the real model, `evaluate.steer_variants`, the pooled pick, the plot columns and the
metrics JSON (tiny shapes, no DVC: the end-to-end run is tests/test_pipeline_e2e.py's)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emosteer import pipeline
from emosteer.evaluation import deployable, evaluate, methods, metrics, pooling, report, strengths
from emosteer.grid import Grid
from emosteer.jobs import evaluate as job
from emosteer.model.inference import predict as model_predict
from emosteer.model.lrm import EmotionLRM
from emosteer.schema import params
from emosteer.steering.signals import aggregate

REPO = Path(__file__).resolve().parents[1]
SWEEP = [-1.0, 2.0, [0.5, 2.0]]
KEYS = (-1.0, 2.0, (0.5, 2.0))
SEEDS = (0, 1, 2)
N_CLIPS, FRAMES = 12, 16


@pytest.fixture(scope="module")
def p() -> params.Params:
    """The shipped params with the sweep above, read through the schema like a params.yaml."""
    raw = copy.deepcopy(params.read_raw(REPO / "params.yaml"))
    raw["steering"]["strengths"] = SWEEP
    raw["evaluate"].update(n_boot=200, batch_size=8)
    raw["device"] = "cpu"
    return params.validate(raw)


@pytest.fixture(scope="module")
def model() -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM().eval()


def _clips(model: EmotionLRM, seed: int) -> evaluate.Clips:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_CLIPS, FRAMES, 64)).astype(np.float32)
    base = model_predict(model, x)
    return evaluate.Clips(
        valence=rng.uniform(-1, 1, N_CLIPS),
        arousal=rng.uniform(-1, 1, N_CLIPS),
        pred_valence=base["valence"],
        pred_arousal=base["arousal"],
        features=x,
    )


@pytest.fixture(scope="module")
def dev(model: EmotionLRM, p: params.Params) -> tuple[tuple[methods.Method, ...], list]:
    """Every variant at every strength of the sweep on three seeds' clips, through the real model."""
    rng = np.random.default_rng(9)
    acts = np.maximum(rng.normal(size=(90, 128)), 0).astype(np.float32)  # post-ReLU-like 128-d
    table = aggregate(acts, acts[::-1].copy(), rng.uniform(-1, 1, 90), rng.uniform(-1, 1, 90), Grid(3))
    variants = tuple(methods.table({"bilinear": False}))
    strengths = job.swept(p)
    predict = job.predictor(model, p)
    out = [
        evaluate.steer_variants(
            predict,
            table,
            _clips(model, s),
            variants,
            {v.name: strengths for v in variants},
            seed=s,
            names=[f"s{s}_{i}" for i in range(N_CLIPS)],
        )
        for s in SEEDS
    ]
    return variants, out


def test_the_sweep_is_read_as_keys_in_params_order(p):
    assert job.swept(p) == KEYS


def test_negative_and_pair_strengths_steer_and_differ(dev):
    variants, out = dev
    for d in out:
        for v in variants:
            assert list(d.steered[v.name]) == list(KEYS)
            runs = {k: np.concatenate(d.steered[v.name][k]) for k in KEYS}
            assert all(np.isfinite(r).all() for r in runs.values())
            unsteered = np.concatenate([d.pred_valence, d.pred_arousal])
            for k in KEYS:
                assert np.abs(runs[k] - unsteered).max() > 1e-5, (v.name, k)
            assert np.abs(runs[(0.5, 2.0)] - runs[2.0]).max() > 1e-5  # the pair is not 2 both ways
            assert np.abs(runs[-1.0] - runs[2.0]).max() > 1e-5


def test_pooled_pick_curve_columns_and_metrics_json(dev, p, tmp_path):
    variants, out = dev
    steered = tuple(v for v in variants if v.name != methods.GLOBAL_MEAN.name)
    choices = strengths.pick_strengths(out, steered, KEYS, p.evaluate.n_boot)
    for v in steered:
        c = choices[v.name]
        assert len(c.curve) == len(KEYS) and c.strength in KEYS
        # the pick is the one-SE rule with max(|neg|, |pos|) as the size: -1 is as gentle as 1
        assert c.strength == KEYS[pooling.pick_pooled([1.0, 2.0, 2.0], c.curve)]

    cols = strengths.curve_columns(choices, KEYS)
    assert cols["strength"] == ["-1", "2", "0.5/2"] * len(steered)
    assert cols["strength_neg"] == [-1.0, 2.0, 0.5] * len(steered)
    assert cols["strength_pos"] == [-1.0, 2.0, 2.0] * len(steered)
    pipeline.write_csv(tmp_path / "strength.csv", cols)
    header, first = (tmp_path / "strength.csv").read_text().splitlines()[:2]
    assert header == "variant,strength,strength_neg,strength_pos,dr_mean,dr_lo,dr_hi"
    assert first.startswith(f"{steered[0].name},-1,-1.0,-1.0,")

    # a variant held at the pair: validation predictions, pooled and per-seed metrics, report row
    name = steered[0].name
    pair = {
        name: strengths.Choice((0.5, 2.0), "params", 0),
        methods.GLOBAL_MEAN.name: strengths.Choice(-1.0, "params", 0),
    }
    reference = [
        {
            "names": np.array(d.names),
            "valence": d.steered[methods.GLOBAL_MEAN.name][-1.0][0],
            "arousal": d.steered[methods.GLOBAL_MEAN.name][-1.0][1],
        }
        for d in out
    ]
    m = metrics.pooled_metrics(steered[0], pair[name], out, reference, 3, n_clips=2 * N_CLIPS)
    per_seed = metrics.seed_metrics(steered[0], (0.5, 2.0), out[0], p.evaluate.n_boot)
    pipeline.write_json(tmp_path / "pooled.json", m)
    pipeline.write_json(tmp_path / "seed.json", per_seed)
    assert json.loads((tmp_path / "pooled.json").read_text())["strength"] == [0.5, 2.0]
    assert json.loads((tmp_path / "seed.json").read_text())["strength"] == [0.5, 2.0]
    cols = metrics.prediction_columns(out, {v.name: pair.get(v.name, pair[name]) for v in variants})
    assert len(cols[f"{name}_valence"]) == len(SEEDS) * N_CLIPS
    row = report.verdict_table({"3x3": {name: json.loads((tmp_path / "pooled.json").read_text())}})
    assert row["strength (dev clips)"].tolist() == ["0.5/2 (0)"]


def test_one_strength_at_a_time_gives_the_same_floats(model, p):
    """What `job.steer` relies on to run each (seed, strength) as its own task: the passes
    of one strength, alone, are bitwise those of the whole sweep."""
    rng = np.random.default_rng(3)
    acts = np.maximum(rng.normal(size=(60, 128)), 0).astype(np.float32)
    table = aggregate(acts, acts[::-1].copy(), rng.uniform(-1, 1, 60), rng.uniform(-1, 1, 60), Grid(3))
    variants = tuple(methods.table({"bilinear": False}))
    clips = _clips(model, 5)
    predict = job.predictor(model, p)
    strengths = job.swept(p)
    names = [str(i) for i in range(N_CLIPS)]
    whole = evaluate.steer_variants(
        predict, table, clips, variants, {v.name: strengths for v in variants}, seed=5, names=names
    )
    for k in strengths:
        alone = evaluate.steer_variants(
            predict, table, clips, variants, {v.name: (k,) for v in variants}, seed=5, names=names
        )
        for v in variants:
            for dim in (0, 1):
                assert np.array_equal(alone.steered[v.name][k][dim], whole.steered[v.name][k][dim])


@pytest.mark.parametrize("workers", [1, 2])
def test_map_parts_runs_every_seed_part_pair_in_order(workers):
    from operator import add

    from emosteer.jobs.seeds import SeedPool

    with SeedPool([0, 100, 200], workers, 1) as pool:
        assert pool.map_parts(add, [1, 2], desc="t") == [[1, 2], [101, 102], [201, 202]]


def test_detection_decomposition_and_break_even_through_the_real_model(model, p):
    """Validation as evaluate_grid runs it (every variant at one strength), then the grid's
    detection and break-even metrics. Known answers: the repair curve at q = 1 is oracle
    categorical's pooled Δr and at q = 0 predicted categorical's; on clips whose predicted bin is
    right, predicted and oracle categorical steer alike, so their error changes are equal; the
    accuracy is the count."""
    from emosteer.evaluation import detection

    rng = np.random.default_rng(9)
    acts = np.maximum(rng.normal(size=(90, 128)), 0).astype(np.float32)
    table = aggregate(acts, acts[::-1].copy(), rng.uniform(-1, 1, 90), rng.uniform(-1, 1, 90), Grid(3))
    variants = tuple(v for v in methods.table({"bilinear": False}) if v.name != methods.GLOBAL_MEAN.name)
    predict = job.predictor(model, p)
    val = []
    for s in SEEDS:
        clips = _clips(model, s)
        # predictions near the labels, so some bins are right and some wrong
        clips = evaluate.Clips(
            clips.valence,
            clips.arousal,
            clips.valence * 0.9 + 0.05,
            clips.arousal + np.where(np.arange(N_CLIPS) % 3 == 0, 0.6, 0.0),
            clips.features,
        )
        val.append(
            evaluate.steer_variants(
                predict,
                table,
                clips,
                variants,
                {v.name: (2.0,) for v in variants},
                seed=s,
                names=[str(i) for i in range(N_CLIPS)],
            )
        )
    choices = {v.name: strengths.Choice(2.0, "params", 0) for v in variants}
    found, confusion = deployable.detection_metrics(Grid(3), val, choices, p.evaluate.n_boot, 2 * N_CLIPS)
    hits = [
        detection.hits(Grid(3), *detection.bins(Grid(3), d.valence, d.arousal, d.pred_valence, d.pred_arousal))
        for d in val
    ]
    assert found["joint_accuracy_per_seed"] == pytest.approx([h["joint"].mean() for h in hits])
    assert found["n_right_per_seed"] == [int(h["joint"].sum()) for h in hits]
    assert 0 < sum(found["n_right_per_seed"]) < len(SEEDS) * N_CLIPS
    assert found["joint_accuracy_lo"] <= found["joint_accuracy"] <= found["joint_accuracy_hi"]
    assert len(confusion["true_bin"]) == len(SEEDS) * N_CLIPS and confusion["true_bin"][0][:3] in {
        f"{k:02d} " for k in range(9)
    }
    categorical = found["decomposition"]["categorical"]
    for dim in ("valence", "arousal"):
        assert categorical["predicted"]["right"][f"{dim}_dmae_per_seed"] == pytest.approx(
            categorical["oracle"]["right"][f"{dim}_dmae_per_seed"]
        )
        for sel in ("predicted", "oracle"):  # the groups' contributions add up to the all-clips row
            rows = categorical[sel]
            assert rows["right"][f"{dim}_contribution"] + rows["wrong"][f"{dim}_contribution"] == pytest.approx(
                rows["all"][f"{dim}_dmae"], abs=1e-12
            )
    assert set(found["decomposition"]) == {"categorical", "idw"}

    n_clips = 2 * N_CLIPS
    refs = [{"names": np.array(d.names), "valence": d.pred_valence, "arousal": d.pred_arousal} for d in val]
    oracle = metrics.pooled_metrics(variants[0], choices[variants[0].name], val, refs, 3, n_clips)
    own = metrics.pooled_metrics(methods.PREDICTED, choices[methods.PREDICTED.name], val, refs, 3, n_clips)
    even, curve = deployable.breakeven_metrics(Grid(3), val, 2.0, found, own, n_clips)
    assert variants[0].name == "oracle_categorical"
    for dim in ("valence", "arousal"):
        assert even[f"{dim}_dr_at_p1"] == pytest.approx(oracle[f"{dim}_dr"])
        assert even[f"{dim}_dr_at_p1_lo"] == pytest.approx(oracle[f"{dim}_dr_lo"])
        assert even[f"{dim}_dr_at_model_accuracy"] == pytest.approx(own[f"{dim}_dr"])
        assert even[f"{dim}_dr_predicted_categorical"] == own[f"{dim}_dr"]
        assert even[f"{dim}_p_star_status"] in ("crossed", "never_above", "above_everywhere")
    qs = detection.Q_GRID
    assert len(curve["p"]) == 2 * len(qs) and curve["realised_accuracy"][0] == 1.0
    assert curve["realised_accuracy"][len(qs) - 1] == pytest.approx(found["joint_accuracy"])
    assert curve["p"][0] == 1.0 and curve["p"][len(qs) - 1] == pytest.approx(found["joint_accuracy"])
    assert set(curve["model_accuracy"]) == {found["joint_accuracy"]}
