"""Why deployable steering fails, pooled over seeds: bin detection (how often the model's own bin is
the true one, and what steering does on the clips it bins right, wrong and all) and the break-even
curve (the model's own bins with a share q of its wrong bins repaired).

The per-seed measures are `detection`'s; this module pools them over seeds into the records of
metrics/detection/ and metrics/breakeven/ and their plot rows: the accuracies by the two-level
bootstrap (`metrics.pool_seeds`, a description), the decomposition and the break-even curve by the
verdict procedure (`verdicts.estimate`). It takes the validation predictions, the grid, the chosen
strengths, n_boot and the clip set's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emosteer.evaluation import detection, pooling, verdicts
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import METHODS, ORACLE, PREDICTED, twin
from emosteer.evaluation.metrics import DIMS, Choice, pool_seeds, record
from emosteer.grid import Grid
from emosteer.strength import Value as StrengthValue
from emosteer.strength import to_json as strength_json


def detection_metrics(
    grid: Grid, val: list[SeedPredictions], choices: dict[str, Choice], n_boot: int, n_clips: int
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Bin accuracy (joint and per axis) on each seed's validation clips, pooled (two-level
    bootstrap: a description); each deployable variant's and its oracle's change in mean |error|
    on the clips binned right, wrong and all (`detection.decompose`; each group's change and its
    contribution, which add up to the all-clips row, pooled by the verdict procedure); and the
    confusion plot rows (one per clip of every seed: its true and its predicted bin)."""
    hits, banks, rows = [], [], {"seed": [], "true_bin": [], "predicted_bin": []}
    names = [f"{k:02d} {name}" for k, name in enumerate(grid.names())]
    for d in val:
        true, predicted = detection.bins(grid, d.valence, d.arousal, d.pred_valence, d.pred_arousal)
        hits.append(detection.hits(grid, true, predicted))
        banks.append(pooling.clip_bank(len(true), n_boot, d.seed))
        rows["seed"] += [d.seed] * len(true)
        rows["true_bin"] += [names[k] for k in true]
        rows["predicted_bin"] += [names[k] for k in predicted]
    out: dict[str, Any] = {
        "grid": grid.size,
        "bins": grid.n_bins,
        "n_seeds": len(val),
        "n_val_per_seed": [len(d.valence) for d in val],
    }
    for axis in detection.AXES:
        acc = pool_seeds(((float(h[axis].mean()), h[axis][bank].mean(axis=1)) for h, bank in zip(hits, banks)), n_boot)
        out.update(record(f"{axis}_accuracy", acc))
    out["n_right_per_seed"] = [int(h["joint"].sum()) for h in hits]
    n_val = [len(d.valence) for d in val]
    decomposition: dict[str, Any] = {}
    for name in choices:
        deployable, oracle = METHODS[name], twin(METHODS[name], "oracle")
        if deployable.selection != "predicted" or oracle is None or oracle.name not in choices:
            continue
        for variant in (name, oracle.name):
            entry = decomposition.setdefault(deployable.kind, {}).setdefault(METHODS[variant].selection, {})
            parts = {
                dim: [
                    detection.decompose(
                        getattr(d, dim),
                        getattr(d, f"pred_{dim}"),
                        d.steered[variant][choices[variant].strength][i],
                        h["joint"],
                    )
                    for d, h in zip(val, hits)
                ]
                for i, dim in enumerate(DIMS)
            }
            for group in detection.GROUPS:
                keys: dict[str, Any] = {}
                for dim in DIMS:
                    seeds = [p[group] for p in parts[dim]]
                    keys.update(
                        record(
                            f"{dim}_dmae",
                            verdicts.estimate([s.change for s in seeds], [s.change_var for s in seeds], n_val, n_clips),
                        )
                    )
                    keys.update(
                        record(
                            f"{dim}_contribution",
                            verdicts.estimate(
                                [s.contribution for s in seeds], [s.contribution_var for s in seeds], n_val, n_clips
                            ),
                            per_seed=False,
                        )
                    )
                entry[group] = {"strength": strength_json(choices[variant].strength), **keys}
    out["decomposition"] = decomposition
    return out, rows


def breakeven_metrics(
    grid: Grid,
    val: list[SeedPredictions],
    strength: StrengthValue,
    found: dict[str, Any],
    predicted: dict[str, Any] | None,
    n_clips: int,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The break-even from the model's own errors (docs/statistics.md, "Break-even"): per seed, its
    clips binned wrong by the model are repaired (given their true bin) in a random order, a share
    q at a time (`detection.repair`); at each q the prediction is the oracle-bin one where the bin
    is right or repaired and the model's-bin one elsewhere, both at the oracle's strength. Δr vs
    unsteered at each q is pooled by the verdict procedure; p* is the joint accuracy a + q(1 - a)
    where the pooled estimate crosses 0 (`estimate`) and where its lower bound does (`p_star`, the
    accuracy at which the gain is established). q = 0 is the model's own bins; q = 1 the oracle."""
    qs = detection.Q_GRID
    values = {dim: np.empty((len(val), len(qs))) for dim in DIMS}
    variances = {dim: np.empty((len(val), len(qs))) for dim in DIMS}
    realised = np.zeros(len(qs))
    for s_i, d in enumerate(val):
        true, predicted_bins = detection.bins(grid, d.valence, d.arousal, d.pred_valence, d.pred_arousal)
        rep = detection.repair(true, predicted_bins, d.seed)
        oracle, own = d.steered[ORACLE.name][strength], d.steered[PREDICTED.name][strength]
        for i, dim in enumerate(DIMS):
            delta, var, acc = detection.repair_curve(
                getattr(d, dim), getattr(d, f"pred_{dim}"), oracle[i], own[i], rep, qs
            )
            values[dim][s_i], variances[dim][s_i] = delta, var
        realised += acc / len(val)
    n_val = [len(d.valence) for d in val]
    accuracy = found["joint_accuracy"]
    out: dict[str, Any] = {
        "grid": grid.size,
        "bins": grid.n_bins,
        "n_seeds": len(val),
        "n_clips": n_clips,
        "strength": strength_json(strength),
        "q_step": detection.Q_STEP,
        "model_accuracy": accuracy,
        "model_accuracy_lo": found["joint_accuracy_lo"],
        "model_accuracy_hi": found["joint_accuracy_hi"],
    }
    rows: dict[str, list[Any]] = {
        "dim": [],
        "p": [],
        "q": [],
        "dr_mean": [],
        "dr_lo": [],
        "dr_hi": [],
        "realised_accuracy": [],
        "model_accuracy": [],
    }
    for dim in DIMS:
        points = [verdicts.estimate(values[dim][:, j], variances[dim][:, j], n_val, n_clips) for j in range(len(qs))]
        for q, pt, real in zip(qs, points, realised):
            for key, value in (
                ("dim", dim),
                ("p", float(detection.repaired_accuracy(accuracy, q))),
                ("q", q),
                ("dr_mean", pt.mean),
                ("dr_lo", pt.lo),
                ("dr_hi", pt.hi),
                ("realised_accuracy", real),
                ("model_accuracy", accuracy),
            ):
                rows[key].append(value)
        even = detection.break_even_accuracy(qs, [pt.mean for pt in points], [pt.lo for pt in points], accuracy)
        oracle_end, model_end = points[0], points[-1]  # qs run from 1 (every bin right) to 0
        out.update(
            {
                f"{dim}_p_star": even.bound,
                f"{dim}_p_star_status": even.bound_status,
                f"{dim}_p_star_estimate": even.estimate,
                f"{dim}_p_star_estimate_status": even.estimate_status,
                f"{dim}_dr_at_p1": oracle_end.mean,
                f"{dim}_dr_at_p1_lo": oracle_end.lo,
                f"{dim}_dr_at_p1_hi": oracle_end.hi,
                f"{dim}_dr_at_model_accuracy": model_end.mean,
                f"{dim}_dr_at_model_accuracy_lo": model_end.lo,
                f"{dim}_dr_at_model_accuracy_hi": model_end.hi,
                f"{dim}_dr_predicted_categorical": (predicted or {}).get(f"{dim}_dr", float("nan")),
            }
        )
    return out, rows
