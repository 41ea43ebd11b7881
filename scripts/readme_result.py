"""Print the README's result block from a finished run's files, so the README never quotes a number
the run did not write: metrics/verdicts.json (every verdict, Holm-corrected) and metrics/pooled/.
tests/test_readme.py checks that README.md holds exactly this block for the committed run.

    python scripts/readme_result.py        # in the run's directory
"""

from __future__ import annotations

import json
from pathlib import Path

DIMS = ("valence", "arousal")
ROWS = ("predicted_categorical", "oracle_categorical")
START, END = "<!-- result: refreshed by scripts/readme_result.py -->", "<!-- /result -->"


def _ci(m: dict, key: str) -> str:
    return f"{m[key]:+.3f} [{m[key + '_lo']:+.3f}, {m[key + '_hi']:+.3f}]".replace("-", "−")


def _cell(m: dict, key: str, verdict: str, holm: str) -> str:
    return f"{verdict} {_ci(m, key)}" + (f", Holm {holm}" if holm != verdict else "")


def block(root: Path) -> str:
    table = json.loads((root / "metrics" / "verdicts.json").read_text())
    base = json.loads((root / "metrics" / "pooled" / "baseline.json").read_text())
    fams = table["correction"]["families"]
    lines = [
        START,
        f"{base['n_seeds']} seeds, {', '.join(map(str, sorted(set(base['n_val_per_seed']))))} validation "
        "clips each, pooled Δr of Pearson r [95% CI]; Holm within each family ("
        + ", ".join(f"{k} {v['size']}" for k, v in fams.items())
        + "). Unsteered r: "
        + " / ".join(f"{base[f'{d}_r']:.3f}" for d in DIMS)
        + " (valence / arousal).",
        "",
        "| grid | row | valence | arousal |",
        "|---|---|---|---|",
    ]
    for group, methods in table.items():
        if group == "correction" or "x" not in group:
            continue
        for name in ROWS:
            m = json.loads((root / "metrics" / "pooled" / group / f"{name}.json").read_text())
            cells = [_cell(m, f"{d}_dr", m[f"{d}_verdict"], methods[name][d]["verdict_corrected"]) for d in DIMS]
            lines.append(f"| {m['bins']}-bin | {name.replace('_', ', ')} | " + " | ".join(cells) + " |")
            if f"{DIMS[0]}_beyond_fusion" in m and m["fusion_weight"] == 0:  # the twin is the unsteered model
                lines[-1] = lines[-1].replace(
                    f"| {name.replace('_', ', ')} |", f"| {name.replace('_', ', ')} (its fusion twin: w = 0) |"
                )
            elif f"{DIMS[0]}_beyond_fusion" in m:
                cells = [
                    _cell(
                        m,
                        f"{d}_beyond_fusion",
                        m[f"{d}_beyond_fusion_verdict"],
                        methods[name][d]["beyond_fusion_corrected"],
                    )
                    for d in DIMS
                ]
                lines.append(
                    f"| {m['bins']}-bin | {name.replace('_', ', ')} vs its fusion twin "
                    f"(w = {m['fusion_weight']:g}) | " + " | ".join(cells) + " |"
                )
    for name, m in (
        (f.stem, json.loads(f.read_text())) for f in sorted((root / "metrics" / "pooled" / "feedback").glob("*.json"))
    ):
        cells = [_cell(m, f"{d}_dr", m[f"{d}_verdict"], table["feedback"][name][d]["verdict_corrected"]) for d in DIMS]
        lines.append(f"| — | feedback: {m['compares']} | " + " | ".join(cells) + " |")
        if f"{DIMS[0]}_dr_permuted" in m:
            cells = [
                _cell(
                    m, f"{d}_dr_permuted", m[f"{d}_permuted_verdict"], table["feedback"][name][d]["permuted_corrected"]
                )
                for d in DIMS
            ]
            lines.append("| — | permuted feedback vs the clip's own | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", END])


if __name__ == "__main__":
    print(block(Path(".")))
