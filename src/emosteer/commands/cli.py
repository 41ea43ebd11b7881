"""`emosteer` command line: one subcommand per public entry point.

Each subcommand module exposes `register(subparsers)` which adds its parser and sets `func`.
Bad input raises EmosteerError; it is printed as one line and the exit code is 2 (errors.run; SIGTERM
and SIGINT: one line, exit 143 and 130).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from emosteer import errors

# Each subcommand and the module whose `register` adds it. Only the command that runs is imported
# (all of them for `emosteer --help`): `emosteer data check` or `params check` need neither torch
# nor scipy.stats, whose imports took most of a command's 3.6 s of start-up CPU.
COMMANDS = {
    "predict": "emosteer.commands.predict",
    "featurize": "emosteer.commands.featurize",
    "data": "emosteer.commands.data_check",
    "params": "emosteer.commands.params_check",
    "verdicts": "emosteer.commands.verdicts",
    "signals": "emosteer.commands.signals",
    "bench": "emosteer.commands.bench",
    "estimate": "emosteer.commands.estimate",
    "review": "emosteer.commands.review",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand; with `command`, only that one's module is imported and
    the others are bare choices (argparse needs them; their options are not parsed)."""
    parser = argparse.ArgumentParser(prog="emosteer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        if command not in (None, name):
            sub.add_parser(name)
        else:
            importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    return errors.run(f"emosteer {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
