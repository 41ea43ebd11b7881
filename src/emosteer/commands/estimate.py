"""`emosteer estimate [-S OVERRIDE ...]`: how long a run of params.yaml will take on this machine
(`jobs.cost`), with a `dvc exp run`'s overrides applied as DVC applies them."""

from __future__ import annotations

import argparse
from pathlib import Path

from emosteer.commands.params_check import with_overrides  # DVC's own -S parser, as `emosteer params check`
from emosteer.jobs import cost
from emosteer.schema import params


def _main(args: argparse.Namespace) -> None:
    p = with_overrides(args.params, args.set)
    print(cost.describe(p, cost.estimate(p)))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer estimate` to the CLI."""
    ap = subparsers.add_parser(
        "estimate",
        help="how long a run of params.yaml will take on this machine",
        description=cost.__doc__.splitlines()[0],
    )
    ap.add_argument(
        "--params", type=Path, default=params.PARAMS_FILE, metavar="FILE", help="params file (default: ./params.yaml)"
    )
    ap.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override, exactly as given to dvc exp run -S (repeatable)",
    )
    ap.set_defaults(func=_main)
