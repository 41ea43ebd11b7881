"""The experiment over seeds: strength chosen on the pooled dev clips, validation predictions per
seed, and the pooled metrics and verdicts of every steering variant.

Two phases per grid, each fanned out over seeds by `seeds.SeedPool`: (1) every variant at every
strength on each seed's dev clips; the gentlest strength within one standard error of the best
mean dev score over seeds is chosen (the dev clips of all seeds stand behind it); (2) every variant
at its chosen strength on each seed's validation clips. Validation clips never inform a choice.
Beside the variants' verdicts each grid reports bin detection and the break-even curve (what
deployable steering would need, `evaluation.detection`), the baseline stage the feedback row
(final pass vs pass 1), and the steerability stage how many clips move toward a steered bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emosteer.errors import EmosteerError
from emosteer import correlation
from emosteer.evaluation import detection, evaluate, pooling
from emosteer.data import features, split
from emosteer.evaluation.evaluate import CORRUPTED, SeedPredictions, Variant
from emosteer.model import activations, inference
from emosteer.jobs.extract import load_seed_model
from emosteer.schema.params import Params
from emosteer.pipeline import FEATURES, METRICS, PLOTS, POOLED, SeedPaths, write_csv, write_json, write_npz
from emosteer.runtime import resolve_device
from emosteer.jobs.seeds import SeedPool
from emosteer.steering import signals, steerability
from emosteer.grid import Grid
from emosteer.strength import Value as StrengthValue, key as strength_key, label as strength_label
from emosteer.strength import scales as strength_scales, size as strength_size, to_json as strength_json

DIMS = ("valence", "arousal")
GLOBAL_MEAN = Variant("control_global_mean", "control", "global_mean")
ORACLE = "oracle_categorical"  # the curve's p = 1 end: steering with the true bin


@dataclass(frozen=True)
class SteerTask:
    """Which grid's table to steer with, which variants, and at which strengths."""

    which: str  # coarse | fine
    variants: tuple[evaluate.Variant, ...]
    part: str  # dev | val
    strengths: dict[str, tuple[StrengthValue, ...]]  # variant name -> strengths to run


def steer_seed(seed: int, task: SteerTask, p: Params) -> evaluate.SeedPredictions:
    """Steered predictions of one seed's `part` clips for each variant at each of its strengths."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    idx = split.read_parts(paths.split, len(acts.names))[task.part]
    clips = evaluate.Clips(valence=acts.valence[idx], arousal=acts.arousal[idx],
                           pred_valence=acts.pred_valence[idx], pred_arousal=acts.pred_arousal[idx],
                           features=features.read_features(FEATURES, idx))
    table = signals.read_h5(paths.signals(task.which, "h5"))
    predict = predictor(load_seed_model(paths, p.model.forward_passes, p.device), p)
    return evaluate.steer_variants(predict, table, clips, task.variants, task.strengths, seed,
                                   names=[acts.names[i] for i in idx])


def steer(pool: SeedPool, p: Params, task: SteerTask, desc: str) -> list[SeedPredictions]:
    """steer_seed for every seed, run as one task per (seed, strength) and merged back per seed.

    `evaluate.steer_variants` batches the passes of one strength together and no pass depends on
    another strength, so each task runs exactly the batches the whole would: the floats are the
    same, and 5 seeds x k strengths spread over the workers better than 5 seeds."""
    keys = {v.name: list(dict.fromkeys(strength_key(s) for s in task.strengths[v.name]))
            for v in task.variants}
    order = list(dict.fromkeys(k for v in task.variants for k in keys[v.name]))
    parts = [SteerTask(task.which, tuple(v for v in task.variants if k in keys[v.name]), task.part,
                       {v.name: (k,) for v in task.variants if k in keys[v.name]}) for k in order]
    merged = []
    for shares in pool.map_parts(steer_seed, parts, p, desc=desc):
        runs = {k: share.steered for k, share in zip(order, shares)}
        first = shares[0]
        merged.append(SeedPredictions(
            seed=first.seed, names=first.names, valence=first.valence, arousal=first.arousal,
            pred_valence=first.pred_valence, pred_arousal=first.pred_arousal,
            steered={v.name: {k: runs[k][v.name][k] for k in keys[v.name]} for v in task.variants}))
    return merged


def predictor(model: Any, p: Params) -> evaluate.Predict:
    """predict(x, rows, steer_v, steer_a, strength) -> (valence, arousal) with the params'
    alpha/first_pass (`inference.predict` with rows)."""
    s = p.steering
    device = resolve_device(p.device)

    def predict(x: np.ndarray, rows: np.ndarray, sv: np.ndarray, sa: np.ndarray,
                strength: StrengthValue):
        out = inference.predict(model, x, batch_size=p.evaluate.batch_size, steer_valence=sv,
                                steer_arousal=sa, strength=strength, alpha=s.alpha,
                                first_pass=s.first_pass, device=device, amp=p.amp, rows=rows)
        return out["valence"], out["arousal"]

    return predict


STEERABILITY_PARTS = 3  # each seed's bins in this many tasks, so 5 seeds balance over 2 workers


def steerability_part(seed: int, part: int, p: Params, which: str) -> dict[str, np.ndarray]:
    """Shifts of the seed's validation clips under one contiguous share of its populated bins."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    idx = split.read_parts(paths.split, len(acts.names))["val"]
    table = signals.read_h5(paths.signals(which, "h5"))
    bins = np.array_split(np.flatnonzero(table.populated), STEERABILITY_PARTS)[part]
    return steerability.shifts(
        predictor(load_seed_model(paths, p.model.forward_passes, p.device), p), table, features.read_features(FEATURES, idx),
        acts.pred_valence[idx], acts.pred_arousal[idx], p.steerability.strength, bins)


def evaluate_steerability(p: Params, which: str = "coarse") -> dict[str, Any]:
    """Pooled and per-seed directionality on one grid, and its plot columns."""
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        parts = pool.map_parts(steerability_part, range(STEERABILITY_PARTS), p, which,
                               desc=f"steerability {which}")
    per_seed, shares_toward = [], []
    for seed, shares in zip(p.seeds, parts):
        paths = SeedPaths(seed)
        table = signals.read_h5(paths.signals(which, "h5"))
        bins = np.flatnonzero(table.populated)
        moved = {dim: np.concatenate([share[dim] for share in shares]) for dim in DIMS}
        per_seed.append(steerability.summarise(table, bins, moved, p.steerability.strength,
                                               p.evaluate.n_boot, seed))
        acts = activations.read(paths.activations)
        idx = split.read_parts(paths.split, len(acts.names))["val"]
        centres = table.grid.centre_points()[bins]
        shares_toward.append({dim: steerability.toward(moved[dim], centres[:, axis],
                                                       getattr(acts, f"pred_{dim}")[idx])
                              for axis, dim in enumerate(DIMS)})
    pooled = steerability.pool(per_seed)
    rows = steerability.plot_rows(pooled)
    toward_pooled, toward_seeds = toward_metrics(p, shares_toward)
    return {"metrics": {"pooled": {**steerability.metrics(pooled), **toward_pooled},
                        "per_seed": {f"s{s}": {**steerability.metrics(r), **t}
                                     for s, r, t in zip(p.seeds, per_seed, toward_seeds)}},
            "plot": {k: [r[k] for r in rows] for k in rows[0]}}


def toward_metrics(p: Params, shares: list[dict[str, tuple[np.ndarray, np.ndarray]]]
                   ) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Per dim, the share of (clip, bin) pairs that move toward the bin (`steerability.toward`),
    and the share the clips' common shift alone gives; pooled over seeds with the two-level
    bootstrap (each seed's clips resampled by its bank), and per seed."""
    pooled: dict[str, Any] = {}
    per_seed: list[dict[str, float]] = [{} for _ in shares]
    for dim in DIMS:
        for i, key in enumerate((f"{dim}_toward", f"{dim}_toward_common")):
            observed, reps = [], []
            for seed, share, out in zip(p.seeds, shares, per_seed):
                x = share[dim][i]
                bank = pooling.clip_bank(len(x), p.evaluate.n_boot, seed)
                observed.append(float(np.nanmean(x)))
                reps.append(np.nanmean(x[bank], axis=1))
                out[key] = observed[-1]
            m = pooling.pool(observed, reps, p.evaluate.n_boot)
            pooled.update({key: m.mean, f"{key}_lo": m.lo, f"{key}_hi": m.hi})
            if i == 0:
                pooled[f"{key}_per_seed"] = m.per_seed
    return pooled, per_seed


def grid_size(p: Params, which: str) -> int:
    return p.steering.coarse_grid if which == "coarse" else p.grid


@dataclass
class Choice:
    """A variant's strength, where it was chosen, and the pooled dev curve behind it."""

    strength: StrengthValue  # a key: float or (neg, pos) tuple
    chosen_on: str
    dev_clips: int
    curve: list[pooling.Pooled] = field(default_factory=list)


def choose_strengths(p: Params, pool: SeedPool, which: str,
                     variants: tuple[Variant, ...]) -> dict[str, Choice]:
    """Each variant's strength: fixed by params, or picked on the pooled dev score over all seeds
    (`pick_strengths`)."""
    s = p.steering
    if s.strength != "dev":
        return {v.name: Choice(strength_key(s.strength), "params", 0) for v in variants}
    strengths = swept(p)
    task = SteerTask(which, variants, "dev", {v.name: strengths for v in variants})
    dev = steer(pool, p, task, desc=f"{which} dev strengths")
    return pick_strengths(dev, variants, strengths, p.evaluate.n_boot)


def pick_strengths(dev: list[SeedPredictions], variants: tuple[Variant, ...],
                   strengths: tuple[StrengthValue, ...], n_boot: int) -> dict[str, Choice]:
    """Per variant, the pooled dev curve over `strengths` and its pick (`pooling.pick_pooled`: the
    gentlest within one SE of the best, gentle meaning a small `strength.size`: |s|, or
    max(|neg|, |pos|) for a pair, so -1 is as gentle as 1)."""
    banks = [pooling.clip_bank(len(d.valence), n_boot, d.seed) for d in dev]
    out = {}
    for v in variants:
        curve = []
        for strength in strengths:
            observed, reps = [], []
            for d, bank in zip(dev, banks):
                dims = [pooling.delta_r(getattr(d, dim), getattr(d, f"pred_{dim}"),
                                        d.steered[v.name][strength][i], bank)
                        for i, dim in enumerate(DIMS)]
                observed.append((dims[0][0] + dims[1][0]) / 2)
                reps.append((dims[0][1] + dims[1][1]) / 2)
            curve.append(pooling.pool(observed, reps, n_boot))
        pick = pooling.pick_pooled([strength_size(x) for x in strengths], curve)
        out[v.name] = Choice(strengths[pick],
                             f"dev ({len(dev)} seeds pooled)", sum(len(d.valence) for d in dev), curve)
    return out


def validation(p: Params, pool: SeedPool, which: str, variants: tuple[Variant, ...],
               choices: dict[str, Choice]) -> list[SeedPredictions]:
    """Every variant at its chosen strength on the validation clips; with oracle categorical, also
    `CORRUPTED` at the oracle's strength (one pass per clip, for the break-even curve)."""
    strengths = {v.name: (choices[v.name].strength,) for v in variants}
    if ORACLE in strengths:
        variants = (*variants, CORRUPTED)
        strengths[CORRUPTED.name] = strengths[ORACLE]
    task = SteerTask(which, variants, "val", strengths)
    return steer(pool, p, task, desc=f"{which} validation")


def pooled_metrics(p: Params, variant: Variant, choice: Choice, val: list[SeedPredictions],
                   reference: list[dict[str, np.ndarray]], size: int) -> dict[str, Any]:
    """One variant's pooled metrics: Δr vs unsteered and vs the global-mean control, per dim."""
    n_boot = p.evaluate.n_boot
    m: dict[str, Any] = {"method": variant.name, "selection": variant.selection,
                         "uses_true_labels": variant.uses_true_labels, "grid": size,
                         "bins": size * size, "n_seeds": len(val),
                         "n_val_per_seed": [len(d.valence) for d in val],
                         "strength": strength_json(choice.strength),
                         "strength_chosen_on": choice.chosen_on,
                         "strength_dev_clips": choice.dev_clips}
    for i, dim in enumerate(DIMS):
        vs_base, vs_gm, r_new = ([], []), ([], []), []
        for d, ref in zip(val, reference):
            bank = pooling.clip_bank(len(d.valence), n_boot, d.seed)
            y, new = getattr(d, dim), d.steered[variant.name][choice.strength][i]
            for acc, base in ((vs_base, getattr(d, f"pred_{dim}")), (vs_gm, ref[dim])):
                obs, reps = pooling.delta_r(y, base, new, bank)
                acc[0].append(obs)
                acc[1].append(reps)
            r_new.append(correlation.pearson(y, new))
        dr, gm = pooling.pool(*vs_base, n_boot), pooling.pool(*vs_gm, n_boot)
        m.update({f"{dim}_r": float(np.mean(r_new)), f"{dim}_r_per_seed": r_new,
                  f"{dim}_dr": dr.mean, f"{dim}_dr_lo": dr.lo, f"{dim}_dr_hi": dr.hi,
                  f"{dim}_dr_per_seed": dr.per_seed, f"{dim}_sign_agreement": dr.sign_agreement,
                  f"{dim}_dr_vs_global_mean": gm.mean, f"{dim}_dr_vs_global_mean_lo": gm.lo,
                  f"{dim}_dr_vs_global_mean_hi": gm.hi,
                  f"{dim}_verdict": pooling.verdict(dr, gm),
                  f"{dim}_verdict_p": pooling.verdict_p(pooling.seed_sides(dr.per_seed),
                                                        pooling.seed_sides(gm.per_seed))})
    return m


def seed_metrics(p: Params, variant: Variant, strength: StrengthValue,
                 d: SeedPredictions) -> dict[str, Any]:
    """One seed's scores of one variant (r, Δr with its paired CI, Williams' p, CCC, RMSE, MAE)."""
    clips = evaluate.Clips(d.valence, d.arousal, d.pred_valence, d.pred_arousal, np.empty(0))
    v, a = d.steered[variant.name][strength]
    return {"strength": strength_json(strength),
            **evaluate.score(clips, v, a, n_boot=p.evaluate.n_boot, seed=d.seed)}


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


def swept(p: Params) -> tuple[StrengthValue, ...]:
    """The dev sweep's strengths as keys, in params order (the order of the strength plot's axis)."""
    return tuple(strength_key(x) for x in p.steering.strengths)


def curve_columns(choices: dict[str, Choice], strengths: tuple[StrengthValue, ...]) -> dict[str, list[Any]]:
    """Long-format dev curves: `strength` is the axis label (2, -1, 0.5/2; rows in sweep order),
    strength_neg/strength_pos the factors it puts on the ModBlocks' neg/pos scales."""
    cols: dict[str, list[Any]] = {"variant": [], "strength": [], "strength_neg": [], "strength_pos": [],
                                  "dr_mean": [], "dr_lo": [], "dr_hi": []}
    for name, c in choices.items():
        for s, pooled in zip(strengths, c.curve):
            neg, pos = strength_scales(s)
            for key, value in (("variant", name), ("strength", strength_label(s)),
                               ("strength_neg", neg), ("strength_pos", pos), ("dr_mean", pooled.mean),
                               ("dr_lo", pooled.lo), ("dr_hi", pooled.hi)):
                cols[key].append(value)
    return cols


def prediction_columns(val: list[SeedPredictions], choices: dict[str, Choice]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"seed": [], "audio_name": [], "true_valence": [], "true_arousal": [],
                                  "baseline_valence": [], "baseline_arousal": []}
    for d in val:
        n = len(d.valence)
        for key, values in (("seed", [d.seed] * n), ("audio_name", d.names),
                            ("true_valence", d.valence), ("true_arousal", d.arousal),
                            ("baseline_valence", d.pred_valence), ("baseline_arousal", d.pred_arousal)):
            cols[key].extend(values)
        for name, (v, a) in ((k, d.steered[k][choices[k].strength]) for k in choices):
            cols.setdefault(f"{name}_valence", []).extend(v)
            cols.setdefault(f"{name}_arousal", []).extend(a)
    return cols


def evaluate_grid(p: Params, which: str, reference: list[dict[str, np.ndarray]]) -> GridResult:
    """Every steering variant of one grid over all seeds (the global-mean control is the baseline
    stage's: it does not depend on the grid). `reference`: per seed, the global-mean predictions."""
    variants = tuple(v for v in evaluate.variants(p.evaluate.bilinear) if v.name != GLOBAL_MEAN.name)
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        choices = choose_strengths(p, pool, which, variants)
        val = validation(p, pool, which, variants, choices)
    _check_reference(val, reference)
    size = grid_size(p, which)
    pooled = {v.name: pooled_metrics(p, v, choices[v.name], val, reference, size) for v in variants}
    per_seed = {f"s{d.seed}": {v.name: seed_metrics(p, v, choices[v.name].strength, d)
                               for v in variants} for d in val}
    grid = Grid(size)
    found, confusion = detection_metrics(p, grid, val, choices)
    breakeven, curve = breakeven_metrics(p, grid, val, choices[ORACLE].strength, found,
                                         pooled.get("predicted_categorical"))
    return GridResult(which, size, pooled, per_seed, curve_columns(choices, swept(p)),
                      prediction_columns(val, choices), found, breakeven, confusion, curve)


def _pooled_keys(key: str, pooled: pooling.Pooled) -> dict[str, Any]:
    return {key: pooled.mean, f"{key}_lo": pooled.lo, f"{key}_hi": pooled.hi,
            f"{key}_per_seed": pooled.per_seed}


def detection_metrics(p: Params, grid: Grid, val: list[SeedPredictions], choices: dict[str, Choice]
                      ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Bin accuracy (joint and per axis) on each seed's validation clips, pooled; each deployable
    variant's and its oracle's change in mean |error| on the clips binned right and wrong; and the
    confusion plot rows (one per clip of every seed: its true and its predicted bin)."""
    n_boot = p.evaluate.n_boot
    hits, banks, rows = [], [], {"seed": [], "true_bin": [], "predicted_bin": []}
    names = [f"{k:02d} {name}" for k, name in enumerate(grid.names())]
    for d in val:
        true, predicted = detection.bins(grid, d.valence, d.arousal, d.pred_valence, d.pred_arousal)
        hits.append(detection.hits(grid, true, predicted))
        banks.append(pooling.clip_bank(len(true), n_boot, d.seed))
        rows["seed"] += [d.seed] * len(true)
        rows["true_bin"] += [names[k] for k in true]
        rows["predicted_bin"] += [names[k] for k in predicted]
    out: dict[str, Any] = {"grid": grid.size, "bins": grid.n_bins, "n_seeds": len(val),
                           "n_val_per_seed": [len(d.valence) for d in val]}
    for axis in detection.AXES:
        acc = pooling.pool([float(h[axis].mean()) for h in hits],
                           [h[axis][bank].mean(axis=1) for h, bank in zip(hits, banks)], n_boot)
        out.update(_pooled_keys(f"{axis}_accuracy", acc))
    out["n_right_per_seed"] = [int(h["joint"].sum()) for h in hits]
    decomposition: dict[str, Any] = {}
    for name in choices:
        selection_, method = name.split("_", 1)
        if selection_ != "predicted" or f"oracle_{method}" not in choices:
            continue
        for variant in (name, f"oracle_{method}"):
            entry = decomposition.setdefault(method, {}).setdefault(variant.split("_", 1)[0], {})
            for group in ("right", "wrong"):
                keys: dict[str, Any] = {}
                for i, dim in enumerate(DIMS):
                    observed, reps = [], []
                    for d, h, bank in zip(val, hits, banks):
                        new = d.steered[variant][choices[variant].strength][i]
                        mask = h["joint"] if group == "right" else ~h["joint"]
                        o, r = detection.error_change(getattr(d, dim), getattr(d, f"pred_{dim}"),
                                                      new, mask, bank)
                        observed.append(o)
                        reps.append(r)
                    keys.update(_pooled_keys(f"{dim}_dmae", pooling.pool(observed, reps, n_boot)))
                entry[group] = {"strength": strength_json(choices[variant].strength), **keys}
    out["decomposition"] = decomposition
    return out, rows


def breakeven_metrics(p: Params, grid: Grid, val: list[SeedPredictions], strength: StrengthValue,
                      found: dict[str, Any], predicted: dict[str, Any] | None
                      ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Oracle categorical steering with the true bin kept on a share p of clips and a wrong bin
    drawn the way the model errs on the rest (`detection.corruption`, per seed): pooled Δr vs
    unsteered against p, p* where its CI reaches 0, and the model's own accuracy beside it."""
    n_boot = p.evaluate.n_boot
    curves = {dim: {"observed": [[] for _ in detection.P_GRID], "reps": [[] for _ in detection.P_GRID]}
              for dim in DIMS}
    realised = np.zeros(len(detection.P_GRID))
    for d in val:
        true, predicted_bins = detection.bins(grid, d.valence, d.arousal, d.pred_valence, d.pred_arousal)
        corruption = detection.corruption(grid, true, predicted_bins, d.seed)
        bank = pooling.clip_bank(len(true), n_boot, d.seed)
        right, wrong = d.steered[ORACLE][strength], d.steered[CORRUPTED.name][strength]
        for j, prob in enumerate(detection.P_GRID):
            kept = corruption.kept(prob)
            realised[j] += kept.mean() / len(val)
            for i, dim in enumerate(DIMS):
                o, r = pooling.delta_r(getattr(d, dim), getattr(d, f"pred_{dim}"),
                                       np.where(kept, right[i], wrong[i]), bank)
                curves[dim]["observed"][j].append(o)
                curves[dim]["reps"][j].append(r)
    accuracy = found["joint_accuracy"]
    out: dict[str, Any] = {"grid": grid.size, "bins": grid.n_bins, "n_seeds": len(val),
                           "strength": strength_json(strength), "p_step": detection.P_STEP,
                           "model_accuracy": accuracy, "model_accuracy_lo": found["joint_accuracy_lo"],
                           "model_accuracy_hi": found["joint_accuracy_hi"]}
    rows: dict[str, list[Any]] = {"dim": [], "p": [], "dr_mean": [], "dr_lo": [], "dr_hi": [],
                                  "realised_accuracy": [], "model_accuracy": []}
    for dim in DIMS:
        points = [pooling.pool(o, r, n_boot)
                  for o, r in zip(curves[dim]["observed"], curves[dim]["reps"])]
        for prob, pt, real in zip(detection.P_GRID, points, realised):
            for key, value in (("dim", dim), ("p", prob), ("dr_mean", pt.mean), ("dr_lo", pt.lo),
                               ("dr_hi", pt.hi), ("realised_accuracy", real), ("model_accuracy", accuracy)):
                rows[key].append(value)
        even = detection.break_even(detection.P_GRID, [pt.lo for pt in points])
        out.update({f"{dim}_p_star": even.p_star, f"{dim}_p_star_status": even.status,
                    f"{dim}_dr_at_p1": points[0].mean, f"{dim}_dr_at_p1_lo": points[0].lo,
                    f"{dim}_dr_at_p1_hi": points[0].hi,
                    f"{dim}_dr_at_model_accuracy": detection.interpolate(
                        detection.P_GRID, [pt.mean for pt in points], accuracy),
                    f"{dim}_dr_predicted_categorical": (predicted or {}).get(f"{dim}_dr", float("nan"))})
    return out, rows


def _check_reference(val: list[SeedPredictions], reference: list[dict[str, np.ndarray]]) -> None:
    for d, ref in zip(val, reference, strict=True):
        if list(ref["names"]) != d.names:
            raise EmosteerError(f"seed {d.seed}: the baseline stage's validation clips differ from "
                                "this stage's (rerun evaluate_baseline)")


@dataclass
class BaselineResult:
    pooled: dict[str, Any]
    per_seed: dict[str, dict[str, float]]
    control: GridResult
    reference: dict[str, np.ndarray]  # flat arrays for the npz: s<seed>_<key>
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> pooled metrics


_COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def feedback_method(passes: int) -> str:
    """The feedback row's name: `two_passes_vs_one` for the default 2 passes."""
    word = _COUNTS[passes - 1] if passes <= len(_COUNTS) else str(passes)
    return f"{word}_pass{'es' if passes > 1 else ''}_vs_one"


def feedback_metrics(p: Params) -> dict[str, Any]:
    """Does the LRM feedback help? The final pass against pass 1 of the same unsteered forward call
    (both stored by extract_activations: no extra pass), on each seed's validation clips: pooled Δr
    with the two-level CI, and a verdict without the global-mean condition (there is no bin to be
    specific about: docs/statistics.md, "The feedback row")."""
    n_boot, k = p.evaluate.n_boot, p.model.forward_passes
    seeds = []
    for seed in p.seeds:
        paths = SeedPaths(seed)
        acts = activations.read(paths.activations)
        idx = split.read_parts(paths.split, len(acts.names))["val"]
        seeds.append((seed, idx, acts))
    m: dict[str, Any] = {"method": feedback_method(k), "selection": "feedback",
                         "uses_true_labels": False, "forward_passes": k,
                         "compares": f"pass {k} vs pass 1 of the same unsteered call",
                         "n_seeds": len(seeds), "n_val_per_seed": [len(idx) for _, idx, _ in seeds]}
    for dim in DIMS:
        observed, reps, r_final, r_first = [], [], [], []
        for seed, idx, acts in seeds:
            y = getattr(acts, dim)[idx]
            first, final = getattr(acts, f"pass1_{dim}")[idx], getattr(acts, f"pred_{dim}")[idx]
            o, r = pooling.delta_r(y, first, final, pooling.clip_bank(len(idx), n_boot, seed))
            observed.append(o)
            reps.append(r)
            r_final.append(correlation.pearson(y, final))
            r_first.append(correlation.pearson(y, first))
        dr = pooling.pool(observed, reps, n_boot)
        m.update({f"{dim}_r": float(np.mean(r_final)), f"{dim}_r_per_seed": r_final,
                  f"{dim}_r_pass1": float(np.mean(r_first)), f"{dim}_r_pass1_per_seed": r_first,
                  f"{dim}_dr": dr.mean, f"{dim}_dr_lo": dr.lo, f"{dim}_dr_hi": dr.hi,
                  f"{dim}_dr_per_seed": dr.per_seed, f"{dim}_sign_agreement": dr.sign_agreement,
                  f"{dim}_verdict": pooling.verdict(dr, None),
                  f"{dim}_verdict_p": pooling.verdict_p(pooling.seed_sides(dr.per_seed), None)})
    return m


def evaluate_baseline(p: Params) -> BaselineResult:
    """Unsteered scores per seed and pooled, and the global-mean control (grid-independent)."""
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        choices = choose_strengths(p, pool, "coarse", (GLOBAL_MEAN,))
        val = validation(p, pool, "coarse", (GLOBAL_MEAN,), choices)
    reference: dict[str, np.ndarray] = {}
    for d in val:
        v, a = d.steered[GLOBAL_MEAN.name][choices[GLOBAL_MEAN.name].strength]
        reference.update({f"s{d.seed}_names": np.array(d.names), f"s{d.seed}_valence": v,
                          f"s{d.seed}_arousal": a})
    refs = read_reference_arrays(reference, p.seeds)
    choice = choices[GLOBAL_MEAN.name]
    control = GridResult(
        "control", 0, {GLOBAL_MEAN.name: pooled_metrics(p, GLOBAL_MEAN, choice, val, refs, 0)},
        {f"s{d.seed}": {GLOBAL_MEAN.name: seed_metrics(p, GLOBAL_MEAN, choice.strength, d)} for d in val},
        curve_columns(choices, swept(p)),
        prediction_columns(val, choices))
    per_seed = {}
    for d in val:
        per_seed[d.seed] = evaluate.baseline_metrics(d.valence, d.arousal, d.pred_valence, d.pred_arousal)
    pooled: dict[str, Any] = {"method": "baseline", "n_seeds": len(val),
                              "n_val_per_seed": [len(d.valence) for d in val],
                              "forward_passes": p.model.forward_passes}
    for dim in DIMS:
        rs = [per_seed[s][f"{dim}_r"] for s in p.seeds]
        pooled.update({f"{dim}_r": float(np.mean(rs)), f"{dim}_r_min": float(np.min(rs)),
                       f"{dim}_r_per_seed": rs})
    feedback = feedback_metrics(p)
    return BaselineResult(pooled, {f"s{s}": per_seed[s] for s in p.seeds}, control, reference,
                          {feedback["method"]: feedback})


def read_reference_arrays(arrays: Any, seeds: list[int]) -> list[dict[str, np.ndarray]]:
    out = []
    for s in seeds:
        try:
            out.append({"names": np.asarray(arrays[f"s{s}_names"]).astype(str),
                        "valence": np.asarray(arrays[f"s{s}_valence"]),
                        "arousal": np.asarray(arrays[f"s{s}_arousal"])})
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
    for name, metrics in result.pooled.items():
        write_json(POOLED / result.which / f"{name}.json", metrics)
    write_json(METRICS / "seeds" / f"{result.which}.json", result.per_seed)
    write_csv(PLOTS / "strength" / f"{result.which}.csv", result.curves)
    write_csv(PLOTS / "predictions" / f"{result.which}.csv", result.predictions)
    if result.detection is not None:
        write_json(METRICS / "detection" / f"{result.which}.json", result.detection)
        write_csv(PLOTS / "confusion" / f"{result.which}.csv", result.confusion)
    if result.breakeven is not None:
        write_json(METRICS / "breakeven" / f"{result.which}.json", result.breakeven)
        write_csv(PLOTS / "breakeven" / f"{result.which}.csv", result.breakeven_curve)
