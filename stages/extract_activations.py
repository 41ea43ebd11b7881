"""One batched unsteered sweep per seed over every clip: predictions and the 128-d signals use."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.jobs import extract
from emosteer.jobs.seeds import map_seeds


def main(p: extract.ExtractParams) -> None:
    map_seeds(extract.extract_seed, p.seeds, p, workers=p.workers, threads=p.threads, desc="extract_activations")


if __name__ == "__main__":
    pipeline.run(main, extract.ExtractParams, "extract_activations")
