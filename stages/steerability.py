"""Is steering directional? Each bin's signal on every validation clip, per seed, pooled."""

from __future__ import annotations

from emosteer import experiment, params, pipeline


def main(p: params.Params) -> None:
    for which, result in experiment.evaluate_steerability(p).items():
        pipeline.write_json(pipeline.METRICS / "steerability" / f"{which}.json", result["metrics"])
        pipeline.write_csv(pipeline.PLOTS / "steerability" / f"{which}.csv", result["plot"])


if __name__ == "__main__":
    pipeline.run(main, "steerability")
