"""`emosteer params check [-S OVERRIDE ...]`: params.yaml with a `dvc exp run`'s overrides applied by
DVC's own parser, validated, and every path param checked as check_params does (`jobs.inputs`)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from emosteer.errors import EmosteerError
from emosteer.jobs.inputs import check
from emosteer.schema.params import PARAMS_FILE, Params


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer params check` to the CLI."""
    p = subparsers.add_parser("params", help="check params.yaml before a run")
    actions = p.add_subparsers(dest="action", required=True)
    check_p = actions.add_parser(
        "check",
        help="apply -S overrides as DVC does, then validate params and every path param",
        description="Apply the -S overrides of a `dvc exp run` to a copy of params.yaml with DVC's own "
        "parser, then validate the result and check every path param as check_params does. "
        "Names the override DVC cannot parse, and prints its quoted form. Writes nothing.",
    )
    check_p.add_argument(
        "-S",
        "--set-param",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override, exactly as given to dvc exp run -S",
    )
    check_p.add_argument("--params", type=Path, default=PARAMS_FILE, help="default: params.yaml")
    check_p.set_defaults(func=run_check)


def with_overrides(file: Path, overrides: list[str], write: bool = False) -> Params:
    """params.yaml with `dvc exp run -S` overrides applied by DVC's own parser, validated. A copy
    takes the overrides; `write` then gives them to the file itself, only once they are valid."""
    import shutil
    import tempfile

    from emosteer.schema import params as params_schema

    for override in overrides:
        parse_override(override)
    params_schema.read_raw(file)  # a file DVC's parser would choke on is refused in our words first
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "params.yaml"
        try:
            shutil.copyfile(file, copy)
        except OSError as exc:
            raise EmosteerError(f"{file}: unreadable ({exc.strerror or type(exc).__name__})") from None
        if overrides:
            _apply(copy, overrides)
        p = params_schema.validate(params_schema.read_raw(copy, file), file)
        if write and overrides:
            shutil.copyfile(copy, file)
        return p


def run_check(args: argparse.Namespace) -> None:
    p = with_overrides(args.params, args.overrides)
    prints = check(p, args.params)
    given = f" with {len(args.overrides)} override{'s' if len(args.overrides) != 1 else ''}" if args.overrides else ""
    print(f"{args.params}{given}: valid")
    for param, doc in prints.items():
        if doc["path"] is not None:
            print(f"  {param}: {doc['path']} (sha256 {doc['sha256'][:12]}...)")


def parse_override(override: str) -> None:
    """Parse one `-S` override with DVC's own parser (Hydra's grammar); refuse in one line naming
    it and giving its quoted form when DVC would refuse it, or read it as a sweep."""
    from dvc.utils.hydra import to_hydra_overrides
    from hydra.errors import HydraException

    try:
        parsed = to_hydra_overrides([override])[0]
    except HydraException as exc:
        reason = str(exc).splitlines()[0]
        raise EmosteerError(
            f"-S {override}: DVC cannot parse this override ({reason}); {_quoting_hint(override)}"
        ) from None
    if parsed.is_sweep_override():
        raise EmosteerError(
            f"-S {override}: DVC reads this as a sweep over several values (a ',' "
            f"outside quotes); {_quoting_hint(override)}"
        )


def _quoting_hint(override: str) -> str:
    key, eq, value = override.partition("=")
    if not eq:
        return "an override is KEY=VALUE"
    if "'" not in value and not set(value) & set('$`"\\'):
        quoted = f"-S \"{key}='{value}'\""
    elif '"' not in value and "'" not in value:
        quoted = f"-S '{key}=\"{value}\"'"
    else:
        quoted = "-S " + shlex.quote(f"{key}='{value}'")
    return (
        "a value holding '=', ',', spaces, quotes or brackets needs quotes inside the argument, "
        f"which the shell passes on: {quoted}"
    )


def _apply(path: Path, overrides: list[str]) -> None:
    """DVC's own `-S` application to a params file (what `dvc exp run -S` does to params.yaml)."""
    from dvc.exceptions import DvcException
    from dvc.utils.hydra import apply_overrides

    try:
        apply_overrides(path, overrides)
    except DvcException as exc:
        cause = exc.__cause__
        detail = str(cause).splitlines()[0] if cause else str(exc)
        unknown = re.fullmatch(r"Could not override '(.+)'\.?.*", detail)
        if unknown:  # DVC changes existing keys only: a mistyped key
            raise EmosteerError(
                f"-S {unknown.group(1)}: not a key of params.yaml, so DVC refuses to override it (mistyped?)"
            ) from None
        raise EmosteerError(f"-S: DVC cannot apply the overrides ({detail})") from None
