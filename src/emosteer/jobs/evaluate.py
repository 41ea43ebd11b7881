"""The experiment over seeds: strength chosen on the pooled dev clips, validation predictions per
seed, and the pooled metrics and verdicts of every steering variant, written where dvc.yaml says.

Two phases per grid, each fanned out over seeds by `seeds.SeedPool`: (1) every variant at every
strength on each seed's dev clips; the gentlest strength within one standard error of the best
mean dev score over seeds is chosen (the dev clips of all seeds stand behind it); (2) every variant
at its chosen strength on each seed's validation clips. Validation clips never inform a choice.
Beside the variants' verdicts each grid reports their fusion twins (no network: the prediction
moved toward the variant's target, `fusion_twins`), bin detection and the break-even curve (what
deployable steering would need); the baseline stage reports the feedback row (the final pass vs the
separately trained one-pass twin, and the permuted-feedback control).
This module reads params and the seeds' files and runs the passes; the numbers are made in
`evaluation` (`strengths`, `metrics`, `deployable`), from arrays and n_boot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emosteer.data import features, split
from emosteer.errors import EmosteerError
from emosteer.evaluation import evaluate, fusion, methods, metrics
from emosteer.evaluation.deployable import breakeven_metrics, detection_metrics
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import GLOBAL_MEAN, ORACLE, PREDICTED, Method
from emosteer.evaluation.metrics import pooled_metrics, prediction_columns, seed_metrics
from emosteer.evaluation.strengths import Choice, curve_columns, pick_strengths
from emosteer.grid import Grid
from emosteer.jobs import grids
from emosteer.jobs.extract import load_seed_model
from emosteer.jobs.grids import GridParams, RunGrid
from emosteer.jobs.seeds import SeedPool
from emosteer.model import activations, inference
from emosteer.pipeline import FEATURES, METRICS, PLOTS, POOLED, SeedPaths, write_csv, write_json, write_npz
from emosteer.runtime import resolve_device
from emosteer.schema.evaluate import Evaluate, Steerability
from emosteer.schema.model import Model
from emosteer.steering import signals
from emosteer.strength import Value as StrengthValue
from emosteer.strength import key as strength_key


class EvaluateParams(GridParams):
    """What the evaluate and steerability stages read of params.yaml (check_params has checked the
    whole file): the grids and steering, the model's passes, evaluate and steerability."""

    model: Model
    evaluate: Evaluate
    steerability: Steerability


@dataclass(frozen=True)
class SteerTask:
    """Which grid's table to steer with, which variants, and at which strengths."""

    which: str  # the grid's name (`3x3`): its table is data/signals/<which>/s<seed>.h5
    variants: tuple[Method, ...]
    part: str  # dev | val
    strengths: dict[str, tuple[StrengthValue, ...]]  # variant name -> strengths to run


def steer_seed(seed: int, task: SteerTask, p: EvaluateParams) -> evaluate.SeedPredictions:
    """Steered predictions of one seed's `part` clips for each variant at each of its strengths."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    idx = split.read_parts(paths.split, len(acts.names))[task.part]
    clips = evaluate.Clips(
        valence=acts.valence[idx],
        arousal=acts.arousal[idx],
        pred_valence=acts.pred_valence[idx],
        pred_arousal=acts.pred_arousal[idx],
        features=features.read_features(FEATURES, idx),
    )
    table = signals.read_h5(paths.signals(task.which, "h5"))
    predict = predictor(load_seed_model(paths, p.model.forward_passes, p.device), p)
    return evaluate.steer_variants(
        predict, table, clips, task.variants, task.strengths, seed, names=[acts.names[i] for i in idx]
    )


def steer(pool: SeedPool, p: EvaluateParams, task: SteerTask, desc: str) -> list[SeedPredictions]:
    """steer_seed for every seed, run as one task per (seed, strength) and merged back per seed.

    `evaluate.steer_variants` batches the passes of one strength together and no pass depends on
    another strength, so each task runs exactly the batches the whole would: the floats are the
    same, and 5 seeds x k strengths spread over the workers better than 5 seeds."""
    keys = {v.name: list(dict.fromkeys(strength_key(s) for s in task.strengths[v.name])) for v in task.variants}
    order = list(dict.fromkeys(k for v in task.variants for k in keys[v.name]))
    parts = [
        SteerTask(
            task.which,
            tuple(v for v in task.variants if k in keys[v.name]),
            task.part,
            {v.name: (k,) for v in task.variants if k in keys[v.name]},
        )
        for k in order
    ]
    merged = []
    for shares in pool.map_parts(steer_seed, parts, p, desc=desc):
        runs = {k: share.steered for k, share in zip(order, shares)}
        first = shares[0]
        merged.append(
            SeedPredictions(
                seed=first.seed,
                names=first.names,
                valence=first.valence,
                arousal=first.arousal,
                pred_valence=first.pred_valence,
                pred_arousal=first.pred_arousal,
                steered={v.name: {k: runs[k][v.name][k] for k in keys[v.name]} for v in task.variants},
            )
        )
    return merged


def predictor(model: Any, p: EvaluateParams) -> evaluate.Predict:
    """predict(x, rows, steer_v, steer_a, strength) -> (valence, arousal) with the params'
    alpha/first_pass (`inference.predict` with rows)."""
    s = p.steering
    device = resolve_device(p.device)

    def predict(x: np.ndarray, rows: np.ndarray, sv: np.ndarray, sa: np.ndarray, strength: StrengthValue):
        out = inference.predict(
            model,
            x,
            batch_size=p.evaluate.batch_size,
            steer_valence=sv,
            steer_arousal=sa,
            strength=strength,
            alpha=s.alpha,
            first_pass=s.first_pass,
            device=device,
            amp=p.amp,
            rows=rows,
        )
        return out["valence"], out["arousal"]

    return predict


def choose_strengths(p: EvaluateParams, pool: SeedPool, which: str, variants: tuple[Method, ...]) -> dict[str, Choice]:
    """Each variant's strength: fixed by params, or picked on the pooled dev score over all seeds
    (`pick_strengths`)."""
    s = p.steering
    if s.strength != "dev":
        return {v.name: Choice(strength_key(s.strength), "params", 0) for v in variants}
    strengths = swept(p)
    task = SteerTask(which, variants, "dev", {v.name: strengths for v in variants})
    dev = steer(pool, p, task, desc=f"{which} dev strengths")
    return pick_strengths(dev, variants, strengths, p.evaluate.n_boot)


def validation(
    p: EvaluateParams, pool: SeedPool, which: str, variants: tuple[Method, ...], choices: dict[str, Choice]
) -> list[SeedPredictions]:
    """Every variant at its chosen strength on the validation clips; with oracle and predicted
    categorical, predicted categorical also at the oracle's strength (the break-even curve mixes
    the two at one strength: `deployable.breakeven_metrics`)."""
    strengths = {v.name: (choices[v.name].strength,) for v in variants}
    if ORACLE.name in strengths and PREDICTED.name in strengths:
        strengths[PREDICTED.name] = tuple(dict.fromkeys((*strengths[PREDICTED.name], choices[ORACLE.name].strength)))
    task = SteerTask(which, variants, "val", strengths)
    return steer(pool, p, task, desc=f"{which} validation")


@dataclass
class GridResult:
    which: str
    size: int
    pooled: dict[str, dict[str, Any]]  # variant -> pooled metrics
    per_seed: dict[str, dict[str, Any]]  # "s<seed>" -> variant -> metrics
    curves: dict[str, list[Any]]  # long-format plot columns: the pooled dev strength curves
    predictions: dict[str, list[Any]]  # long-format plot columns: validation predictions
    detection: dict[str, Any] | None = None  # bin accuracy and the right/wrong decomposition
    breakeven: dict[str, Any] | None = None  # p* per dim beside the model's accuracy
    confusion: dict[str, list[Any]] | None = None  # plot rows: true and predicted bin per clip
    breakeven_curve: dict[str, list[Any]] | None = None  # plot rows: pooled Δr [CI] against p


def swept(p: EvaluateParams) -> tuple[StrengthValue, ...]:
    """The dev sweep's strengths as keys, in params order (the order of the strength plot's axis)."""
    return tuple(strength_key(x) for x in p.steering.strengths)


def evaluate_grid(p: EvaluateParams, run_grid: RunGrid, reference: list[dict[str, np.ndarray]]) -> GridResult:
    """Every steering variant of one grid over all seeds (the global-mean control is the baseline
    stage's: it does not depend on the grid). `reference`: per seed, the global-mean predictions."""
    which = run_grid.name
    variants = methods.per_grid(p.evaluate.model_dump())
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        choices = choose_strengths(p, pool, which, variants)
        val = validation(p, pool, which, variants, choices)
    _check_reference(val, reference)
    size = run_grid.size
    n_boot = p.evaluate.n_boot
    n_clips = clip_count()
    twins = fusion_twins(p, which, variants, val)
    pooled = {
        v.name: pooled_metrics(v, choices[v.name], val, reference, size, n_clips, twins.get(v.name)) for v in variants
    }
    for v in variants:
        if v.name in twins:
            twin = methods.fusion_twin(v)
            pooled[twin.name] = metrics.fusion_metrics(twin, twins[v.name], val, size, n_clips)
    per_seed = {
        f"s{d.seed}": {v.name: seed_metrics(v, choices[v.name].strength, d, n_boot) for v in variants} for d in val
    }
    grid = Grid(size)
    found, confusion = detection_metrics(grid, val, choices, n_boot, n_clips)
    breakeven, curve = (
        breakeven_metrics(grid, val, choices[ORACLE.name].strength, found, pooled[PREDICTED.name], n_clips)
        if ORACLE.name in choices and PREDICTED.name in choices
        else (None, None)
    )
    columns = prediction_columns(val, choices)
    for name, twin in twins.items():
        for i, dim in enumerate(metrics.DIMS):
            columns[f"{methods.fusion_twin(methods.METHODS[name]).name}_{dim}"] = [
                x for f in twin.predictions for x in f[i]
            ]
    return GridResult(
        which, size, pooled, per_seed, curve_columns(choices, swept(p)), columns, found, breakeven, confusion, curve
    )


def clip_count() -> int:
    """N, the clip set every seed re-splits (the verdict procedure's shared part: n_val / N)."""
    return features.read_info(FEATURES).n


def fusion_twins(
    p: EvaluateParams, which: str, variants: tuple[Method, ...], val: list[SeedPredictions]
) -> dict[str, metrics.Fusion]:
    """Each point-selecting variant's fusion twin (`methods.fusion_twin`): its weight picked from
    steering.fusion_weights on the pooled dev clips as a strength is (`fusion.pick_weight`), then
    its predictions on each seed's validation clips. No network pass: the unsteered predictions
    and the variant's targets (`Method.target`) from each seed's activations and signal table."""
    pairs = [v for v in variants if methods.fusion_twin(v) is not None]
    if not pairs:
        return {}
    seeds = []
    for seed in p.seeds:
        paths = SeedPaths(seed)
        acts = activations.read(paths.activations)
        parts = split.read_parts(paths.split, len(acts.names))
        table = signals.read_h5(paths.signals(which, "h5"))
        seeds.append((seed, {part: _clips(acts, parts[part]) for part in ("dev", "val")}, table))
    for d, (_, clips, _) in zip(val, seeds, strict=True):
        if not np.array_equal(clips["val"].valence, d.valence):
            raise EmosteerError(f"seed {d.seed}: the validation clips changed under the evaluate stage")
    weights = list(p.steering.fusion_weights)
    out = {}
    for v in pairs:
        dev = [
            fusion.DevClips(
                seed,
                c["dev"].valence,
                c["dev"].arousal,
                c["dev"].pred_valence,
                c["dev"].pred_arousal,
                v.target(table, c["dev"]),
            )
            for seed, c, table in seeds
        ]
        w = weights[fusion.pick_weight(dev, weights, p.evaluate.n_boot)[0]]
        targets = [v.target(table, c["val"]) for _, c, table in seeds]
        out[v.name] = metrics.Fusion(
            methods.fusion_twin(v).name,
            w,
            [fusion.fused(c["val"].pred_valence, c["val"].pred_arousal, t, w) for (_, c, _), t in zip(seeds, targets)],
            targets,
        )
    return out


def _clips(acts: activations.Activations, idx: np.ndarray) -> evaluate.Clips:
    """A part's labels and unsteered predictions (no features: a fusion twin needs none)."""
    return evaluate.Clips(
        valence=acts.valence[idx],
        arousal=acts.arousal[idx],
        pred_valence=acts.pred_valence[idx],
        pred_arousal=acts.pred_arousal[idx],
        features=np.empty(0),
    )


def _check_reference(val: list[SeedPredictions], reference: list[dict[str, np.ndarray]]) -> None:
    for d, ref in zip(val, reference, strict=True):
        if list(ref["names"]) != d.names:
            raise EmosteerError(
                f"seed {d.seed}: the baseline stage's validation clips differ from "
                "this stage's (rerun evaluate_baseline)"
            )


@dataclass
class BaselineResult:
    pooled: dict[str, Any]
    per_seed: dict[str, dict[str, float]]
    control: GridResult
    reference: dict[str, np.ndarray]  # flat arrays for the npz: s<seed>_<key>
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> pooled metrics


def evaluate_baseline(p: EvaluateParams) -> BaselineResult:
    """Unsteered scores per seed and pooled, and the global-mean control (grid-independent)."""
    which = grids.coarse(p).name  # every grid's table holds the same global mean
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        choices = choose_strengths(p, pool, which, (GLOBAL_MEAN,))
        val = validation(p, pool, which, (GLOBAL_MEAN,), choices)
        permuted = pool.map(permuted_seed, p, desc="permuted feedback") if p.model.forward_passes > 1 else None
    reference: dict[str, np.ndarray] = {}
    for d in val:
        v, a = d.steered[GLOBAL_MEAN.name][choices[GLOBAL_MEAN.name].strength]
        reference.update({f"s{d.seed}_names": np.array(d.names), f"s{d.seed}_valence": v, f"s{d.seed}_arousal": a})
    refs = read_reference_arrays(reference, p.seeds)
    choice = choices[GLOBAL_MEAN.name]
    control = GridResult(
        "control",
        0,
        {GLOBAL_MEAN.name: pooled_metrics(GLOBAL_MEAN, choice, val, refs, 0, clip_count())},
        {
            f"s{d.seed}": {GLOBAL_MEAN.name: seed_metrics(GLOBAL_MEAN, choice.strength, d, p.evaluate.n_boot)}
            for d in val
        },
        curve_columns(choices, swept(p)),
        prediction_columns(val, choices),
    )
    per_seed = {}
    for d in val:
        per_seed[d.seed] = evaluate.baseline_metrics(d.valence, d.arousal, d.pred_valence, d.pred_arousal)
    pooled = metrics.baseline_pooled(per_seed, p.seeds, [len(d.valence) for d in val], p.model.forward_passes)
    feedback = feedback_metrics(p, permuted)
    return BaselineResult(
        pooled, {f"s{s}": per_seed[s] for s in p.seeds}, control, reference, {feedback["method"]: feedback}
    )


def feedback_metrics(p: EvaluateParams, permuted: list[dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """The feedback row (`metrics.feedback_metrics`) from each seed's activations: its final pass,
    pass 1 and the one-pass twin's prediction on the validation clips, all stored by
    extract_activations, and with `permuted` (per seed, `permuted_seed`) the permuted-feedback
    control."""
    seeds = []
    for seed in p.seeds:
        paths = SeedPaths(seed)
        acts = activations.read(paths.activations)
        idx = split.read_parts(paths.split, len(acts.names))["val"]
        seeds.append((seed, idx, acts))
    return metrics.feedback_metrics(seeds, p.model.forward_passes, clip_count(), permuted)


def permuted_seed(seed: int, p: EvaluateParams) -> dict[str, np.ndarray]:
    """The permuted-feedback control on one seed's validation clips: the model's fed-back passes
    modulated by another validation clip's fed-back 128-d (`inference.permuted_feedback`, the
    clips' order a seeded derangement) instead of the clip's own. Final-pass predictions."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    idx = split.read_parts(paths.split, len(acts.names))["val"]
    model = load_seed_model(paths, p.model.forward_passes, p.device)
    out = inference.permuted_feedback(
        model,
        features.read_features(FEATURES, idx),
        acts.valence_128d[idx],
        acts.arousal_128d[idx],
        inference.derangement(len(idx), seed),
        batch_size=p.evaluate.batch_size,
        device=resolve_device(p.device),
        amp=p.amp,
    )
    return {"valence": out["valence"], "arousal": out["arousal"]}


def read_reference_arrays(arrays: Any, seeds: list[int]) -> list[dict[str, np.ndarray]]:
    out = []
    for s in seeds:
        try:
            out.append(
                {
                    "names": np.asarray(arrays[f"s{s}_names"]).astype(str),
                    "valence": np.asarray(arrays[f"s{s}_valence"]),
                    "arousal": np.asarray(arrays[f"s{s}_arousal"]),
                }
            )
        except KeyError:
            raise EmosteerError(f"baseline predictions: seed {s} missing (rerun evaluate_baseline)") from None
    return out


def write_reference(path: Any, arrays: dict[str, np.ndarray]) -> None:
    """The baseline stage's validation predictions (npz, no pickled objects)."""
    write_npz(path, arrays)


def read_reference(path: Any, seeds: list[int]) -> list[dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return read_reference_arrays({k: z[k] for k in z.files}, seeds)
    except (OSError, ValueError):
        raise EmosteerError(f"{path}: not a readable npz (rerun evaluate_baseline)") from None


def write_grid(result: GridResult) -> None:
    """Pooled metrics (one file per variant), per-seed metrics, strength curves, predictions."""
    for name, record in result.pooled.items():
        write_json(POOLED / result.which / f"{name}.json", record)
    write_json(METRICS / "seeds" / f"{result.which}.json", result.per_seed)
    write_csv(PLOTS / "strength" / f"{result.which}.csv", result.curves)
    write_csv(PLOTS / "predictions" / f"{result.which}.csv", result.predictions)
    if result.detection is not None:
        write_json(METRICS / "detection" / f"{result.which}.json", result.detection)
        write_csv(PLOTS / "confusion" / f"{result.which}.csv", result.confusion)
    if result.breakeven is not None:
        write_json(METRICS / "breakeven" / f"{result.which}.json", result.breakeven)
        write_csv(PLOTS / "breakeven" / f"{result.which}.csv", result.breakeven_curve)
