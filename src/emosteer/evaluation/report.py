"""The generated report: the pooled verdict table with the seed report's claims beside it, the
per-seed baselines, the machine, and the protocol differences.

Input is what the evaluate stages wrote (pooled metrics per variant); nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from emosteer.errors import EmosteerError
from emosteer.pipeline import read_metrics
from emosteer.strength import label as strength_label

# The seed report's table (25BIN_STEERING_SIGNALS_FINAL_REPORT.md §4.1), quoted, not measured here.
SEED_TABLE = (
    ("Baseline", 0.741, 0.744, None, None),
    ("9-bin categorical", 0.736, 0.739, -0.006, -0.005),
    ("25-bin categorical", 0.764, 0.784, 0.023, 0.040),
    ("25-bin interpolation", 0.764, 0.784, 0.023, 0.040),
)

PROTOCOL = (
    ("Steering signals", "averaged over all clips, validation included",
     "averaged over the training part of the split only (tested: validation rows cannot change them)"),
    ("Bin of a validation clip", "its own ground-truth label (oracle)",
     "reported twice: `oracle` (true label, an upper bound) and `predicted` (the model's own unsteered prediction, deployable)"),
    ("25-bin rows", "ran as 9-bin lookups (a string bug); interpolation never executed",
     "the fine grid is evaluated as the fine grid; IDW and bilinear interpolation actually run"),
    ("Bin edges", "< in one script, <= in another; ±0.3, ±0.33 or quantiles for '9-bin'",
     "one rule everywhere: edges -1 + 2k/G, lo <= x < hi"),
    ("LRM feedback", "inert: 2 passes gave the same output as 1; LRM weights never trained",
     "pass k's 128-d modulates pass k+1 and the LRM trains"),
    ("Read-out (fc1 and the heads)", "trained with the LRM (Adam, AMSGrad, mixup)",
     "a ridge fit set in closed form, its 128-d a population code of the estimate; only the LRM "
     "trains, by SGD, so float rounding stays rounding (docs/model.md)"),
    ("Strength", "5.0, chosen on the reported validation clips",
     "chosen per method on the dev parts of all seeds' training splits, pooled"),
    ("Checkpoint", "best epoch chosen on the reported validation clips",
     "none chosen: the last epoch of a fixed schedule"),
    ("Uncertainty", "one split, one seed, no intervals",
     "every seed in params (default 5), Δr pooled with a two-level bootstrap CI (seeds, then clips)"),
    ("Controls", "none", "shuffled bin assignment and the global-mean signal"),
)

LABELS = {
    "oracle_categorical": "oracle, categorical",
    "oracle_idw": "oracle, IDW interpolation",
    "oracle_bilinear": "oracle, bilinear interpolation",
    "predicted_categorical": "predicted, categorical",
    "predicted_idw": "predicted, IDW interpolation",
    "predicted_bilinear": "predicted, bilinear interpolation",
    "control_shuffled": "control: shuffled bins",
    "control_global_mean": "control: global mean",
}

# Which of our rows the seed report's claims (SEED_TABLE) are about.
SEED_ROWS = {("coarse", "categorical"): "9-bin categorical", ("fine", "categorical"): "25-bin categorical",
             ("fine", "idw"): "25-bin interpolation"}
DIMS = ("valence", "arousal")
GRIDS = ("coarse", "fine", "control")


def _ci(m: Mapping[str, Any], key: str) -> str:
    return f"{m[key]:+.3f} [{m[key + '_lo']:+.3f}, {m[key + '_hi']:+.3f}]"


def _seed_claim(which: str, m: Mapping[str, Any]) -> str:
    interp = m["method"].split("_", 1)[1]
    label = SEED_ROWS.get((which, interp))
    row = next((r for r in SEED_TABLE if r[0] == label), None)
    return "—" if row is None else f"{row[3]:+.3f} / {row[4]:+.3f}"


def verdict_table(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per (grid, method): verdict and pooled Δr [CI] per dim, the seed report's claim."""
    rows = []
    for which in GRIDS:
        for name, m in pooled.get(which, {}).items():
            row = {"grid": "any" if which == "control" else f"{m['bins']}-bin",
                   "method": LABELS.get(name, name)}
            for dim in DIMS:
                row[f"{dim}"] = (f"**{m[f'{dim}_verdict']}** {_ci(m, f'{dim}_dr')} "
                                 f"({m[f'{dim}_sign_agreement']}/{m['n_seeds']} seeds agree)")
                row[f"{dim} vs global mean"] = _ci(m, f"{dim}_dr_vs_global_mean")
            row["strength (dev clips)"] = f"{strength_label(m['strength'])} ({m['strength_dev_clips']})"
            row["seed report Δr V / A"] = _seed_claim(which, m)
            rows.append(row)
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> list[str]:
    """A DataFrame as a GitHub table (pandas' own to_markdown needs the tabulate package)."""
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return lines


def console_table(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The verdict table for a terminal: method x dim -> verdict, pooled Δr [CI]."""
    df = verdict_table(pooled)
    out = [f"{'grid':<7} {'method':<33} {'valence':<40} arousal"]
    for row in df.itertuples(index=False):
        v, a = (getattr(row, d).replace("**", "").split(" (")[0] for d in DIMS)
        out.append(f"{row.grid:<7} {row.method:<33} {v:<40} {a}")
    return "\n".join(out)


def delta_rows(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, list[Any]]:
    """Plot data for the Δr-with-CI chart (long format): one row per (grid, method, dimension)."""
    rows: dict[str, list[Any]] = {"method": [], "grid": [], "dim": [], "delta": [], "lo": [], "hi": []}
    for which in GRIDS:
        for name, m in pooled.get(which, {}).items():
            for dim in DIMS:
                for key, value in (("method", LABELS.get(name, name)), ("grid", which), ("dim", dim),
                                   ("delta", m[f"{dim}_dr"]), ("lo", m[f"{dim}_dr_lo"]),
                                   ("hi", m[f"{dim}_dr_hi"])):
                    rows[key].append(value)
    return rows


def headline(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The few numbers a reviewer diffs: per grid, method and dim, the verdict and pooled Δr."""
    return {which: {name: {dim: {"verdict": m[f"{dim}_verdict"], "dr": m[f"{dim}_dr"]} for dim in DIMS}
                    for name, m in pooled.get(which, {}).items()} for which in GRIDS}


def steerability_lines(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Does steering toward a bin move the prediction toward it? One paragraph per grid."""
    lines = ["## Is steering directional?", "",
             "Every populated bin's signal applied to every validation clip of each seed (strength "
             "`steerability.strength`); r is the correlation, across bins, between a bin's centre and "
             "the mean shift of the prediction it induces, pooled over seeds (Fisher z, t interval); "
             "the common shift is what every bin does alike. `plots/steerability/` maps the shifts.", ""]
    for which, res in results.items():
        m = res["pooled"]
        lines.append(f"- **{which} grid** (strength {strength_label(m['strength'])}, {m['n_clips']} validation "
                     "clips over all seeds):")
        for dim in DIMS:
            lo, hi = m[f"{dim}_direction_lo"], m[f"{dim}_direction_hi"]
            word = ("moves it toward the bin" if lo > 0 else "moves it away from the bin" if hi < 0
                    else "has no detectable direction")
            lines.append(f"  steering toward higher-{dim} bins {word}: r = {m[f'{dim}_direction_r']:+.2f} "
                         f"[{lo:+.2f}, {hi:+.2f}], slope {m[f'{dim}_slope']:+.4f} per unit of bin centre "
                         f"[{m[f'{dim}_slope_lo']:+.4f}, {m[f'{dim}_slope_hi']:+.4f}], common shift "
                         f"{m[f'{dim}_common_shift']:+.3f}.")
    return lines + [""]


MACHINE_KEYS = ("cpu", "cpu_isa", "torch", "threads")


def machine_lines(train: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A table of the machines that trained the seeds' models (each train metrics' `machine`, as
    the train stage recorded it), one row per distinct machine with its seeds: on a cluster the
    seeds may train on different nodes, and the report may be rendered elsewhere."""
    rows: dict[tuple[str, ...], list[str]] = {}
    for key, t in train.items():
        machine = t.get("machine") or {}
        rows.setdefault(tuple(str(machine.get(k, "?")) for k in MACHINE_KEYS), []).append(key[1:])
    return (["| seeds | " + " | ".join(MACHINE_KEYS) + " |", "|" + "---|" * (len(MACHINE_KEYS) + 1)]
            + [f"| {', '.join(seeds)} | " + " | ".join(facts) + " |" for facts, seeds in rows.items()])


def render(baseline: Mapping[str, Any], pooled: Mapping[str, Mapping[str, Mapping[str, Any]]],
           train: Mapping[str, Mapping[str, Any]],
           steer: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The markdown report; `pooled` maps coarse/fine/control to {method: pooled metrics}, `train`
    "s<seed>" to that seed's train metrics."""
    n = baseline["n_seeds"]
    lines = ["# emosteer report", "",
             "Generated by the `report` stage from `metrics/pooled/`; do not edit by hand.", "",
             f"## Verdicts, pooled over {n} seeds", "",
             "Δr is steered minus unsteered Pearson r on each seed's validation clips "
             f"({', '.join(str(k) for k in baseline['n_val_per_seed'])} clips), averaged over seeds, "
             "with a 95% two-level bootstrap CI (seeds, then clips). **helps** needs both CIs (vs "
             "unsteered and vs the global-mean control) above 0; **hurts** needs the CI vs unsteered "
             "below 0; otherwise **none**, and always **none** with fewer than 3 seeds "
             "(docs/statistics.md). The seed report's claims (one split, "
             "strength chosen on its validation clips) are in the last column.", ""]
    lines += markdown(verdict_table(pooled))
    lines += ["", "## Baseline (unsteered) per seed", "",
              "| seed | r valence | r arousal | epochs | model |", "|---|---|---|---|---|"]
    for i, key in enumerate(train):
        t = train[key]
        lines.append(f"| {key[1:]} | {baseline['valence_r_per_seed'][i]:.3f} | "
                     f"{baseline['arousal_r_per_seed'][i]:.3f} | {t.get('epochs_run', '?')} | "
                     f"{t.get('source', '?')} |")
    lines.append(f"| mean | {baseline['valence_r']:.3f} | {baseline['arousal_r']:.3f} | | |")
    lines += [""] + (steerability_lines(steer) if steer else [])
    lines += ["## Machine", "",
              "Float results depend on the CPU's instruction set and the thread count. With the "
              "default training (ridge read-out, SGD for the LRM) the difference stays at rounding "
              "size, so another machine changes the last digits, not the verdicts; with "
              "`heads: trained` training turns rounding into a different model and a verdict whose "
              "CI ends near 0 can change (docs/model.md, 'Float noise in training'; README, "
              "'What is reproducible'). The machines that trained the models:", ""]
    lines += machine_lines(train)
    lines += ["", "## Protocol: the seed report vs emosteer", "",
              "| | seed report | emosteer |", "|---|---|---|"]
    lines += [f"| {what} | {seed} | {ours} |" for what, seed, ours in PROTOCOL]
    lines += ["", "Details: `docs/protocol.md`; per-seed scores of every method: `metrics/seeds/`.", ""]
    return "\n".join(lines)


def read_pooled(directory: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{grid: {method: pooled metrics}} from metrics/pooled/<grid>/<method>.json, in LABELS order."""
    order = {name: i for i, name in enumerate(LABELS)}
    out = {}
    for which in GRIDS:
        files = sorted((directory / which).glob("*.json"), key=lambda f: order.get(f.stem, len(order)))
        if not files:
            raise EmosteerError(f"{directory / which}: no pooled metrics (run its evaluate stage)")
        out[which] = {}
        for f in files:
            out[which][f.stem] = read_metrics(f)
    return out


def register(subparsers: Any) -> None:
    """`emosteer verdicts [DIR]`: the pooled verdict table in the terminal."""
    p = subparsers.add_parser("verdicts", help="print the pooled verdict table (method x dim)",
                              description="Print helps / hurts / none with the pooled Δr [95% CI] "
                                          "for every method and grid, from metrics/pooled/.")
    p.add_argument("directory", nargs="?", default="metrics/pooled", type=Path)
    p.set_defaults(func=lambda args: print(console_table(read_pooled(args.directory))))
