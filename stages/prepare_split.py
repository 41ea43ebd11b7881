"""Split the clips into train (fits the model, makes the signals), dev (picks epoch and strength)
and val (only reported); segments of one clip always stay on one side."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from emosteer import params, pipeline
from emosteer.data import features, split
from emosteer.constants import COARSE_GRID


def main(raw: dict[str, Any]) -> None:
    seed = params.seed(raw)
    p = params.split(raw)
    names, valence, arousal = features.read_labels(pipeline.FEATURES)
    parts = split.make_split(names, valence, arousal, val_fraction=p.val_fraction,
                             dev_fraction=p.dev_fraction, seed=seed, mode=p.mode,
                             stratify_grid=COARSE_GRID if p.stratify else None)
    split.write_split(pipeline.SPLIT, parts, names, {"seed": seed, **asdict(p)})


if __name__ == "__main__":
    pipeline.run(main, "prepare_split")
