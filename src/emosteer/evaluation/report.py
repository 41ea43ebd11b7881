"""The generated report: the seed report's table beside ours, protocol differences, verdicts.

Input is what the evaluate stages wrote (metrics JSON per variant, validation predictions per
grid); nothing is recomputed except the paired comparisons of each method with its controls,
which need both methods' predictions on the same clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from emosteer.evaluation import stats

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
    ("Strength", "5.0, chosen on the reported validation clips",
     "chosen per method on a dev part of the training split"),
    ("Checkpoint", "best epoch chosen on the reported validation clips", "best epoch chosen on the dev split"),
    ("Uncertainty", "one split, no intervals",
     "95% paired-bootstrap CI and Williams' test per method; seeds via `dvc exp run --queue`"),
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

# How a verdict names each control ("no better than the shuffled control", as issue 5 words it).
CONTROL_NAMES = {"control_shuffled": "shuffled", "control_global_mean": "global-mean"}


@dataclass(frozen=True)
class Comparison:
    """Δr of one method over a reference on the same clips, with its 95% bootstrap CI."""

    delta: float
    lo: float
    hi: float

    def text(self) -> str:
        return f"{self.delta:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}]"

    @property
    def sign(self) -> int:
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0


def _grid_label(metrics: Mapping[str, Any]) -> str:
    return f"{metrics['bins']}-bin"


def _dr(m: Mapping[str, Any], dim: str) -> Comparison:
    return Comparison(m[f"{dim}_dr"], m[f"{dim}_dr_lo"], m[f"{dim}_dr_hi"])


def delta_rows(groups: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, list[Any]]:
    """Plot data for the Δr-with-CI chart: one row per (grid, method, dimension)."""
    rows: dict[str, list[Any]] = {"method": [], "delta": [], "lo": [], "hi": [], "p_williams": []}
    for methods in groups.values():
        for name, m in methods.items():
            for dim in ("valence", "arousal"):
                rows["method"].append(f"{_grid_label(m)} {LABELS.get(name, name)} · {dim}")
                rows["delta"].append(m[f"{dim}_dr"])
                rows["lo"].append(m[f"{dim}_dr_lo"])
                rows["hi"].append(m[f"{dim}_dr_hi"])
                rows["p_williams"].append(m[f"{dim}_p_williams"])
    return rows


def against_controls(predictions: Mapping[str, np.ndarray], name: str, n_boot: int,
                     seed: int) -> dict[str, dict[str, Comparison]]:
    """Paired Δr of method `name` over each control, per dimension, on the validation clips."""
    out: dict[str, dict[str, Comparison]] = {}
    for control in ("control_shuffled", "control_global_mean"):
        if f"{control}_valence" not in predictions or control == name:
            continue
        out[control] = {}
        for dim in ("valence", "arousal"):
            b = stats.paired_bootstrap_delta_r(predictions[f"true_{dim}"],
                                               predictions[f"{control}_{dim}"],
                                               predictions[f"{name}_{dim}"], n_boot=n_boot, seed=seed)
            out[control][dim] = Comparison(b["delta"], b["lo"], b["hi"])
    return out


def verdict(m: Mapping[str, Any], controls: Mapping[str, Mapping[str, Comparison]]) -> str:
    """One plain sentence: is there a gain over baseline, and is it more than the controls give?"""
    parts = []
    for dim in ("valence", "arousal"):
        c = _dr(m, dim)
        word = {1: "gain", -1: "loss", 0: "no detectable change"}[c.sign]
        parts.append(f"{dim} {c.text()} ({word})")
    sentence = "; ".join(parts)
    beats = {ctl: [dim for dim, c in by_dim.items() if c.sign > 0] for ctl, by_dim in controls.items()}
    notes = []
    for ctl, dims in beats.items():
        short = CONTROL_NAMES[ctl]
        notes.append(f"better than the {short} control on {' and '.join(dims)}" if dims
                     else f"no better than the {short} control")
    if notes:
        sentence += "; " + ", ".join(notes)
    if m.get("uses_true_labels"):
        sentence += " — uses the true label, so an upper bound, not a deployable method"
    return sentence + "."


def render(train: Mapping[str, Any], baseline: Mapping[str, Any],
           groups: Mapping[str, Mapping[str, Mapping[str, Any]]],
           controls: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Comparison]]]]) -> str:
    """The markdown report. `groups` maps 'coarse'/'fine' to {method name: metrics}."""
    lines = ["# emosteer report", "",
             "Generated by the `report` stage from `metrics/`; do not edit by hand.", "",
             f"Validation clips: n = {baseline['n']}. Model: {train.get('source', '?')}, "
             f"{baseline.get('forward_passes', '?')} forward passes. Δr is steered minus unsteered "
             "Pearson r on the same clips, with a 95% paired-bootstrap CI; p is Williams' test "
             "for two dependent overlapping correlations.", ""]
    lines += ["## The seed report's table beside ours", "",
              "| Method | seed: valence r (Δ) | seed: arousal r (Δ) | ours, oracle: Δr valence | "
              "ours, oracle: Δr arousal | ours, predicted: Δr valence | ours, predicted: Δr arousal |",
              "|---|---|---|---|---|---|---|"]
    lines.append(f"| Baseline | {SEED_TABLE[0][1]:.3f} | {SEED_TABLE[0][2]:.3f} | "
                 f"r = {baseline['valence_r']:.3f} | r = {baseline['arousal_r']:.3f} | — | — |")
    seed_rows = {"9-bin categorical": ("coarse", "categorical"),
                 "25-bin categorical": ("fine", "categorical"),
                 "25-bin interpolation": ("fine", "idw")}
    for label, v, a, dv, da in SEED_TABLE[1:]:
        which, interp = seed_rows[label]
        methods = groups.get(which, {})
        cells = []
        for sel in ("oracle", "predicted"):
            m = methods.get(f"{sel}_{interp}")
            cells += [_dr(m, "valence").text(), _dr(m, "arousal").text()] if m else ["—", "—"]
        ours_label = label
        if which == "fine" and methods:
            ours_label += f" (ours: {next(iter(methods.values()))['bins']}-bin)"
        lines.append(f"| {ours_label} | {v:.3f} ({dv:+.3f}) | {a:.3f} ({da:+.3f}) | " + " | ".join(cells) + " |")
    lines += ["", "## All methods (validation split)", "",
              "| Grid | Method | Strength (chosen on) | r valence | Δr valence [95% CI] | p | "
              "r arousal | Δr arousal [95% CI] | p |", "|---|---|---|---|---|---|---|---|---|"]
    lines.append(f"| — | baseline (unsteered) | — | {baseline['valence_r']:.3f} | — | — | "
                 f"{baseline['arousal_r']:.3f} | — | — |")
    for which, methods in groups.items():
        for name, m in methods.items():
            lines.append(
                f"| {_grid_label(m)} | {LABELS.get(name, name)} | {m['strength']:g} ({m['strength_chosen_on']}) | "
                f"{m['valence_r']:.3f} | {_dr(m, 'valence').text()} | {m['valence_p_williams']:.3f} | "
                f"{m['arousal_r']:.3f} | {_dr(m, 'arousal').text()} | {m['arousal_p_williams']:.3f} |")
    lines += ["", "## Verdicts", ""]
    for which, methods in groups.items():
        for name, m in methods.items():
            if m["selection"] == "control":
                continue
            lines.append(f"- **{_grid_label(m)} {LABELS.get(name, name)}**: "
                         f"{verdict(m, controls.get(which, {}).get(name, {}))}")
    lines += ["", "## Protocol: the seed report vs emosteer", "",
              "| | seed report | emosteer |", "|---|---|---|"]
    lines += [f"| {what} | {seed} | {ours} |" for what, seed, ours in PROTOCOL]
    lines += ["", "Details: `docs/protocol.md`. One split and one seed; for the spread over seeds "
              "see the replication recipe in the README.", ""]
    return "\n".join(lines)
