"""Every steering variant of one grid, `coarse` (9-bin) or `fine` (`grid`), over all seeds: strength
picked per variant on the pooled dev clips, scored on validation, pooled with verdicts."""

from __future__ import annotations

import argparse

from emosteer import pipeline
from emosteer.schema import params
from emosteer.jobs import evaluate


def main(p: params.Params, which: str) -> None:
    reference = evaluate.read_reference(pipeline.REFERENCE, p.seeds)
    evaluate.write_grid(evaluate.evaluate_grid(p, which, reference))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("coarse", "fine"))
    which = parser.parse_args().which
    pipeline.run(lambda p: main(p, which), params.Params, f"evaluate_{'9bin' if which == 'coarse' else '25bin'}")
