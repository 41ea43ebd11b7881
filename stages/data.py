"""Build data/features.h5 from the configured source (synthetic, a features HDF5, or Emo-Soundscapes)
and write what it ran on to metrics/data.json: clips used and skipped, rates, channels, warnings."""

from __future__ import annotations

import logging

from emosteer import pipeline
from emosteer.data import sources
from emosteer.data.facts import describe
from emosteer.data.synth import SynthConfig
from emosteer.schema.base import Stage
from emosteer.schema.data import Data

log = logging.getLogger("emosteer.stages")


class DataParams(Stage):
    data: Data


def main(p: DataParams) -> None:
    d = p.data
    synth = SynthConfig(**d.synthetic.model_dump())  # read by the synthetic source only
    found = sources.survey(d.source, d.path, d.frames, d.rating_range, d.drop, synth, progress=True)
    for line in describe(found.facts):  # what `emosteer data check` prints
        log.info(line)
    sources.build_features(d.source, d.path, pipeline.FEATURES, d.frontend, d.frames, synth, surveyed=found)
    pipeline.write_json(pipeline.DATA_FACTS, found.facts)


if __name__ == "__main__":
    pipeline.run(main, DataParams, "data")
