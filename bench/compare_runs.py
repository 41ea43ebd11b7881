"""Two finished runs of the same pipeline side by side: verdict flips and how far each pooled Δr moved.

For every verdict row both runs hold (metrics/pooled/<group>/<method>.json: Δr vs unsteered,
beyond fusion, the permuted control), it counts the plain verdicts that differ and, from
metrics/verdicts.json, the Holm-corrected ones, and reports each row's |Δr_a - Δr_b| in units of
run a's 95% half-width (the largest, and the row it belongs to). Use it for machine stability: the
same commit run with another thread count, or under an emulated older instruction set
(`ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default dvc repro -f`), in two checkouts.

    python bench/compare_runs.py RUN_A RUN_B
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = (("dr", "verdict"), ("beyond_fusion", "beyond_fusion_verdict"), ("dr_permuted", "permuted_verdict"))
DIMS = ("valence", "arousal")


def pooled(root: Path) -> dict[tuple[str, str], dict]:
    return {
        (f.parent.name, f.stem): json.loads(f.read_text())
        for f in sorted((root / "metrics" / "pooled").glob("*/*.json"))
    }


def corrected(root: Path) -> dict[tuple[str, str, str, str], str]:
    table = json.loads((root / "metrics" / "verdicts.json").read_text())
    out = {}
    for group, methods in table.items():
        if group == "correction":
            continue
        for method, dims in methods.items():
            for dim, cell in dims.items():
                out[(group, method, dim, "dr")] = cell["verdict_corrected"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    a, b = pooled(args.a), pooled(args.b)
    rows, flips, moves = 0, [], []
    for key in sorted(a.keys() & b.keys()):
        for dim in DIMS:
            for stat, verdict in ROWS:
                k, v = f"{dim}_{stat}", f"{dim}_{verdict}"
                if k not in a[key] or v not in a[key] or k not in b[key]:
                    continue
                rows += 1
                if a[key][v] != b[key][v]:
                    flips.append(f"{'/'.join(key)} {k}: {a[key][v]} -> {b[key][v]}")
                half = (a[key][f"{k}_hi"] - a[key][f"{k}_lo"]) / 2
                if half > 0:
                    moves.append((abs(a[key][k] - b[key][k]) / half, f"{'/'.join(key)} {k}"))
    ca, cb = corrected(args.a), corrected(args.b)
    cflips = [k for k in ca.keys() & cb.keys() if ca[k] != cb[k]]
    top = max(moves) if moves else (float("nan"), "-")
    print(
        f"{rows} verdict rows in both runs; plain verdict flips: {len(flips)}; corrected (Δr rows): "
        f"{len(cflips)} of {len(ca.keys() & cb.keys())}"
    )
    for f in flips:
        print(f"  flip {f}")
    print(
        f"largest |Δr move| / run a's 95% half-width: {top[0]:.4f} ({top[1]}); median "
        f"{sorted(m for m, _ in moves)[len(moves) // 2]:.5f}"
        if moves
        else "no rows"
    )


if __name__ == "__main__":
    main()
