"""Per-bin mean 128-d signals from TRAINING clips, for the coarse grid and the fine grid."""

from __future__ import annotations

from typing import Any

import numpy as np

from emosteer import params, pipeline
from emosteer.data import split
from emosteer.model import activations
from emosteer.steering import signals
from emosteer.steering.grid import Grid


def bin_labels(grid: Grid, index: np.ndarray) -> list[str]:
    """Axis labels that sort in bin order and show the bin's range, e.g. '1 [-0.60,-0.20)'."""
    e = grid.edges
    width = len(str(grid.size - 1))
    return [f"{i:0{width}d} [{e[i]:+.2f},{e[i + 1]:+.2f}{']' if i == grid.size - 1 else ')'}"
            for i in index]


def main(raw: dict[str, Any]) -> None:
    fine = params.grid(raw)
    steering = params.steering(raw)
    acts = activations.read(pipeline.ACTIVATIONS)
    parts = split.read_split(pipeline.SPLIT, len(acts.names))
    train = np.asarray(parts["train"], dtype=np.int64)
    for which, size in (("coarse", steering.coarse_grid), ("fine", fine)):
        grid = Grid(size)
        table = signals.aggregate_split(acts.valence_128d, acts.arousal_128d, acts.valence,
                                        acts.arousal, train, grid, steering.min_count)
        attrs = {"which": which, "activations_pass": acts.activations_pass,
                 "fallback": steering.fallback, "source_split": "train"}
        signals.write_h5(table, pipeline.SIGNALS / f"{which}.h5", attrs)
        signals.write_json(table, pipeline.SIGNALS / f"{which}.json")
        vi, ai = grid.bin_coords(grid.bin_index(acts.valence[train], acts.arousal[train]))
        pipeline.write_csv(pipeline.PLOTS / "bin_counts" / f"{which}.csv",
                           {"valence_bin": bin_labels(grid, vi), "arousal_bin": bin_labels(grid, ai)})


if __name__ == "__main__":
    pipeline.run(main, "bin_and_aggregate")
