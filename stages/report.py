"""Write reports/report.md, the headline metrics, every verdict (metrics/verdicts.json) and the Δr
plot data from the pooled metrics of the run's grids (`jobs.grids`), the control and the feedback
row."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.evaluation import report
from emosteer.jobs import grids, results


def main(p: grids.GridParams) -> None:
    run = grids.grids(p)
    pooled = results.read_pooled(pipeline.POOLED, [g.name for g in run])
    baseline = pipeline.read_metrics(pipeline.POOLED / "baseline.json")
    train = {f"s{s}": pipeline.read_metrics(pipeline.SeedPaths(s).train_metrics) for s in p.seeds}
    pipeline.write_json(pipeline.HEADLINE, report.headline(pooled, baseline))
    pipeline.write_json(pipeline.VERDICTS, report.verdicts_file(pooled))
    pipeline.write_csv(pipeline.PLOTS / "delta_r.csv", report.delta_rows(pooled))
    coarse = grids.coarse(p)
    steer = {coarse.label: pipeline.read_metrics(pipeline.METRICS / "steerability" / f"{coarse.name}.json")}
    data = pipeline.read_json(pipeline.DATA_FACTS)  # null stays None: "not applicable" here
    found, even = (
        {g.name: pipeline.read_metrics(pipeline.METRICS / kind / f"{g.name}.json") for g in run}
        for kind in ("detection", "breakeven")
    )
    pipeline.write_text(
        pipeline.REPORT, report.render(baseline, pooled, train, steer, data, found, even, ran=grids.renamed(p))
    )


if __name__ == "__main__":
    pipeline.run(main, grids.GridParams, "report")
