"""Is steering directional? Each bin's signal of the coarse grid (steering.grids[0]) on every
validation clip, per seed, pooled."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.jobs import grids, steerability
from emosteer.jobs.evaluate import EvaluateParams


def main(p: EvaluateParams) -> None:
    which = grids.coarse(p).name
    result = steerability.evaluate_steerability(p, which)
    pipeline.write_json(pipeline.METRICS / "steerability" / f"{which}.json", result["metrics"])
    pipeline.write_csv(pipeline.PLOTS / "steerability" / f"{which}.csv", result["plot"])


if __name__ == "__main__":
    pipeline.run(main, EvaluateParams, "steerability")
