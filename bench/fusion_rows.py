"""The rows issue 28 adds, computed from a finished run's files, before the evaluate stages do it.

For each grid and steering variant (oracle and predicted; categorical, IDW, and bilinear where the
run evaluated it) it picks the fusion twin's weight on each seed's dev clips (`fusion.pick_weight`
over params' steering.fusion_weights, default 0, 0.1, ..., 1) and prints, on the validation clips,
pooled over seeds with the two-level CI and the plain verdict rule (no global-mean condition):
steering vs unsteered, fusion vs unsteered, and steering vs fusion ("beyond fusion"). Then the
feedback rows: the final pass against pass 1 of the same call (today's row), against the one-pass
twin (when the activations hold its predictions), and with `--permuted` the permuted-feedback
control (the model fed another validation clip's pass-1 128-d, `inference.permuted_feedback`)
against the model's own feedback. Run it in the run's directory:

    python bench/fusion_rows.py                 # fusion rows and the feedback rows
    python bench/fusion_rows.py --permuted      # + the permuted control (one 2-pass sweep per seed)

Steered predictions come from plots/predictions/<grid>.csv (rounded to 6 decimals there).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from emosteer.data import features, split
from emosteer.evaluation import fusion, pooling
from emosteer.model import activations, checkpoints, inference
from emosteer.steering import selection, signals

DIMS = ("valence", "arousal")
DEFAULT_WEIGHTS = [w / 10 for w in range(11)]


def _row(name: str, observed: dict[str, list[float]], reps: dict[str, list[np.ndarray]], n_boot: int,
         extra: str = "") -> str:
    cells = []
    for dim in DIMS:
        dr = pooling.pool(observed[dim], reps[dim], n_boot)
        cells.append(f"{dr.mean:+.3f} [{dr.lo:+.3f}, {dr.hi:+.3f}] {pooling.verdict(dr, None)}")
    return f"| {name} | {cells[0]} | {cells[1]} |{extra}"


def _compare(pairs: list[tuple[int, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]],
             n_boot: int) -> tuple[dict[str, list[float]], dict[str, list[np.ndarray]]]:
    """pairs: per seed, dim -> (y, base, new): observed Δr and resamples of new vs base."""
    observed: dict[str, list[float]] = {d: [] for d in DIMS}
    reps: dict[str, list[np.ndarray]] = {d: [] for d in DIMS}
    for seed, dims in pairs:
        bank = pooling.clip_bank(len(dims["valence"][0]), n_boot, seed)
        for dim in DIMS:
            o, r = pooling.delta_r(*dims[dim], bank)
            observed[dim].append(o)
            reps[dim].append(r)
    return observed, reps


def fusion_rows(root: Path, raw: dict, n_boot: int) -> None:
    weights = raw["steering"].get("fusion_weights", DEFAULT_WEIGHTS)
    for which, size in (("coarse", raw["steering"]["coarse_grid"]), ("fine", raw["grid"])):
        preds = pd.read_csv(root / f"plots/predictions/{which}.csv")
        methods = [m for m in fusion.METHODS if f"oracle_{m}_valence" in preds.columns]
        print(f"\n{which} grid ({size}x{size}): Δr [95% CI] verdict, pooled over seeds {raw['seeds']}; "
              f"w picked on dev from {weights}\n")
        print("| row | valence | arousal | w |\n|---|---|---|---|")
        for sel in ("oracle", "predicted"):
            for method in methods:
                name = f"{sel}_{method}"
                dev, val = [], []
                for seed in raw["seeds"]:
                    acts = activations.read(root / f"data/activations/s{seed}.h5")
                    parts = split.read_parts(root / f"data/splits/s{seed}.json", len(acts.names))
                    table = signals.read_h5(root / f"data/signals/{which}/s{seed}.h5")
                    rows = preds[preds["seed"] == seed].set_index("audio_name")
                    val_idx = parts["val"]
                    names = [acts.names[i] for i in val_idx]
                    steered = {d: rows.loc[names, f"{name}_{d}"].to_numpy() for d in DIMS}
                    for part, idx in (("dev", parts["dev"]), ("val", val_idx)):
                        y = {d: getattr(acts, d)[idx] for d in DIMS}
                        base = {d: getattr(acts, f"pred_{d}")[idx] for d in DIMS}
                        v, a = ((y["valence"], y["arousal"]) if sel == "oracle" else
                                (selection.clip_unit(base["valence"]), selection.clip_unit(base["arousal"])))
                        target = fusion.targets(table, v, a, method)
                        clips = fusion.DevClips(seed, y["valence"], y["arousal"], base["valence"],
                                                base["arousal"], target)
                        (dev if part == "dev" else val).append((clips, steered))
                pick, _ = fusion.pick_weight([d for d, _ in dev], weights, n_boot)
                w = weights[pick]
                fused = [(c, fusion.fused(c.pred_valence, c.pred_arousal, c.target, w), s) for c, s in val]
                for label, new_base in (("steering", lambda c, f, s, d: (getattr(c, f"pred_{d}"), s[d])),
                                        ("fusion", lambda c, f, s, d: (getattr(c, f"pred_{d}"), f[DIMS.index(d)])),
                                        ("beyond fusion", lambda c, f, s, d: (f[DIMS.index(d)], s[d]))):
                    pairs = [(c.seed, {d: (getattr(c, d), *new_base(c, f, s, d)) for d in DIMS})
                             for c, f, s in fused]
                    print(_row(f"{name}: {label}", *_compare(pairs, n_boot), n_boot,
                               f" {w:g} |" if label == "fusion" else " |"))


def feedback_rows(root: Path, raw: dict, n_boot: int, permuted: bool) -> None:
    print(f"\nfeedback, validation clips, pooled over seeds {raw['seeds']}\n")
    print("| row | valence | arousal |\n|---|---|---|")
    data = []
    for seed in raw["seeds"]:
        acts = activations.read(root / f"data/activations/s{seed}.h5")
        idx = split.read_parts(root / f"data/splits/s{seed}.json", len(acts.names))["val"]
        data.append((seed, acts, idx))
    rows = [("final pass vs pass 1 (today's row)", "pass1_{}", "pred_{}")]
    if data[0][1].one_pass_valence is not None:
        rows.append(("2-pass model vs its one-pass twin", "one_pass_{}", "pred_{}"))
    for label, base, new in rows:
        pairs = [(s, {d: (getattr(a, d)[i], getattr(a, base.format(d))[i], getattr(a, new.format(d))[i])
                      for d in DIMS}) for s, a, i in data]
        print(_row(label, *_compare(pairs, n_boot), n_boot))
    if not permuted:
        return
    perm = {}
    for seed, acts, idx in data:
        model = checkpoints.load_model(root / f"data/models/s{seed}.pt")
        out = inference.permuted_feedback(
            model, features.read_features(root / "data/features.h5", idx), acts.valence_128d[idx],
            acts.arousal_128d[idx], inference.derangement(len(idx), seed))
        perm[seed] = out
    for label, pick in (("own feedback vs another clip's (permuted control)",
                         lambda s, a, i, d: (perm[s][d], getattr(a, f"pred_{d}")[i])),
                        ("permuted control vs pass 1",
                         lambda s, a, i, d: (getattr(a, f"pass1_{d}")[i], perm[s][d]))):
        pairs = [(s, {d: (getattr(a, d)[i], *pick(s, a, i, d)) for d in DIMS}) for s, a, i in data]
        print(_row(label, *_compare(pairs, n_boot), n_boot))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="the run's directory (default: here)")
    ap.add_argument("--permuted", action="store_true", help="also run the permuted-feedback control")
    args = ap.parse_args()
    root = Path(args.root)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    n_boot = raw["evaluate"]["n_boot"]
    fusion_rows(root, raw, n_boot)
    feedback_rows(root, raw, n_boot, args.permuted)


if __name__ == "__main__":
    main()
