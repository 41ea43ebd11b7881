"""Fusion twins: each steering variant's unsteered prediction moved toward where it steers, no network.

A steering variant feeds the model the signal of a place in label space: categorical the signal of
the bin of (v, a), IDW a blend of the populated bins' signals weighted by distance, bilinear a
blend of the four surrounding bins' signals. Its fusion twin moves the unsteered prediction toward
the same place, weighted the same way:

- categorical: the centre of the bin whose signal the variant uses (the bin of (v, a), or the
  populated bin it fell back to: `SignalTable.source`);
- idw: sum_c w_c * centre_c over the populated bins, w_c = 1 / (d_c + IDW_EPS) normalised
  (`selection.idw_weights`, the variant's own weights);
- bilinear: sum_k w_k * centre of source[bin_k] over the four surrounding bins
  (`selection.bilinear_weights`, over the fallback-resolved table as the variant).

and then, per dim, fused = (1 - w) * unsteered + w * target. (v, a) are what the variant selects
with: the true labels for oracle, the clipped unsteered prediction for predicted. w is picked on the
dev clips exactly as a strength is (`pick_weight`: the gentlest, here the smallest w, within one
standard error of the best pooled dev score). If steering beats its twin, it carries something
the bin's value alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emosteer.errors import EmosteerError
from emosteer.evaluation import pooling
from emosteer.evaluation.methods import INTERPOLATIONS
from emosteer.steering.signals import SignalTable

METHODS = tuple(INTERPOLATIONS)


def targets(table: SignalTable, v: np.ndarray, a: np.ndarray, method: str) -> np.ndarray:
    """(N, 2) [valence, arousal] points the variant `method` steers each (v, a) toward (float64):
    the registry's own target (`methods.INTERPOLATIONS`), so a twin and its variant cannot drift."""
    if method not in INTERPOLATIONS:
        raise EmosteerError(f"fusion: unknown method {method!r}; expected one of {list(METHODS)}")
    return np.asarray(INTERPOLATIONS[method].target(table, v, a), dtype=np.float64)


def fuse(unsteered: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * unsteered + weight * target, elementwise (float64); weight in [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise EmosteerError(f"fusion: weight must be in [0, 1], got {weight}")
    u, t = np.asarray(unsteered, np.float64), np.asarray(target, np.float64)
    if u.shape != t.shape:
        raise EmosteerError(f"fusion: unsteered shape {u.shape} != target shape {t.shape}")
    return (1.0 - weight) * u + weight * t


def fused(
    pred_valence: np.ndarray, pred_arousal: np.ndarray, target: np.ndarray, weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """(valence, arousal) of the fusion twin: each dim fused with its column of target (N, 2)."""
    t = np.asarray(target, np.float64)
    if t.ndim != 2 or t.shape[1] != 2:
        raise EmosteerError(f"fusion: target must be (N, 2), got {t.shape}")
    return fuse(pred_valence, t[:, 0], weight), fuse(pred_arousal, t[:, 1], weight)


@dataclass(frozen=True)
class DevClips:
    """One seed's dev clips for picking a twin's weight: labels, unsteered predictions, targets."""

    seed: int
    valence: np.ndarray
    arousal: np.ndarray
    pred_valence: np.ndarray
    pred_arousal: np.ndarray
    target: np.ndarray  # (N, 2)


def pick_weight(dev: Sequence[DevClips], weights: Sequence[float], n_boot: int) -> tuple[int, list[pooling.Pooled]]:
    """The index of the chosen weight and the pooled dev curve behind it: per weight, the mean over
    seeds of (Δr valence + Δr arousal) / 2 against the unsteered prediction, with the two-level CI
    (each seed's clips resampled by its own `pooling.clip_bank`), then `pooling.pick_pooled` with
    the weight as its size: the smallest weight within one standard error of the best."""
    if not weights:
        raise EmosteerError("fusion: no weights to pick from")
    banks = [pooling.clip_bank(len(d.valence), n_boot, d.seed) for d in dev]
    curve = []
    for w in weights:
        observed, reps = [], []
        for d, bank in zip(dev, banks):
            fv, fa = fused(d.pred_valence, d.pred_arousal, d.target, w)
            dv = pooling.delta_r(d.valence, d.pred_valence, fv, bank)
            da = pooling.delta_r(d.arousal, d.pred_arousal, fa, bank)
            observed.append((dv[0] + da[0]) / 2)
            reps.append((dv[1] + da[1]) / 2)
        curve.append(pooling.pool(observed, reps, n_boot))
    return pooling.pick_pooled(list(weights), curve), curve
