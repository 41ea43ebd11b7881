"""Build data/features.h5 from the configured source: synthetic, a features HDF5, or Emo-Soundscapes."""

from __future__ import annotations

from emosteer import params, pipeline
from emosteer.data import featurize
from emosteer.data.synth import SynthConfig


def main(p: params.Params) -> None:
    d = p.data
    synth = SynthConfig(**d.synthetic.model_dump()) if d.source == "synthetic" else None
    featurize.build_features(d.source, d.path, pipeline.FEATURES, d.frontend, d.frames, synth)


if __name__ == "__main__":
    pipeline.run(main, "data")
