"""How much of each signal table is only the bins' value (`steering.representation.value_share`).

Reads a finished run's activations and splits (data/activations/s<seed>.h5, data/splits/s<seed>.json)
and params.yaml (seeds, grids, steering.min_count). For each seed, grid (`steering.grids` and
`grid`) and pathway it takes the training clips of the populated bins (binned by their true labels,
as the signal tables are), their 128-d of the fed-back pass and the pathway's own estimate of that
pass (the value the 128-d was computed with), and prints the shares; then the mean and range over
seeds. Run it in the run's directory:

    python bench/representation.py                 # every seed of params.yaml
    python bench/representation.py --k 5 20        # the stand-ins' neighbour count
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from emosteer.data import split
from emosteer.grid import Grid
from emosteer.model import activations
from emosteer.steering.representation import NEIGHBOURS, value_share

FIELDS = ("between", "noise", "value", "linear")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="the run's directory (default: here)")
    ap.add_argument("--k", type=int, nargs="+", default=[NEIGHBOURS], help="neighbours per stand-in")
    args = ap.parse_args()
    root = Path(args.root)
    # the few keys it needs, read raw: runs of older revisions lack keys this revision's schema requires
    raw = yaml.safe_load((root / "params.yaml").read_text())
    seeds, grids, min_count = (
        raw["seeds"],
        (*dict.fromkeys([*raw["steering"]["grids"], raw["grid"]]),),
        raw["steering"]["min_count"],
    )
    rows = []
    for seed in seeds:
        acts = activations.read(root / f"data/activations/s{seed}.h5")
        if acts.activations_pass != 1:
            raise SystemExit(
                f"seed {seed}: activations of pass {acts.activations_pass}; this script "
                "reads the estimate of pass 1 (forward_passes <= 2)"
            )
        train = split.read_parts(root / f"data/splits/s{seed}.json", len(acts.names))["train"]
        for size in grids:
            grid = Grid(size)
            bins = grid.bin_index(acts.valence[train], acts.arousal[train])
            counts = np.bincount(bins, minlength=grid.n_bins)
            keep = counts[bins] >= min_count
            for pathway in ("valence", "arousal"):
                code = getattr(acts, f"{pathway}_128d")[train][keep]
                value = getattr(acts, f"pass1_{pathway}")[train][keep]
                for k in args.k:
                    s = value_share(code, value, bins[keep], k=k)
                    rows.append((seed, size, pathway, k, s))
                    print(
                        f"seed {seed} grid {size} {pathway:8s} k={k}: bins {s.n_bins} clips "
                        f"{s.n_clips}  between {s.between:.3f}  noise {s.noise:.3f}  "
                        f"value {s.value:.3f}  linear {s.linear:.3f}"
                    )
    print(f"\nmean [min, max] over seeds {seeds}")
    for size in grids:
        for pathway in ("valence", "arousal"):
            for k in args.k:
                sel = [s for sd, g, pw, kk, s in rows if g == size and pw == pathway and kk == k]
                cells = []
                for f in FIELDS:
                    x = np.array([getattr(s, f) for s in sel])
                    cells.append(f"{f} {x.mean():.3f} [{x.min():.3f}, {x.max():.3f}]")
                print(f"grid {size} {pathway:8s} k={k}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
