"""Split the clips, once per seed, into train (fits the model, makes the signals), dev (picks the
strength, logs dev r) and val (only reported); segments of one clip, and the clips of one group of
the `data.groups` table, always stay on one side."""

from __future__ import annotations

import logging

from emosteer import pipeline
from emosteer.data import features, split
from emosteer.jobs import grids
from emosteer.schema.base import Stage
from emosteer.schema.data import Data
from emosteer.schema.split import Split
from emosteer.schema.steering import Steering

log = logging.getLogger("emosteer.stages")


class SplitParams(Stage):
    """data.groups, the split settings, and steering.grids (its first is the strata of a stratified
    split: the coarse grid, jobs.grids.coarse)."""

    data: Data
    split: Split
    steering: Steering


def main(p: SplitParams) -> None:
    names, valence, arousal = features.read_labels(pipeline.FEATURES)
    s = p.split
    table = split.read_groups(p.data.groups) if p.data.groups else None
    if table and (missing := split.unmatched(names, table)):
        log.warning(
            f"{p.data.groups}: {len(missing)} of its clips are not in the data "
            f"(first: {missing[0]!r}); their rows are ignored"
        )
    meta = {**s.model_dump(), **({"groups": p.data.groups} if table else {})}
    for seed in p.seeds:
        parts = split.make_split(
            names,
            valence,
            arousal,
            val_fraction=s.val_fraction,
            dev_fraction=s.dev_fraction,
            seed=seed,
            mode=s.mode,
            stratify_grid=grids.coarse(p).size if s.stratify else None,
            groups=table,
        )
        split.write_split(pipeline.SeedPaths(seed).split, parts, names, {"seed": seed, **meta})


if __name__ == "__main__":
    pipeline.run(main, SplitParams, "prepare_split")
