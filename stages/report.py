"""Write reports/report.md, the headline metrics and the Δr plot data from the pooled metrics."""

from __future__ import annotations

from emosteer import params, pipeline, runtime
from emosteer.evaluation import report


def main(p: params.Params) -> None:
    pooled = report.read_pooled(pipeline.POOLED)
    baseline = pipeline.read_json(pipeline.POOLED / "baseline.json")
    train = {f"s{s}": pipeline.read_json(pipeline.SeedPaths(s).train_metrics) for s in p.seeds}
    pipeline.write_json(pipeline.HEADLINE, report.headline(pooled))
    pipeline.write_csv(pipeline.PLOTS / "delta_r.csv", report.delta_rows(pooled))
    pipeline.write_text(pipeline.REPORT, report.render(baseline, pooled, train,
                                                       runtime.machine_facts(p.threads)))


if __name__ == "__main__":
    pipeline.run(main, "report")
