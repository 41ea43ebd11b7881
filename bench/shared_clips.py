"""The committed run's verdict table under the re-split procedure and its two families, beside the
committed (plain) verdicts, computed from committed files only (no pipeline run).

Per row and seed: Δr vs unsteered and vs the global-mean control, and their clip-sampling
(jackknife) variances, from the clip-level predictions in plots/predictions/{coarse,fine,control}.csv;
validation sizes from the pooled files, the clip set's size from metrics/data.json. Then
`evaluation.verdicts` (estimate, verdict, verdict_p; Holm within each family) as the evaluate
stages will run it. The feedback row's per-clip pass-1 predictions are not in a committed file, so
its clip variance is unknown: it is shown with V's shared part left out (a lower bound on its
p-value; a `none` there is a `none` for certain).

    python bench/verdict_preview.py            # markdown table on stdout
    python bench/verdict_preview.py --shared   # first, what the seeds' validation clips share

(docs/statistics.md, "The committed run under the new procedure", quotes its output.)
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from emosteer.evaluation import stats, verdicts

ROOT = Path(__file__).resolve().parents[1]
DIMS = ("valence", "arousal")
GM = "control_global_mean"


def per_seed(df: pd.DataFrame, ref: pd.DataFrame, method: str, dim: str
             ) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per seed: Δr vs unsteered and its jackknife variance, Δr vs the global mean and its."""
    out: tuple[list[float], ...] = ([], [], [], [])
    for seed, clips in df.groupby("seed", sort=True):
        gm = ref[ref.seed == seed]
        if list(gm.audio_name) != list(clips.audio_name):
            raise SystemExit(f"seed {seed}: plots/predictions files list different clips")
        y, base, new = (clips[c].to_numpy() for c in (f"true_{dim}", f"baseline_{dim}", f"{method}_{dim}"))
        for k, (a, b) in enumerate((stats.jackknife_delta_r(y, base, new),
                                    stats.jackknife_delta_r(y, gm[f"{GM}_{dim}"].to_numpy(), new))):
            out[2 * k].append(float(a))
            out[2 * k + 1].append(float(b))
    return out


def shared(root: Path) -> None:
    """How much the seeds' validation clips overlap, and how alike two seeds treat a clip they
    share: per row, the correlation over shared clips of the steering shift (steered - unsteered)
    and of the unsteered error, averaged over pairs of seeds."""
    frames = {g: pd.read_csv(root / "plots" / "predictions" / f"{g}.csv") for g in ("coarse", "fine")}
    first = frames["coarse"]
    names = {s: set(c.audio_name) for s, c in first.groupby("seed")}
    pairs = list(itertools.combinations(sorted(names), 2))
    shared_n = [len(names[a] & names[b]) for a, b in pairs]
    counts = pd.Series([n for s in names.values() for n in s]).value_counts()
    print(f"validation clips per seed {sorted({len(v) for v in names.values()})}; shared by a pair of "
          f"seeds {min(shared_n)}-{max(shared_n)}; distinct {len(counts)}, of which "
          f"{int((counts >= 2).sum())} under two seeds or more")
    for group, df in frames.items():
        by_seed = {s: c.set_index("audio_name") for s, c in df.groupby("seed")}
        methods = [c[:-len("_valence")] for c in df.columns
                   if c.endswith("_valence") and not c.startswith(("true", "baseline"))]
        for dim in DIMS:
            err, out = [], []
            for a, b in pairs:
                common = sorted(names[a] & names[b])
                x, z = by_seed[a].loc[common], by_seed[b].loc[common]
                err.append(np.corrcoef(x[f"baseline_{dim}"] - x[f"true_{dim}"],
                                       z[f"baseline_{dim}"] - z[f"true_{dim}"])[0, 1])
            for m in methods:
                rs = []
                for a, b in pairs:
                    common = sorted(names[a] & names[b])
                    x, z = by_seed[a].loc[common], by_seed[b].loc[common]
                    rs.append(np.corrcoef(x[f"{m}_{dim}"] - x[f"baseline_{dim}"],
                                          z[f"{m}_{dim}"] - z[f"baseline_{dim}"])[0, 1])
                out.append(f"{m} {np.mean(rs):.2f}")
            print(f"{group} {dim}: unsteered error {np.mean(err):.2f}; shift " + ", ".join(out))
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", action="store_true", help="first print what the seeds' clips share")
    if ap.parse_args().shared:
        shared(ROOT)
    n_clips = json.loads((ROOT / "metrics" / "data.json").read_text())["n_clips"]
    headline = json.loads((ROOT / "metrics" / "headline.json").read_text())
    ref = pd.read_csv(ROOT / "plots" / "predictions" / "control.csv")
    rows, cells = [], {}
    for group in ("coarse", "fine", "control", "feedback"):
        for path in sorted((ROOT / "metrics" / "pooled" / group).glob("*.json")):
            m = json.loads(path.read_text())
            name = m["method"]
            n_val = m["n_val_per_seed"]
            for dim in DIMS:
                if m["selection"] == "feedback":
                    dr_seed = m[f"{dim}_dr_per_seed"]
                    dr = verdicts.estimate(dr_seed, [0.0] * len(dr_seed), n_val, n_clips)  # v_clip unknown: 0
                    gm = None
                    note = "clip variance not on file: p is a lower bound"
                else:
                    df = pd.read_csv(ROOT / "plots" / "predictions" / f"{group}.csv")
                    d, dv, g, gv = per_seed(df, ref, name, dim)
                    check = np.max(np.abs(np.array(d) - m[f"{dim}_dr_per_seed"]))
                    if check > 5e-6:
                        raise SystemExit(f"{path}: {dim} per-seed Δr differ from the predictions' by {check:.2g}")
                    dr = verdicts.estimate(d, dv, n_val, n_clips)
                    gm = verdicts.estimate(g, gv, n_val, n_clips)
                    note = ""
                call, p = verdicts.verdict(dr, gm), verdicts.verdict_p(dr, gm)
                key = (group, name, dim)
                rows.append((key, verdicts.family_of(m["selection"]), call, p))
                old = headline[group][name][dim]
                cells[key] = dict(
                    before=f"{m[f'{dim}_verdict']} [{m[f'{dim}_dr_lo']:+.4f}, {m[f'{dim}_dr_hi']:+.4f}]",
                    before_p=m[f"{dim}_verdict_p"], before_holm=old["verdict_corrected"],
                    dr=dr, gm=gm, call=call, p=p, note=note)
    corrected, sizes = verdicts.correct(rows)
    print("families: " + ", ".join(f"{f} {n}" for f, n in sizes.items())
          + f"; clip set N = {n_clips}; before: Holm over all {len(rows)} rows\n")
    print("| row | dim | family | before: verdict [two-level CI] | p | Holm | after: Δr [CI] (seed part : shared part of V) "
          "| vs global mean [CI] | p | verdict | Holm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, family, call, p in rows:
        c, fixed = cells[key], corrected[key]
        dr, gm = c["dr"], c["gm"]
        vs = "—" if gm is None else f"{gm.mean:+.4f} [{gm.lo:+.4f}, {gm.hi:+.4f}]"
        print(f"| {key[0]}/{key[1]} | {key[2]} | {family} | {c['before']} | {c['before_p']:.3f} | "
              f"{c['before_holm']} | {dr.mean:+.4f} [{dr.lo:+.4f}, {dr.hi:+.4f}] ({dr.seed_var / (dr.seed_var + dr.shared_var or 1):.0%} : {dr.shared_var / (dr.seed_var + dr.shared_var or 1):.0%}) | {vs} | "
              f"{p:.4f}{' (lower bound)' if c['note'] else ''} | {call} | {fixed.verdict} |")
    changed = [k for k, _, call, _ in rows if call != cells[k]["before"].split()[0]]
    print(f"\nplain verdicts changed: {len(changed)} of {len(rows)}; "
          f"corrected verdicts changed: "
          f"{sum(corrected[k].verdict != cells[k]['before_holm'] for k, *_ in rows)}")
    for k in changed:
        dr = cells[k]["dr"]
        print(f"- {'/'.join(k)}: {cells[k]['before'].split()[0]} -> {cells[k]['call']}: seed part of V "
              f"{dr.seed_var:.2e}, shared part {dr.shared_var:.2e}, se {dr.se:.4f}, p {cells[k]['p']:.4f}")


if __name__ == "__main__":
    main()
