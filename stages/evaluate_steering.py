"""Every steering method of one grid of the run, named by the param that sets it (`grid`, or
`steering.grids[0]` for the 9-bin stage), over all seeds: strength picked per method on the pooled
dev clips, scored on validation, pooled with verdicts, written under the grid's name (`5x5`)."""

from __future__ import annotations

import argparse

from emosteer import pipeline
from emosteer.jobs import evaluate, grids


def main(p: evaluate.EvaluateParams, param: str) -> None:
    reference = evaluate.read_reference(pipeline.REFERENCE, p.seeds)
    evaluate.write_grid(evaluate.evaluate_grid(p, grids.by_param(p, param), reference))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("param", help="the param that sets the grid: grid, steering.grids[0], ...")
    param = parser.parse_args().param
    pipeline.run(lambda p: main(p, param), evaluate.EvaluateParams, grids.stage_of(param))
