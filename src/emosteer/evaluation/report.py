"""The generated report: the pooled verdict table with the seed report's claims beside it, the
per-seed baselines, the machine, and the protocol differences.

Input is what the evaluate stages wrote (pooled metrics per variant); nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from emosteer.data.facts import describe as describe_data
from emosteer.evaluation import methods, verdicts
from emosteer.strength import label as strength_label

# The seed report's table (25BIN_STEERING_SIGNALS_FINAL_REPORT.md §4.1), quoted, not measured here.
SEED_TABLE = (
    ("Baseline", 0.741, 0.744, None, None),
    ("9-bin categorical", 0.736, 0.739, -0.006, -0.005),
    ("25-bin categorical", 0.764, 0.784, 0.023, 0.040),
    ("25-bin interpolation", 0.764, 0.784, 0.023, 0.040),
)

PROTOCOL = (
    (
        "Steering signals",
        "averaged over all clips, validation included",
        "averaged over the training part of the split only (tested: validation rows cannot change them)",
    ),
    (
        "Bin of a validation clip",
        "its own ground-truth label (oracle)",
        "reported twice: `oracle` (true label, an upper bound) and `predicted` (the model's own unsteered prediction, deployable)",  # noqa: E501 (a message: one line, so a user can grep for it)
    ),
    (
        "25-bin rows",
        "ran as 9-bin lookups (a string bug); interpolation never executed",
        "the fine grid is evaluated as the fine grid; IDW and bilinear interpolation actually run",
    ),
    (
        "Bin edges",
        "< in one script, <= in another; ±0.3, ±0.33 or quantiles for '9-bin'",
        "one rule everywhere: edges -1 + 2k/G, lo <= x < hi",
    ),
    (
        "LRM feedback",
        "inert: 2 passes gave the same output as 1; LRM weights never trained",
        "pass k's 128-d modulates pass k+1 and the LRM trains",
    ),
    (
        "Read-out (fc1 and the heads)",
        "trained with the LRM (Adam, AMSGrad, mixup)",
        "a ridge fit set in closed form, its 128-d a population code of the estimate; only the LRM "
        "trains, by SGD, so float rounding stays rounding (docs/model.md)",
    ),
    (
        "Strength",
        "5.0, chosen on the reported validation clips",
        "chosen per method on the dev parts of all seeds' training splits, pooled",
    ),
    (
        "Checkpoint",
        "best epoch chosen on the reported validation clips",
        "the trained epoch of lowest dev loss (dev clips of the training split), early stopping",
    ),
    (
        "Uncertainty",
        "one split, one seed, no intervals",
        "every seed in params (default 5), Δr pooled by a procedure valid when seeds re-split one "
        "clip set (seed spread + the clips' shared part; docs/statistics.md), Holm per family",
    ),
    (
        "Controls",
        "none",
        "shuffled bin assignment, the global-mean signal, and a fusion twin per "
        "variant (the unsteered prediction moved toward the bin, no network)",
    ),
    ("Feedback", "2 passes vs 1 of one model", "the 2-pass model vs a separately trained one-pass model"),
)

LABELS = {m.name: m.label for m in methods.METHODS.values() if m.in_table or m.fuses}  # table order

# Which of our rows the seed report's claims (SEED_TABLE) are about: by the grid's bins, so a claim
# sits only beside the grid it was made for (never beside a 49-bin row under -S grid=7).
SEED_ROWS = {
    (9, "categorical"): "9-bin categorical",
    (25, "categorical"): "25-bin categorical",
    (25, "idw"): "25-bin interpolation",
}
DIMS = ("valence", "arousal")
AFTER_GRIDS = ("control", "feedback")  # the groups after the grids' (metrics/pooled/<group>/)
OPTIONAL = ("feedback",)  # groups an older run did not write; the rest must be there


def row_label(name: str, m: Mapping[str, Any]) -> str:
    """A verdict row's method label: the variant's, or the feedback row's pass count."""
    if m.get("selection") == "feedback":
        k = m.get("forward_passes", "?")
        return f"feedback: {k} pass{'es' if k != 1 else ''} vs 1"
    return LABELS.get(name, name)


def _grid(which: str, m: Mapping[str, Any]) -> str:
    return {"control": "any", "feedback": "—"}.get(which) or f"{m['bins']}-bin"


PooledMetrics = Mapping[str, Mapping[str, Mapping[str, Any]]]  # group -> method -> pooled metrics
Key = tuple[str, str, str, str]  # (group, method, dim, what): what is "dr" or "beyond_fusion"


def family(pooled: PooledMetrics) -> list[tuple[Key, str, str, float]]:
    """Every verdict of the table as (key, family, plain verdict, p-value), in table order: each
    row's Δr vs unsteered (its method's family: `family`, or from its selection) and, for a
    steering variant with a fusion twin, steering vs the twin (the beyond-fusion family). Rows
    without a p-value (an older run's files) are left out."""
    rows = []
    for which, group in pooled.items():
        for name, m in group.items():
            fam = m.get("family") or verdicts.family_of(str(m.get("selection")))
            for dim in DIMS:
                if f"{dim}_verdict_p" in m:
                    rows.append(((which, name, dim, "dr"), fam, m[f"{dim}_verdict"], m[f"{dim}_verdict_p"]))
                if f"{dim}_permuted_p" in m:
                    rows.append(
                        (
                            (which, name, dim, "permuted"),
                            verdicts.SECONDARY,
                            m[f"{dim}_permuted_verdict"],
                            m[f"{dim}_permuted_p"],
                        )
                    )
                if f"{dim}_beyond_fusion_p" in m:
                    rows.append(
                        (
                            (which, name, dim, "beyond_fusion"),
                            verdicts.BEYOND_FUSION,
                            m[f"{dim}_beyond_fusion_verdict"],
                            m[f"{dim}_beyond_fusion_p"],
                        )
                    )
    return rows


def corrected_verdicts(pooled: PooledMetrics) -> dict[Key, verdicts.Corrected]:
    """Holm within each family (`verdicts.correct`): a call survives where its adjusted p < ALPHA."""
    return verdicts.correct(family(pooled))[0]


def correction(pooled: PooledMetrics) -> dict[str, Any]:
    """What the corrected verdicts correct for: the procedure, its level, each family's size."""
    return verdicts.correction_summary(verdicts.correct(family(pooled))[1])


def _ci(m: Mapping[str, Any], key: str, digits: int = 3) -> str:
    """`+0.012 [+0.004, +0.020]`; an undefined bound (e.g. a resample without a clip in a small
    group) reads `[CI n/a]`."""
    lo, hi = m[key + "_lo"], m[key + "_hi"]
    ci = "[CI n/a]" if lo != lo or hi != hi else f"[{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return f"{m[key]:+.{digits}f} {ci}"


def _seed_claim(which: str, m: Mapping[str, Any]) -> str:
    interp = m["method"].split("_", 1)[-1]
    label = SEED_ROWS.get((m.get("bins"), interp)) if which not in AFTER_GRIDS else None
    row = next((r for r in SEED_TABLE if r[0] == label), None)
    return "—" if row is None else f"{row[3]:+.3f} / {row[4]:+.3f}"


def _corrected(holm: Mapping[Key, verdicts.Corrected], key: Key) -> str:
    return holm[key].verdict if key in holm else "n/a"


def verdict_table(pooled: PooledMetrics) -> pd.DataFrame:
    """One row per (grid, method): verdict, Holm-corrected verdict and pooled Δr [CI] per dim; for
    a steering variant, steering vs its fusion twin ("beyond fusion", verdict and Δr [CI]); the
    seed report's claim. Rows without a comparison show —."""
    holm = corrected_verdicts(pooled)
    rows = []
    for which, group in pooled.items():
        for name, m in group.items():
            row = {"grid": _grid(which, m), "method": row_label(name, m)}
            for dim in DIMS:
                agree = f"{m[f'{dim}_sign_agreement']}/{m['n_seeds']} seeds agree" if m["n_seeds"] > 1 else "one seed"
                row[f"{dim}"] = f"**{m[f'{dim}_verdict']}** {_ci(m, f'{dim}_dr')} ({agree})"
                row[f"{dim} Holm"] = _corrected(holm, (which, name, dim, "dr"))
                row[f"{dim} beyond fusion"] = (
                    f"**{m[f'{dim}_beyond_fusion_verdict']}** {_ci(m, f'{dim}_beyond_fusion')} (Holm "
                    f"{_corrected(holm, (which, name, dim, 'beyond_fusion'))})"
                    if f"{dim}_beyond_fusion" in m
                    else "—"
                )
                row[f"{dim} vs global mean"] = (
                    _ci(m, f"{dim}_dr_vs_global_mean") if f"{dim}_dr_vs_global_mean" in m else "—"
                )
            row["strength (dev clips)"] = (
                f"{strength_label(m['strength'])} ({m['strength_dev_clips']})"
                if "strength" in m
                else f"weight {m['weight']:g}"
                if "weight" in m
                else "—"
            )
            row["seed report Δr V / A"] = _seed_claim(which, m)
            rows.append(row)
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> list[str]:
    """A DataFrame as a GitHub table, cells as they are (every table of the report goes through
    here; pandas' own to_markdown needs the tabulate package and pads cells, which would make a
    changed number move every line of its column in review)."""

    def line(cells: Any) -> str:
        return "|" + "|".join(f" {c} " if str(c) else " " for c in map(str, cells)) + "|"

    return [line(df.columns), "|" + "---|" * len(df.columns)] + [line(row) for row in df.itertuples(index=False)]


def console_table(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The verdict table for a terminal: method x dim -> verdict, pooled Δr [CI]."""
    df = verdict_table(pooled)
    out = [f"{'grid':<7} {'method':<33} {'valence':<40} {'Holm':<6} {'arousal':<40} Holm"]
    for row in df.to_dict("records"):
        v, a = (row[d].replace("**", "").split(" (")[0] for d in DIMS)
        out.append(
            f"{row['grid']:<7} {row['method']:<33} {v:<40} {row['valence Holm']:<6} {a:<40} {row['arousal Holm']}"
        )
    beyond = [row for row in df.to_dict("records") if row["valence beyond fusion"] != "—"]
    if beyond:
        out += ["", "steering vs its fusion twin (the unsteered prediction moved toward the same bin, no network):"]
        out += [
            f"{row['grid']:<7} {row['method']:<33} "
            + "   ".join(row[f"{d} beyond fusion"].replace("**", "") for d in DIMS)
            for row in beyond
        ]
    return "\n".join(out)


def delta_rows(pooled: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, list[Any]]:
    """Plot data for the Δr-with-CI chart (long format): one row per (grid, method, dimension)."""
    rows: dict[str, list[Any]] = {"method": [], "grid": [], "dim": [], "delta": [], "lo": [], "hi": []}
    for which, group in pooled.items():
        for name, m in group.items():
            for dim in DIMS:
                for key, value in (
                    ("method", row_label(name, m)),
                    ("grid", which),
                    ("dim", dim),
                    ("delta", m[f"{dim}_dr"]),
                    ("lo", m[f"{dim}_dr_lo"]),
                    ("hi", m[f"{dim}_dr_hi"]),
                ):
                    rows[key].append(value)
    return rows


def verdicts_file(pooled: PooledMetrics) -> dict[str, Any]:
    """Every verdict of the table, for review (metrics/verdicts.json): per group, method and dim, the
    verdict, the Holm-corrected verdict and the pooled Δr (the fusion twins' rows included), and for
    a steering variant the verdict and Δr of steering vs its fusion twin; `correction` (not a
    group) names the procedure and the families."""
    holm = corrected_verdicts(pooled)
    out: dict[str, Any] = {}
    for which, group in pooled.items():
        out[which] = {}
        for name, m in group.items():
            out[which][name] = {}
            for dim in DIMS:
                cell = {
                    "verdict": m[f"{dim}_verdict"],
                    "verdict_corrected": _corrected(holm, (which, name, dim, "dr")),
                    "dr": m[f"{dim}_dr"],
                }
                if f"{dim}_beyond_fusion" in m:
                    cell.update(
                        {
                            "beyond_fusion": m[f"{dim}_beyond_fusion_verdict"],
                            "beyond_fusion_corrected": _corrected(holm, (which, name, dim, "beyond_fusion")),
                            "beyond_fusion_dr": m[f"{dim}_beyond_fusion"],
                        }
                    )
                if f"{dim}_dr_permuted" in m:
                    cell.update(
                        {
                            "permuted": m[f"{dim}_permuted_verdict"],
                            "permuted_corrected": _corrected(holm, (which, name, dim, "permuted")),
                            "permuted_dr": m[f"{dim}_dr_permuted"],
                        }
                    )
                out[which][name][dim] = cell
    out["correction"] = correction(pooled)
    return out


MAIN_ROWS = (("predicted", "predicted_categorical"), ("oracle", "oracle_categorical"))


def headline(pooled: PooledMetrics, baseline: Mapping[str, Any]) -> dict[str, Any]:
    """The experiments table's columns (metrics/headline.json, the one declared metrics file): the
    unsteered r, and per grid and dim the Holm-corrected verdict and Δr of the main rows (steering
    with the model's own bin, steering vs its fusion twin, the oracle upper bound), and the
    feedback row's; each Holm family's size. Every verdict is in metrics/verdicts.json
    (`verdicts_file`)."""
    holm = corrected_verdicts(pooled)
    out: dict[str, Any] = {"unsteered_r": {dim: baseline[f"{dim}_r"] for dim in DIMS}}
    for which, group in pooled.items():
        cells: dict[str, dict[str, Any]] = {dim: {} for dim in DIMS}
        for short, name in MAIN_ROWS + (("feedback", next(iter(group), "")),) * (which == "feedback"):
            m = group.get(name)
            if m is None:
                continue
            for dim in DIMS:
                cells[dim][short] = _corrected(holm, (which, name, dim, "dr"))
                cells[dim][f"{short}_dr"] = m[f"{dim}_dr"]
                if short == "predicted" and f"{dim}_beyond_fusion" in m:
                    cells[dim]["beyond_fusion"] = _corrected(holm, (which, name, dim, "beyond_fusion"))
                    cells[dim]["beyond_fusion_dr"] = m[f"{dim}_beyond_fusion"]
        if any(cells[dim] for dim in DIMS):
            out[which] = cells
    out["families"] = {name: f["size"] for name, f in correction(pooled)["families"].items()}
    return out


def summary_lines(pooled: PooledMetrics) -> list[str]:
    """The report's first sentences: per grid and dim, does steering with the model's own bin
    help, and does it beat its fusion twin (moving the prediction toward the same bin, no
    network)? From the corrected verdicts."""
    holm = corrected_verdicts(pooled)
    lines = []
    for which, group in pooled.items():
        m = group.get("predicted_categorical")
        if m is None:
            continue
        parts = []
        for dim in DIMS:
            plain = _corrected(holm, (which, "predicted_categorical", dim, "dr"))
            text = f"{dim} {plain} (Δr {_ci(m, f'{dim}_dr')})"
            if f"{dim}_beyond_fusion" in m:
                beyond = _corrected(holm, (which, "predicted_categorical", dim, "beyond_fusion"))
                text += (
                    f", vs its fusion twin {beyond} (Δr {_ci(m, f'{dim}_beyond_fusion')}, twin "
                    f"weight {m.get('fusion_weight', float('nan')):g})"
                )
            parts.append(text)
        lines.append(f"- {m['bins']}-bin steering with the model's own bin: " + "; ".join(parts) + ".")
    if not lines:
        return []
    return (
        [
            "Steering with the model's own bin (deployable), Holm-corrected verdicts; \"vs its "
            'fusion twin" asks whether steering does more than move the prediction toward the '
            "bin's centre, which needs no network:",
            "",
        ]
        + lines
        + [""]
    )


def steerability_lines(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Does steering toward a bin move the prediction toward it? One paragraph per grid."""
    lines = [
        "## Is steering directional?",
        "",
        "Every populated bin's signal applied to every validation clip of each seed (strength "
        "`steerability.strength`); r is the correlation, across bins, between a bin's centre and "
        "the mean shift of the prediction it induces, pooled over seeds (Fisher z, t interval); "
        "the common shift is what every bin does alike. `plots/steerability/` maps the shifts.",
        "",
    ]
    for which, res in results.items():
        m = res["pooled"]
        lines.append(
            f"- **{which} grid** (strength {strength_label(m['strength'])}, {m['n_clips']} validation "
            "clips over all seeds):"
        )
        for dim in DIMS:
            lo, hi = m[f"{dim}_direction_lo"], m[f"{dim}_direction_hi"]
            word = (
                "moves it toward the bin"
                if lo > 0
                else "moves it away from the bin"
                if hi < 0
                else "has no detectable direction"
            )
            lines.append(
                f"  steering toward higher-{dim} bins {word}: r = {m[f'{dim}_direction_r']:+.2f} "
                f"[{lo:+.2f}, {hi:+.2f}], slope {m[f'{dim}_slope']:+.4f} per unit of bin centre "
                f"[{m[f'{dim}_slope_lo']:+.4f}, {m[f'{dim}_slope_hi']:+.4f}], common shift "
                f"{m[f'{dim}_common_shift']:+.3f}."
            )
            if f"{dim}_toward" in m:
                lines.append(
                    f"  Per clip: {m[f'{dim}_toward']:.1%} {_ci_pct(m, f'{dim}_toward')} of (clip, "
                    f"bin) pairs move the clip's {dim} toward the bin's centre; its common "
                    f"shift alone would give {m[f'{dim}_toward_common']:.1%} "
                    f"{_ci_pct(m, f'{dim}_toward_common')}."
                )
    return lines + [""]


def _ci_pct(m: Mapping[str, Any], key: str) -> str:
    return f"[{m[key + '_lo']:.1%}, {m[key + '_hi']:.1%}]"


def _bins_name(m: Mapping[str, Any]) -> str:
    return f"{m['bins']}-bin"


def deployable_lines(found: Mapping[str, Mapping[str, Any]], even: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why deployable steering fails: bin accuracy, the right/wrong decomposition and p* per grid.
    `found`/`even`: grid -> metrics/detection and metrics/breakeven contents."""
    lines = [
        "## Why deployable steering fails, and what it would take",
        "",
        "`predicted` steering uses the model's own bin (of its clipped unsteered prediction); "
        "where that is the true bin it steers exactly as `oracle` does. Bin accuracy on each "
        "seed's validation clips, mean over seeds with a 95% two-level CI (joint: both axes "
        "right). `plots/confusion/` has the true × predicted bins (counts over every seed's "
        "clips).",
        "",
    ]
    lines += markdown(
        pd.DataFrame(
            [
                {
                    "grid": _bins_name(m),
                    **{
                        f"{a}{' axis' if a != 'joint' else ''}": f"{m[f'{a}_accuracy']:.2f} [{m[f'{a}_accuracy_lo']:.2f}, {m[f'{a}_accuracy_hi']:.2f}]"  # noqa: E501 (a message: one line, so a user can grep for it)
                        for a in ("joint", "valence", "arousal")
                    },
                }
                for m in found.values()
            ]
        )
    )
    lines += [
        "",
        "Change in mean absolute error (steered − unsteered; negative: closer to the labels) "
        "on the clips whose predicted bin is right and on those where it is wrong, each "
        "deployable variant beside its oracle on the same clips (mean over seeds, 95% "
        "two-level CI; clips summed over seeds). Mean |error| adds up over clips, so the "
        "two groups' changes, weighted by their sizes, give the whole; Δr on a subset "
        "would not (docs/statistics.md).",
        "",
    ]
    rows = []
    for m in found.values():
        right = sum(m["n_right_per_seed"])
        total = sum(m["n_val_per_seed"])
        for method, pair in m["decomposition"].items():
            for group, n in (("right", right), ("wrong", total - right), ("all", total)):
                rows.append(
                    {
                        "grid": _bins_name(m),
                        "method": method,
                        "clips": f"{group} ({n} of {total})",
                        **{
                            f"{dim}: {sel}": _ci(pair[sel][group], f"{dim}_dmae", 4)
                            for dim in DIMS
                            for sel in ("predicted", "oracle")
                        },
                    }
                )
    lines += markdown(pd.DataFrame(rows))
    lines += [
        "",
        "Break-even from the model's own errors: each seed's clips binned wrong get their "
        "true bin, a random share q at a time; every other clip keeps the model's own bin; "
        "both steer at `oracle, categorical`'s strength. Pooled Δr vs unsteered (the verdict "
        "procedure) against the joint accuracy a + q(1 - a) is in `plots/breakeven/`: q = 0 "
        "is the model's own bins, q = 1 the oracle. p* is the accuracy where the curve's lower "
        "95% bound crosses 0 (the gain is established from there); the estimate is where its "
        "mean does (linear between points q 0.05 apart).",
        "",
    ]
    for m in even.values():
        acc = f"{m['model_accuracy']:.2f} [{m['model_accuracy_lo']:.2f}, {m['model_accuracy_hi']:.2f}]"
        needs = []
        for dim in DIMS:
            status, p_star = m[f"{dim}_p_star_status"], m[f"{dim}_p_star"]
            est = m.get(f"{dim}_p_star_estimate", float("nan"))
            needs.append(
                f"{dim} ≥ {p_star:.2f} (estimate {est:.2f})"
                if status == "crossed"
                else f"{dim}: the model's own (the lower bound is above 0 already at {p_star:.2f})"
                if status == "above_everywhere"
                else f"{dim}: none (even every bin right has a lower bound at or below 0)"
            )
        lines.append(
            f"- **{_bins_name(m)}**: steering with a detected bin would need bin accuracy "
            f"{', '.join(needs)}; the model has {acc}. The curve's ends: the model's own "
            "bins at the oracle's strength "
            + " / ".join(_ci(m, f"{d}_dr_at_model_accuracy") for d in DIMS)
            + ", every bin right (the oracle) "
            + " / ".join(_ci(m, f"{d}_dr_at_p1") for d in DIMS)
            + " (valence / arousal)."
        )
    return lines + [""]


def feedback_lines(pooled: PooledMetrics) -> list[str]:
    """What the feedback row compares, and the permuted-feedback control where it ran."""
    lines = []
    holm = corrected_verdicts(pooled)
    for name, m in pooled.get("feedback", {}).items():
        lines += [
            "## The feedback row",
            "",
            f"`{row_label(name, m)}` compares {m.get('compares', '?')}: "
            + "; ".join(f"{dim} {_ci(m, f'{dim}_dr')}" for dim in DIMS)
            + ".",
        ]
        if f"{DIMS[0]}_dr_vs_pass1" in m and "one-pass" in str(m.get("compares")):
            lines[-1] += (
                " Against pass 1 of the same call: "
                + "; ".join(f"{dim} {_ci(m, f'{dim}_dr_vs_pass1')}" for dim in DIMS)
                + "."
            )
        if f"{DIMS[0]}_dr_permuted" in m:
            lines[-1] += (
                " The permuted-feedback control feeds each validation clip another clip's "
                "fed-back 128-d (a seeded derangement) instead of its own; Δr permuted − own: "
                + "; ".join(
                    f"{dim} **{_corrected(holm, ('feedback', name, dim, 'permuted'))}** {_ci(m, f'{dim}_dr_permuted')}"
                    for dim in DIMS
                )
                + " (Holm-corrected; `hurts`: the clip's own feedback carries what another's does not)."
            )
        lines.append("")
    return lines


def correction_lines(pooled: PooledMetrics) -> list[str]:
    """The multiple-comparison paragraph: the families, their sizes, and the calls that survive."""
    holm = corrected_verdicts(pooled)
    plain = {key: verdict for key, _, verdict, _ in family(pooled)}
    lines = [
        "## Multiple comparisons",
        "",
        "Each verdict is called at 5% (its p-value from the verdict procedure, docs/statistics.md). "
        "Holm's step-down procedure then keeps the chance of any false call at 5% within each "
        "family, under any dependence between its verdicts. The families:",
        "",
    ]
    for name, fam in correction(pooled)["families"].items():
        keys = [k for k, c in holm.items() if c.family == name]
        calls = [k for k in keys if plain[k] != "none"]
        kept = [k for k in calls if holm[k].verdict != "none"]
        lines.append(
            f"- {name} ({fam['size']} verdicts: {fam['holds']}): {len(kept)} of {len(calls)} plain calls survive."
        )
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
    return markdown(
        pd.DataFrame([{"seeds": ", ".join(seeds), **dict(zip(MACHINE_KEYS, facts))} for facts, seeds in rows.items()])
    )


def data_lines(facts: Mapping[str, Any], train: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the run ran on: the data stage's survey (metrics/data.json) and the checkpoint each
    seed's model came from, with its sha256 (the train metrics)."""
    lines = [
        "## Data",
        "",
        "From `metrics/data.json` (the data stage; `emosteer data check PATH` "
        "prints the same before a run) and the train metrics:",
        "",
    ]
    lines += [f"- {line}" for line in describe_data(dict(facts))]
    used: dict[tuple[str, str | None, str | None], list[str]] = {}
    for key, t in train.items():
        kind = "trained_checkpoint" if isinstance(t.get("trained_checkpoint"), str) else "panns_checkpoint"
        path, sha = (t.get(k) if isinstance(t.get(k), str) else None for k in (kind, f"{kind}_sha256"))
        used.setdefault((kind, path, sha), []).append(key[1:])
    for (kind, path, sha), seeds in used.items():
        what = (
            "none: a random backbone, BatchNorm statistics from the training clips"
            if path is None
            else f"`{path}` (`model.{kind}`), sha256 `{sha}`"
        )
        lines.append(f"- checkpoint (seeds {', '.join(seeds)}): {what}")
    return lines + [""]


def render(
    baseline: Mapping[str, Any],
    pooled: Mapping[str, Mapping[str, Mapping[str, Any]]],
    train: Mapping[str, Mapping[str, Any]],
    steer: Mapping[str, Mapping[str, Any]] | None = None,
    data: Mapping[str, Any] | None = None,
    found: Mapping[str, Mapping[str, Any]] | None = None,
    even: Mapping[str, Mapping[str, Any]] | None = None,
    ran: Sequence[str] = (),
) -> str:
    """The markdown report; `pooled` maps each grid's name (`3x3`), then control and feedback, to
    {method: pooled metrics}, `train` "s<seed>" to that seed's train metrics, `data` the data
    stage's facts (metrics/data.json), `found`/`even` a grid to its detection and break-even
    metrics, `ran` what an evaluate stage ran where its design-card name says otherwise."""
    n = baseline["n_seeds"]
    one = (
        "One seed is one split and one model: the CI carries only the sampling of its validation "
        "clips, and no verdict is given. "
        if n == 1
        else ""
    )
    lines = [
        "# emosteer report",
        "",
        "Generated by the `report` stage from `metrics/pooled/`; do not edit by hand.",
        "",
    ]
    lines += data_lines(data, train) if data is not None else []
    lines += summary_lines(pooled)
    lines += [
        f"## Verdicts, pooled over {n} seeds",
        "",
        one + "Δr is steered minus unsteered Pearson r on each seed's validation clips "
        f"({', '.join(str(k) for k in baseline['n_val_per_seed'])} clips), averaged over seeds. "
        "Every seed re-splits the same clips, so its 95% interval, its p-value and its call "
        "come from one procedure that adds the clips' shared sampling variance to the seeds' "
        'spread (docs/statistics.md, "The verdict procedure"). **helps** needs Δr vs '
        "unsteered and vs the global-mean control above 0; **hurts** needs Δr vs unsteered "
        "below 0; otherwise **none**, and always **none** with fewer than 3 seeds. The Holm "
        'columns are the verdicts corrected within their family (below). "beyond fusion" is '
        "steering vs its fusion twin: the unsteered prediction moved a share (picked on dev "
        "clips) of the way to the point the variant steers toward, no network. The feedback "
        "row compares the model's final pass with a separately trained one-pass model where "
        "the train stage trained one (`compares` in its metrics), else with pass 1 of the same "
        "call. The seed report's claims (one split, strength chosen on its validation clips) "
        "are in the last column.",
        "",
    ]
    lines += [" ".join(ran), ""] if ran else []
    lines += markdown(verdict_table(pooled))
    lines += [""] + feedback_lines(pooled) + correction_lines(pooled)
    lines += ["", "## Baseline (unsteered) per seed", ""]
    per_seed = [
        {
            "seed": key[1:],
            "r valence": f"{baseline['valence_r_per_seed'][i]:.3f}",
            "r arousal": f"{baseline['arousal_r_per_seed'][i]:.3f}",
            "epochs": t.get("epochs_run", "?"),
            "model": t.get("source", "?"),
        }
        for i, (key, t) in enumerate(train.items())
    ]
    mean = {
        "seed": "mean",
        "r valence": f"{baseline['valence_r']:.3f}",
        "r arousal": f"{baseline['arousal_r']:.3f}",
        "epochs": "",
        "model": "",
    }
    lines += markdown(pd.DataFrame(per_seed + [mean]))
    lines += [""] + (steerability_lines(steer) if steer else [])
    lines += deployable_lines(found, even) if found and even else []
    lines += [
        "## Machine",
        "",
        "Float results depend on the CPU's instruction set and the thread count. With the "
        "default training (ridge read-out, SGD for the LRM) the difference stays at rounding "
        "size, so another machine changes the last digits, not the verdicts; with "
        "`heads: trained` training turns rounding into a different model and a verdict whose "
        "CI ends near 0 can change (docs/model.md, 'Float noise in training'; README, "
        "'What is reproducible'). The machines that trained the models:",
        "",
    ]
    lines += machine_lines(train)
    lines += ["", "## Protocol: the seed report vs emosteer", ""]
    lines += markdown(pd.DataFrame(PROTOCOL, columns=["", "seed report", "emosteer"]))
    lines += ["", "Details: `docs/protocol.md`; per-seed scores of every method: `metrics/seeds/`.", ""]
    return "\n".join(lines)
