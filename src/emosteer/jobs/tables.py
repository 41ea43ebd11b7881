"""One seed's signal tables: per-bin mean 128-d activations of its TRAINING clips, per grid."""

from __future__ import annotations

from typing import Any

from emosteer.data import split
from emosteer.jobs.grids import GridParams, grids
from emosteer.model import activations
from emosteer.pipeline import SeedPaths
from emosteer.steering import signals


class BinParams(GridParams):
    """What bin_and_aggregate reads of params.yaml: the grids, min_count and the fallback."""


def bin_seed(seed: int, p: BinParams) -> dict[str, dict[str, list[Any]]]:
    """The seed's signal table of every grid of the run (`jobs.grids`), from its TRAINING clips
    only; returns the training clips' bin labels per grid name (plot data for the bin-count
    heatmaps)."""
    paths = SeedPaths(seed)
    acts = activations.read(paths.activations)
    train = split.read_parts(paths.split, len(acts.names))["train"]
    out = {}
    for run_grid in grids(p):
        which, grid = run_grid.name, run_grid.grid
        table = signals.aggregate_split(
            acts.valence_128d, acts.arousal_128d, acts.valence, acts.arousal, train, grid, p.steering.min_count
        )
        attrs = {
            "which": which,
            "activations_pass": acts.activations_pass,
            "fallback": p.steering.fallback,
            "source_split": "train",
            "seed": seed,
        }
        prov = signals.Provenance.of_model(
            paths.model,
            split="train",
            seed=seed,
            activations_pass=acts.activations_pass,
            forward_passes=acts.forward_passes,
            extra={"which": which, "fallback": p.steering.fallback},
        )
        signals.write_h5(table, paths.signals(which, "h5"), attrs, prov)
        signals.write_json(table, paths.signals(which, "json"), prov)
        vi, ai = grid.bin_coords(grid.bin_index(acts.valence[train], acts.arousal[train]))
        out[which] = {
            "seed": [seed] * len(train),
            "valence_bin": grid.axis_labels(vi),
            "arousal_bin": grid.axis_labels(ai),
        }
    return out
