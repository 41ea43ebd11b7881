"""Replication over seeds: mean ± sd of each Δr across DVC experiments that differ only in `seed`.

Recipe (README): `dvc exp run --queue -S seed=1` ... `-S seed=N`, `dvc queue start`, wait for
`dvc queue status`, then `emosteer replicate`. It reads `dvc exp show --json`, keeps the baseline
commit and its experiments whose params equal the commit's apart from `seed`, and summarises every
steered method's Δr per dimension: mean, sd, and in how many seeds the 95% CI excludes zero.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from emosteer.errors import EmosteerError

METHOD_DIRS = ("metrics/coarse/", "metrics/fine/")


@dataclass(frozen=True)
class Run:
    name: str
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]]  # metrics file -> flat metrics


def _runs(records: list[dict[str, Any]]) -> Iterator[tuple[Run, bool]]:
    """(run, is_commit) for every commit (not the workspace) and its experiments."""
    for rec in records:
        if rec.get("rev") == "workspace":
            continue
        yield _run_of(rec), True
        for exp in rec.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("error") is None and rev.get("data"):
                    yield _run_of(rev), False


def _run_of(rec: dict[str, Any]) -> Run:
    data = rec.get("data") or {}
    params = (data.get("params") or {}).get("params.yaml", {}).get("data", {}) or {}
    metrics = {path: m.get("data", {}) for path, m in (data.get("metrics") or {}).items()}
    return Run(name=rec.get("name") or rec.get("rev", "?")[:7], params=params, metrics=metrics)


def _without_seed(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "seed"}


def select_runs(records: list[dict[str, Any]]) -> tuple[list[Run], list[str]]:
    """Runs comparable with the newest commit (same params but seed); one per seed; skipped names."""
    runs = list(_runs(records))
    commits = [r for r, is_commit in runs if is_commit and r.metrics]
    if not commits:
        raise EmosteerError("dvc exp show: no commit with metrics (run `dvc repro` and commit first)")
    reference = _without_seed(commits[0].params)
    kept: dict[Any, Run] = {}
    skipped = []
    for run, _ in runs:
        if _without_seed(run.params) != reference or not run.metrics:
            skipped.append(run.name)
        elif run.params.get("seed") not in kept:
            kept[run.params.get("seed")] = run
    return [kept[s] for s in sorted(kept)], skipped


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (metrics file, dimension): mean, sd, n seeds, seeds whose CI excludes zero."""
    rows = []
    files = sorted({f for run in runs for f in run.metrics if f.startswith(METHOD_DIRS)})
    for f in files:
        for dim in ("valence", "arousal"):
            vals = [r.metrics[f] for r in runs if f in r.metrics and f"{dim}_dr" in r.metrics[f]]
            if not vals:
                continue
            dr = np.array([m[f"{dim}_dr"] for m in vals], dtype=float)
            above = sum(m[f"{dim}_dr_lo"] > 0 for m in vals)
            below = sum(m[f"{dim}_dr_hi"] < 0 for m in vals)
            rows.append({"file": f, "method": vals[0].get("method", f), "bins": vals[0].get("bins"),
                         "dimension": dim, "n_seeds": len(vals), "mean_dr": float(dr.mean()),
                         "sd_dr": float(dr.std(ddof=1)) if len(dr) > 1 else float("nan"),
                         "ci_above_zero": int(above), "ci_below_zero": int(below)})
    return rows


def render(rows: list[dict[str, Any]], runs: list[Run], skipped: list[str]) -> str:
    seeds = ", ".join(str(r.params.get("seed")) for r in runs)
    lines = ["# Replication over seeds", "",
             f"Seeds: {seeds} ({len(runs)} runs: the commit and its experiments that differ only in `seed`).",
             "" if not skipped else f"Skipped (other params, or no metrics): {', '.join(skipped)}.", "",
             "| Bins | Method | Dimension | mean Δr | sd | seeds | CI > 0 | CI < 0 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['bins']} | {r['method']} | {r['dimension']} | {r['mean_dr']:+.4f} | "
                     f"{r['sd_dr']:.4f} | {r['n_seeds']} | {r['ci_above_zero']} | {r['ci_below_zero']} |")
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replicate", help="mean ± sd of each Δr over seed experiments (dvc exp show)")
    p.add_argument("--exp-json", help="a saved `dvc exp show --json` (default: run it here)")
    p.add_argument("--out", help="write the markdown table here (default: stdout)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    if args.exp_json:
        with open(args.exp_json) as f:
            records = json.load(f)
    else:
        proc = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise EmosteerError(f"dvc exp show failed: {proc.stderr.strip().splitlines()[-1:]}")
        records = json.loads(proc.stdout)
    runs, skipped = select_runs(records)
    text = render(summarise(runs), runs, skipped)
    if args.out:
        from emosteer.pipeline import write_text
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
