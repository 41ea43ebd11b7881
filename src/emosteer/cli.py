"""`emosteer` command line: one subcommand per public entry point.

Each subcommand module exposes `register(subparsers)` which adds its parser and sets `func`.
Bad input raises EmosteerError; it is printed as one line and the exit code is 2 (errors.run; SIGTERM
and SIGINT: one line, exit 143 and 130).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emosteer import errors


def build_parser() -> argparse.ArgumentParser:
    from emosteer import bench, cost, inputs, predict, review
    from emosteer.data import featurize, survey
    from emosteer.jobs import results

    parser = argparse.ArgumentParser(prog="emosteer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    predict.register(sub)
    featurize.register(sub)
    survey.register(sub)
    inputs.register(sub)
    results.register(sub)
    _register_signals(sub)
    bench.register(sub)
    cost.register(sub)
    review.register(sub)
    return parser


def _register_signals(sub: argparse._SubParsersAction) -> None:
    """`emosteer signals inspect FILE`: print a steering table's grid, counts and provenance."""
    from emosteer.steering import signals

    p = sub.add_parser("signals", help="look at steering signal tables")
    actions = p.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="print a steering JSON's grid, clip counts and provenance")
    inspect.add_argument("file", type=Path, metavar="FILE.json")
    inspect.set_defaults(func=lambda args: print(signals.describe(args.file)))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return errors.run(f"emosteer {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
