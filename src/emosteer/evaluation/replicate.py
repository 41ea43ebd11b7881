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
BASELINE = "metrics/baseline/baseline.json"


@dataclass(frozen=True)
class Run:
    name: str
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]]  # metrics file -> flat metrics


def _runs(records: list[dict[str, Any]]) -> Iterator[tuple[Run, bool, str | None]]:
    """(run, is_commit, error) for every commit (not the workspace) and its experiments; error is
    why a failed experiment has no result (None for one that ran)."""
    for rec in records:
        if rec.get("rev") == "workspace":
            continue
        yield _run_of(rec), True, None
        for exp in rec.get("experiments") or []:
            for rev in exp.get("revs") or []:
                yield _run_of(rev), False, _failure(rev)


def _failure(rev: dict[str, Any]) -> str | None:
    """Why an experiment has no result: DVC's error message, "no data", or None if it ran."""
    error = rev.get("error")
    if error is not None:
        return str(error.get("msg") or error) if isinstance(error, dict) else str(error)
    return None if rev.get("data") else "no data"


def _run_of(rec: dict[str, Any]) -> Run:
    data = rec.get("data") or {}
    params = (data.get("params") or {}).get("params.yaml", {}).get("data", {}) or {}
    metrics = {path: m.get("data", {}) for path, m in (data.get("metrics") or {}).items()}
    return Run(name=rec.get("name") or rec.get("rev", "?")[:7], params=params, metrics=metrics)


def _without_seed(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "seed"}


def select_runs(records: list[dict[str, Any]]) -> tuple[list[Run], list[str]]:
    """Runs comparable with the newest commit (same params but seed), one per seed (the first one
    listed), and every other run as "name (why it was skipped)"."""
    runs = list(_runs(records))
    commits = [r for r, is_commit, _ in runs if is_commit and r.metrics]
    if not commits:
        raise EmosteerError("dvc exp show: no commit with metrics (run `dvc repro` and commit first)")
    reference = _without_seed(commits[0].params)
    kept: dict[Any, Run] = {}
    skipped = []
    for run, _, error in runs:
        seed = run.params.get("seed")
        if error is not None:
            skipped.append(f"{run.name} (failed: {error})")
        elif not run.metrics:
            skipped.append(f"{run.name} (no metrics)")
        elif _without_seed(run.params) != reference:
            skipped.append(f"{run.name} (other params)")
        elif seed in kept:
            skipped.append(f"{run.name} (seed {seed} again; {kept[seed].name} kept)")
        else:
            kept[seed] = run
    return [kept[s] for s in sorted(kept)], skipped


def baseline_r(runs: list[Run]) -> dict[str, list[float]]:
    """The unsteered validation r of each run, per dimension (runs without it are left out)."""
    base = [r.metrics.get(BASELINE, {}) for r in runs]
    return {dim: [float(m[f"{dim}_r"]) for m in base if f"{dim}_r" in m] for dim in ("valence", "arousal")}


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
             "" if not skipped else f"Skipped: {'; '.join(skipped)}.", ""]
    for dim, values in baseline_r(runs).items():
        if values:
            sd = f"{np.std(values, ddof=1):.3f}" if len(values) > 1 else "n/a"
            lines.append(f"Baseline r {dim}: mean {np.mean(values):.3f}, sd {sd}, min {min(values):.3f}, "
                         f"max {max(values):.3f} ({', '.join(f'{v:.3f}' for v in values)}).")
    lines += ["", "| Bins | Method | Dimension | mean Δr | sd | seeds | CI > 0 | CI < 0 |",
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
        records = _read_exp_json(args.exp_json)
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


def _read_exp_json(path: str) -> list[dict[str, Any]]:
    """A saved `dvc exp show --json`; any problem is one EmosteerError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    except OSError as exc:
        raise EmosteerError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmosteerError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise EmosteerError(f"{path}: expected the list that `dvc exp show --json` writes")
    return records
