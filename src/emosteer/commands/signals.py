"""`emosteer signals inspect FILE`: a steering table's grid, clip counts and provenance."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """`emosteer signals inspect FILE`: print a steering table's grid, counts and provenance."""
    from emosteer.steering import signals

    p = sub.add_parser("signals", help="look at steering signal tables")
    actions = p.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="print a steering JSON's grid, clip counts and provenance")
    inspect.add_argument("file", type=Path, metavar="FILE.json")
    inspect.set_defaults(func=lambda args: print(signals.describe(args.file)))
