"""Train one model per seed on its train part (until its dev loss stops improving, within the
budget; dev loss and r logged per epoch) and its one-pass twin, or adopt a trained checkpoint."""

from __future__ import annotations

import logging

from emosteer import pipeline
from emosteer.jobs import fit
from emosteer.jobs.seeds import map_seeds

log = logging.getLogger("emosteer.stages")


def main(p: fit.TrainParams) -> None:
    if p.model.trained_checkpoint:
        log.info(f"model.trained_checkpoint is set, so train.* ({p.train}) is ignored")
    results = map_seeds(fit.train_seed, p.seeds, p, workers=p.workers, threads=p.threads, desc="train")
    pipeline.write_csv(pipeline.TRAIN_HISTORY, fit.history_columns(results))
    pipeline.write_csv(pipeline.TRAIN_HISTORY_ONE_PASS, fit.history_columns(results, one_pass=True))


if __name__ == "__main__":
    pipeline.run(main, fit.TrainParams, "train")
