"""Split the clips, once per seed, into train (fits the model, makes the signals), dev (picks the
strength, logs dev r) and val (only reported); segments of one clip always stay on one side."""

from __future__ import annotations

from emosteer import params, pipeline
from emosteer.data import features, split


def main(p: params.Params) -> None:
    names, valence, arousal = features.read_labels(pipeline.FEATURES)
    s = p.split
    for seed in p.seeds:
        parts = split.make_split(names, valence, arousal, val_fraction=s.val_fraction,
                                 dev_fraction=s.dev_fraction, seed=seed, mode=s.mode,
                                 stratify_grid=p.steering.coarse_grid if s.stratify else None)
        split.write_split(pipeline.SeedPaths(seed).split, parts, names, {"seed": seed, **s.model_dump()})


if __name__ == "__main__":
    pipeline.run(main, "prepare_split")
