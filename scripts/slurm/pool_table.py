"""The pooled table of a sweep: each experiment's point and its verdict table (pooled over the
experiment's seeds), read from the experiment's git ref without checking anything out.

usage: python scripts/slurm/pool_table.py [--out FILE] NAME POINT [NAME POINT ...]

Run it inside a clone that has the experiments (after `dvc exp pull`, or where they ran). NAME is a
DVC experiment name, POINT the `-S` overrides it ran with (the table's heading for it). The table
holds no experiment names or commit hashes, so the same points run anywhere give the same text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from emosteer.errors import EmosteerError
from emosteer.evaluation import report
from emosteer.jobs import grids, results
from emosteer.pipeline import write_text

POOLED = "metrics/pooled"


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EmosteerError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def experiment_ref(name: str) -> str:
    """The git ref DVC keeps experiment `name` under (refs/exps/<baseline>/<name>)."""
    refs = [r for r in git("for-each-ref", "--format=%(refname)", "refs/exps").split() if r.rsplit("/", 1)[-1] == name]
    if len(refs) != 1:
        raise EmosteerError(f"experiment {name}: {len(refs)} refs here (pull it with `dvc exp pull`)")
    return refs[0]


def pooled_of(ref: str, into: Path) -> dict:
    """The experiment's metrics/pooled/ files and params.yaml, copied out of its commit into `into`;
    the grids read are those its params set (its commit may still hold its baseline's grid folders:
    -S grid=7 writes 7x7/ beside the 5x5/ it started from)."""
    for path in [*git("ls-tree", "-r", "--name-only", ref, "--", POOLED).split("\n"), "params.yaml"]:
        if path:
            (into / path).parent.mkdir(parents=True, exist_ok=True)
            (into / path).write_text(git("show", f"{ref}:{path}"))
    return results.read_pooled(into / POOLED, grids.names_in(into / "params.yaml"))


def table(experiments: list[tuple[str, str]]) -> str:
    lines = ["# Sweep: verdicts per point, pooled over each point's seeds", ""]
    for name, point in experiments:
        with tempfile.TemporaryDirectory() as tmp:
            pooled = pooled_of(experiment_ref(name), Path(tmp))
        lines += [f"## {point}", "", "```", report.console_table(pooled), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the table here (default: stdout)")
    parser.add_argument("pairs", nargs="+", metavar="NAME POINT")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give NAME POINT pairs")
    try:
        text = table(list(zip(args.pairs[::2], args.pairs[1::2])))
    except EmosteerError as exc:
        print(f"pool_table: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
