"""Is steering directional? Each populated bin's signal of one grid applied to every validation clip
of each seed (a share of the bins per task, `SeedPool.map_parts`), summarised per seed
(`steering.steerability`) and pooled over seeds (`evaluation.metrics.toward_metrics`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from emosteer.data import features, split
from emosteer.evaluation.metrics import DIMS, toward_metrics
from emosteer.jobs.evaluate import EvaluateParams, predictor
from emosteer.jobs.extract import load_seed_model
from emosteer.jobs.seeds import SeedPool
from emosteer.model import activations
from emosteer.pipeline import FEATURES, SeedPaths
from emosteer.steering import signals, steerability

STEERABILITY_PARTS = 3  # each seed's bins in this many tasks, so 5 seeds balance over 2 workers


def steerability_part(seed: int, part: int, p: EvaluateParams, which: str) -> dict[str, np.ndarray]:
    """Shifts of the seed's validation clips under one contiguous share of its populated bins;
    `which`: the grid's name (`3x3`)."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    idx = split.read_parts(paths.split, len(acts.names))["val"]
    table = signals.read_h5(paths.signals(which, "h5"))
    bins = np.array_split(np.flatnonzero(table.populated), STEERABILITY_PARTS)[part]
    return steerability.shifts(
        predictor(load_seed_model(paths, p.model.forward_passes, p.device), p),
        table,
        features.read_features(FEATURES, idx),
        acts.pred_valence[idx],
        acts.pred_arousal[idx],
        p.steerability.strength,
        bins,
    )


def evaluate_steerability(p: EvaluateParams, which: str) -> dict[str, Any]:
    """Pooled and per-seed directionality on one grid, and its plot columns."""
    with SeedPool(p.seeds, p.workers, p.threads) as pool:
        parts = pool.map_parts(steerability_part, range(STEERABILITY_PARTS), p, which, desc=f"steerability {which}")
    per_seed, shares_toward, n_clips = [], [], 0
    for seed, shares in zip(p.seeds, parts):
        paths = SeedPaths(seed)
        table = signals.read_h5(paths.signals(which, "h5"))
        bins = np.flatnonzero(table.populated)
        moved = {dim: np.concatenate([share[dim] for share in shares]) for dim in DIMS}
        per_seed.append(steerability.summarise(table, bins, moved, p.steerability.strength, p.evaluate.n_boot, seed))
        acts = activations.read(paths.activations)
        n_clips = len(acts.names)
        idx = split.read_parts(paths.split, n_clips)["val"]
        centres = table.grid.centre_points()[bins]
        shares_toward.append(
            {
                dim: steerability.toward(moved[dim], centres[:, axis], getattr(acts, f"pred_{dim}")[idx])
                for axis, dim in enumerate(DIMS)
            }
        )
    pooled = steerability.pool(per_seed)
    rows = steerability.plot_rows(pooled)
    toward_pooled, toward_seeds = toward_metrics(p.seeds, shares_toward, n_clips)
    return {
        "metrics": {
            "pooled": {**steerability.metrics(pooled), **toward_pooled},
            "per_seed": {f"s{s}": {**steerability.metrics(r), **t} for s, r, t in zip(p.seeds, per_seed, toward_seeds)},
        },
        "plot": {k: [r[k] for r in rows] for k in rows[0]},
    }
