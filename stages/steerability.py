"""Is steering directional? Each coarse-grid bin's signal on every validation clip, per seed, pooled."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.schema import params
from emosteer.jobs import steerability


def main(p: params.Params) -> None:
    result = steerability.evaluate_steerability(p, "coarse")
    pipeline.write_json(pipeline.METRICS / "steerability" / "coarse.json", result["metrics"])
    pipeline.write_csv(pipeline.PLOTS / "steerability" / "coarse.csv", result["plot"])


if __name__ == "__main__":
    pipeline.run(main, params.Params, "steerability")
