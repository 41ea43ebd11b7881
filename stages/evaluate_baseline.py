"""Unsteered scores on each seed's validation clips, pooled; the global-mean control, which does
not depend on the grid, so both grids compare against the same control predictions; and the
feedback row (final pass vs pass 1, from the activations: no new passes)."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.jobs import evaluate


def main(p: evaluate.EvaluateParams) -> None:
    result = evaluate.evaluate_baseline(p)
    pipeline.write_json(pipeline.POOLED / "baseline.json", result.pooled)
    pipeline.write_json(pipeline.METRICS / "seeds" / "baseline.json", result.per_seed)
    evaluate.write_reference(pipeline.REFERENCE, result.reference)
    evaluate.write_grid(result.control)
    for name, metrics in result.feedback.items():
        pipeline.write_json(pipeline.POOLED / "feedback" / f"{name}.json", metrics)


if __name__ == "__main__":
    pipeline.run(main, evaluate.EvaluateParams, "evaluate_baseline")
