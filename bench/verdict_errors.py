"""How often the verdict procedure calls a row where nothing acts, and how often it finds an effect
of the committed oracle rows' size: per verdict, and per family after Holm.

Simulates verdict tables shaped like the committed one (its rows, families and comparisons from
metrics/pooled/; each row's clip-sampling SE from metrics/seeds/; the unsteered r from
metrics/pooled/baseline.json; clips, seeds and split settings from params.yaml) in regimes:

- `resplit_tau<t>`: one clip set per table, re-split per seed by the pipeline's own
  `data.split.make_split`, as prepare_split does: seeds share clips;
- `fresh_tau<t>`: every seed draws fresh clips (independent seeds; the old simulation);

with the seeds' models spread by tau = sd of the seeds' population Δρ (0, 0.01, 0.03). The model
of a table and its steering is `emosteer.evaluation.calibration`. Each null table has no effect in
any row; each planted table has the committed oracle rows' pooled Δr in those rows and none
elsewhere. Per regime one line:

    regime=<name> false_call_rate=<x> holm_family_rate=<y> holm_secondary_rate=<z> power_at_<effect>=<p> ...

false_call_rate: the share of null verdicts called (helps or hurts), uncorrected; holm_family_rate
(holm_secondary_rate): the share of null tables with any call left after Holm in the primary
(secondary) family; power_at_<effect>: the share of planted tables in which the oracle row of that
committed effect is called `helps` after Holm in its family (mean over rows of that effect).
`--rule` picks the procedure: resplit (the pipeline's: evaluation.verdicts), plain (the rule
before it: two-level bootstrap CI, t over seeds for Holm), nb (the Nadeau-Bengio corrected
resampled t, the alternative docs/statistics.md weighs).

    python bench/verdict_errors.py --quick                 # about 1-2 min on 2 cores
    python bench/verdict_errors.py --quick --rule plain    # the rule before: the same tables
    python bench/verdict_errors.py --null 4000 --planted 1000   # docs/statistics.md's table

(docs/statistics.md, "Calibration", quotes its output.)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from emosteer.evaluation import calibration, verdicts
from emosteer.evaluation.calibration import Regime, Row

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("control", "feedback")  # after the grids' groups (metrics/pooled/<NxN>/), read from params


def groups(root: Path) -> tuple[str, ...]:
    """The committed run's groups: its grids' names (`3x3`, ...) from params.yaml, then GROUPS."""
    raw = yaml.safe_load((root / "params.yaml").read_text())
    sizes = dict.fromkeys([*raw["steering"]["grids"], raw["grid"]])
    return (*(f"{g}x{g}" for g in sizes), *GROUPS)


def committed_rows(root: Path) -> tuple[list[Row], list[float]]:
    """The committed verdict table's rows (with their oracle effects) and the unsteered r per dim."""
    rows = []
    ses = []
    for group in groups(root):
        seeds_file = root / "metrics" / "seeds" / f"{group}.json"
        per_seed = json.loads(seeds_file.read_text()) if seeds_file.exists() else {}
        for path in sorted((root / "metrics" / "pooled" / group).glob("*.json")):
            m = json.loads(path.read_text())
            if m.get("fuses"):  # a fusion twin's row: no steering; its verdict family is the run's own
                continue
            for d, dim in enumerate(calibration.DIMS):
                if f"{dim}_verdict" not in m:
                    continue
                widths = [
                    (s[m["method"]][f"{dim}_dr_hi"] - s[m["method"]][f"{dim}_dr_lo"]) / 3.92
                    for s in per_seed.values()
                    if m["method"] in s
                ]
                se = float(np.median(widths)) if widths else float("nan")
                ses.append(se)
                compare = (
                    "self"
                    if m["method"] == "control_global_mean"
                    else "none"
                    if m["selection"] == "feedback"
                    else "global_mean"
                )
                effect = m[f"{dim}_dr"] if m["selection"] == "oracle" else 0.0
                rows.append(
                    Row(
                        f"{group}/{m['method']}/{dim}",
                        d,
                        m.get("family") or verdicts.family_of(m["selection"]),
                        compare,
                        se,
                        effect,
                    )
                )
    default = float(np.nanmedian(ses))  # the feedback row has no per-seed CI on file
    rows = [r if np.isfinite(r.clip_se) else Row(r.name, r.dim, r.family, r.compare, default, r.effect) for r in rows]
    base = json.loads((root / "metrics" / "pooled" / "baseline.json").read_text())
    return rows, [base["valence_r"], base["arousal_r"]]


def run_regime(job: tuple) -> str:
    """One regime's line: null tables, then planted ones, each judged by the rule."""
    kind, k, tau, rule, n_null, n_planted, n_boot, setup = job
    planted, base_r, n_clips, sp, seeds = setup
    null = [Row(r.name, r.dim, r.family, r.compare, r.clip_se, 0.0) for r in planted]
    regime = Regime(f"{kind}_tau{tau:g}", kind == "resplit", tau)
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only contend
        common = (tau, base_r, n_clips, sp["val_fraction"], sp["dev_fraction"], sp["stratify"], seeds)
        d_null = calibration.design(null, *common)
        d_planted = calibration.design(planted, *common)
        rng = np.random.default_rng([k, kind == "resplit"])
        calls = family_any = secondary_any = 0
        for t in range(n_null):
            table = calibration.simulate(null, d_null, regime.resplit, rng, n_boot, t)
            plain, fixed = calibration.judge(null, table, rule, n_clips, n_boot)
            calls += sum(c != "none" for c in plain)
            family_any += any(c != "none" for c, r in zip(fixed, null) if r.family == verdicts.PRIMARY)
            secondary_any += any(c != "none" for c, r in zip(fixed, null) if r.family == verdicts.SECONDARY)
        hits = np.zeros(len(planted))
        for t in range(n_planted):
            table = calibration.simulate(planted, d_planted, regime.resplit, rng, n_boot, n_null + t)
            _, fixed = calibration.judge(planted, table, rule, n_clips, n_boot)
            hits += [c == "helps" for c in fixed]
    found: dict[str, list[float]] = defaultdict(list)
    for r, h in zip(planted, hits):
        if r.effect != 0.0 and n_planted:
            found[f"{r.effect:.4f}"].append(h / n_planted)
    power = " ".join(f"power_at_{e}={np.mean(v):.3f}" for e, v in sorted(found.items(), key=lambda kv: -float(kv[0])))
    return (
        f"regime={regime.name} false_call_rate={calls / (n_null * len(null)):.4f} "
        f"holm_family_rate={family_any / n_null:.3f} "
        f"holm_secondary_rate={secondary_any / n_null:.3f} {power} "
        f"({time.perf_counter() - started:.0f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 null and 100 planted tables a regime")
    ap.add_argument("--null", type=int, default=2000, help="null tables per regime")
    ap.add_argument("--planted", type=int, default=500, help="planted tables per regime")
    ap.add_argument("--rule", choices=calibration.RULES, default="resplit")
    ap.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.01, 0.03])
    ap.add_argument("--regimes", nargs="+", choices=("resplit", "fresh"), default=["resplit", "fresh"])
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (rule plain only)")
    ap.add_argument("--workers", type=int, default=2, help="regimes run in this many processes")
    args = ap.parse_args()
    n_null, n_planted = (300, 100) if args.quick else (args.null, args.planted)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sp = params["split"]
    n_clips = params["data"]["synthetic"]["n_clips"]
    planted, base_r = committed_rows(ROOT)
    sizes = {f: sum(r.family == f for r in planted) for f in verdicts.FAMILIES}
    print(
        f"rule {args.rule}; {len(planted)} verdicts a table (families: "
        + ", ".join(f"{f} {n}" for f, n in sizes.items())
        + f"), {len(params['seeds'])} seeds, "
        f"{n_clips} clips, val {sp['val_fraction']}, stratified {sp['stratify']}; "
        f"{n_null} null and {n_planted} planted tables a regime; planted: "
        + ", ".join(f"{r.name} {r.effect:+.4f}" for r in planted if r.effect != 0.0),
        flush=True,
    )
    n_boot = args.n_boot if args.rule == "plain" else 0
    setup = (planted, base_r, n_clips, sp, params["seeds"])
    jobs = [
        (kind, k, tau, args.rule, n_null, n_planted, n_boot, setup)
        for kind in args.regimes
        for k, tau in enumerate(args.taus)
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for line in tqdm(pool.map(run_regime, jobs), total=len(jobs), desc="regimes", leave=False):
            tqdm.write(line)


if __name__ == "__main__":
    main()
