"""Why deployable steering fails, pooled over seeds: bin detection (how often the model's own bin is
the true one, and what steering does on the clips it bins right and wrong) and the break-even
curve (oracle steering with the true bin kept on a share p of clips).

The per-seed measures are `detection`'s; this module pools them over seeds with the two-level
bootstrap (`metrics.pool_seeds`) into the records of metrics/detection/ and metrics/breakeven/ and
their plot rows. It takes the validation predictions, the grid, the chosen strengths and n_boot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emosteer.evaluation import detection, pooling
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import CORRUPTED, METHODS, ORACLE, twin
from emosteer.evaluation.metrics import DIMS, Choice, pool_seeds, record
from emosteer.grid import Grid
from emosteer.strength import Value as StrengthValue
from emosteer.strength import to_json as strength_json


def detection_metrics(grid: Grid, val: list[SeedPredictions], choices: dict[str, Choice], n_boot: int
                      ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Bin accuracy (joint and per axis) on each seed's validation clips, pooled; each deployable
    variant's and its oracle's change in mean |error| on the clips binned right and wrong; and the
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
    out: dict[str, Any] = {"grid": grid.size, "bins": grid.n_bins, "n_seeds": len(val),
                           "n_val_per_seed": [len(d.valence) for d in val]}
    for axis in detection.AXES:
        acc = pool_seeds(((float(h[axis].mean()), h[axis][bank].mean(axis=1)) for h, bank in zip(hits, banks)),
                         n_boot)
        out.update(record(f"{axis}_accuracy", acc))
    out["n_right_per_seed"] = [int(h["joint"].sum()) for h in hits]
    decomposition: dict[str, Any] = {}
    for name in choices:
        deployable, oracle = METHODS[name], twin(METHODS[name], "oracle")
        if deployable.selection != "predicted" or oracle is None or oracle.name not in choices:
            continue
        for variant in (name, oracle.name):
            entry = decomposition.setdefault(deployable.kind, {}).setdefault(METHODS[variant].selection, {})
            for group in ("right", "wrong"):
                keys: dict[str, Any] = {}
                for i, dim in enumerate(DIMS):
                    pairs = []
                    for d, h, bank in zip(val, hits, banks):
                        new = d.steered[variant][choices[variant].strength][i]
                        mask = h["joint"] if group == "right" else ~h["joint"]
                        pairs.append(detection.error_change(getattr(d, dim), getattr(d, f"pred_{dim}"),
                                                            new, mask, bank))
                    keys.update(record(f"{dim}_dmae", pool_seeds(pairs, n_boot)))
                entry[group] = {"strength": strength_json(choices[variant].strength), **keys}
    out["decomposition"] = decomposition
    return out, rows


def breakeven_metrics(grid: Grid, val: list[SeedPredictions], strength: StrengthValue,
                      found: dict[str, Any], predicted: dict[str, Any] | None, n_boot: int
                      ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Oracle categorical steering with the true bin kept on a share p of clips and a wrong bin
    drawn the way the model errs on the rest (`detection.corruption`, per seed): pooled Δr vs
    unsteered against p, p* where its CI reaches 0, and the model's own accuracy beside it."""
    curves: dict[str, list[list[tuple[float, np.ndarray]]]] = {dim: [[] for _ in detection.P_GRID] for dim in DIMS}
    realised = np.zeros(len(detection.P_GRID))
    for d in val:
        true, predicted_bins = detection.bins(grid, d.valence, d.arousal, d.pred_valence, d.pred_arousal)
        corruption = detection.corruption(grid, true, predicted_bins, d.seed)
        bank = pooling.clip_bank(len(true), n_boot, d.seed)
        right, wrong = d.steered[ORACLE.name][strength], d.steered[CORRUPTED.name][strength]
        for j, prob in enumerate(detection.P_GRID):
            kept = corruption.kept(prob)
            realised[j] += kept.mean() / len(val)
            for i, dim in enumerate(DIMS):
                curves[dim][j].append(pooling.delta_r(getattr(d, dim), getattr(d, f"pred_{dim}"),
                                                      np.where(kept, right[i], wrong[i]), bank))
    accuracy = found["joint_accuracy"]
    out: dict[str, Any] = {"grid": grid.size, "bins": grid.n_bins, "n_seeds": len(val),
                           "strength": strength_json(strength), "p_step": detection.P_STEP,
                           "model_accuracy": accuracy, "model_accuracy_lo": found["joint_accuracy_lo"],
                           "model_accuracy_hi": found["joint_accuracy_hi"]}
    rows: dict[str, list[Any]] = {"dim": [], "p": [], "dr_mean": [], "dr_lo": [], "dr_hi": [],
                                  "realised_accuracy": [], "model_accuracy": []}
    for dim in DIMS:
        points = [pool_seeds(pairs, n_boot) for pairs in curves[dim]]
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
