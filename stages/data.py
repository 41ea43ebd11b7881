"""Build data/features.h5 from the configured source: synthetic, a features HDF5, or Emo-Soundscapes."""

from __future__ import annotations

from typing import Any

from emosteer import params, pipeline
from emosteer.data import featurize
from emosteer.data.synth import SynthConfig


def main(raw: dict[str, Any]) -> None:
    p = params.data(raw)
    s = p.synthetic
    synth = SynthConfig(n_clips=s.n_clips, clip_seconds=s.clip_seconds, seed=s.seed,
                        segments=s.segments, rank_labels=s.rank_labels)
    featurize.build_features(p.source, p.path, pipeline.FEATURES, p.frontend, p.frames,
                             synth if p.source == "synthetic" else None)


if __name__ == "__main__":
    pipeline.run(main, "data")
