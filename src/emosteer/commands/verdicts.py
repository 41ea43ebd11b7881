"""`emosteer verdicts [DIR]`: the pooled verdict table in the terminal, from metrics/pooled/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emosteer.evaluation import report
from emosteer.jobs.grids import names_in
from emosteer.jobs.results import read_pooled
from emosteer.schema.base import PARAMS_FILE


def register(subparsers: Any) -> None:
    """`emosteer verdicts [DIR]`: the pooled verdict table in the terminal."""
    p = subparsers.add_parser(
        "verdicts",
        help="print the pooled verdict table (method x dim)",
        description="Print helps / hurts / none with the pooled Δr [95% CI] "
        "and the Holm-corrected verdict for every method and grid "
        "(and the feedback row), from metrics/pooled/.",
    )
    p.add_argument("directory", nargs="?", default="metrics/pooled", type=Path)
    p.add_argument(
        "--params",
        type=Path,
        default=PARAMS_FILE,
        metavar="FILE",
        help="the grids shown are those FILE sets (default ./params.yaml: an experiment's "
        "folder may still hold another run's grids); without FILE, every grid folder in DIR",
    )
    p.set_defaults(func=lambda args: print(report.console_table(read_pooled(args.directory, names_in(args.params)))))
