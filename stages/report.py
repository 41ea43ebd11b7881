"""Write reports/report.md, the headline metrics and the Δr plot data from the pooled metrics."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.schema import params
from emosteer.evaluation import report
from emosteer.jobs import results


def main(p: params.Params) -> None:
    pooled = results.read_pooled(pipeline.POOLED)
    baseline = pipeline.read_metrics(pipeline.POOLED / "baseline.json")
    train = {f"s{s}": pipeline.read_metrics(pipeline.SeedPaths(s).train_metrics) for s in p.seeds}
    pipeline.write_json(pipeline.HEADLINE, report.headline(pooled))
    pipeline.write_csv(pipeline.PLOTS / "delta_r.csv", report.delta_rows(pooled))
    steer = {"coarse": pipeline.read_metrics(pipeline.METRICS / "steerability" / "coarse.json")}
    data = pipeline.read_json(pipeline.DATA_FACTS)  # null stays None: "not applicable" here
    found, even = ({w: pipeline.read_metrics(pipeline.METRICS / kind / f"{w}.json") for w in ("coarse", "fine")}
                   for kind in ("detection", "breakeven"))
    pipeline.write_text(pipeline.REPORT, report.render(baseline, pooled, train, steer, data, found, even))


if __name__ == "__main__":
    pipeline.run(main, params.Params, "report")
