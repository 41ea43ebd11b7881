"""What the seeds' validation clips share: how many clips two seeds both validate on, and how alike
two seeds treat a clip they share (per grid, dim and method, the correlation over shared clips of
the unsteered error and of the steering shift, averaged over pairs of seeds). From a finished run's
plots/predictions/<grid>.csv and params.yaml; the evidence behind the verdict procedure's shared
part (docs/statistics.md). The procedure itself runs in the evaluate stages.

    python bench/shared_clips.py            # this checkout's committed run
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DIMS = ("valence", "arousal")


def shared(root: Path) -> None:
    """How much the seeds' validation clips overlap, and how alike two seeds treat a clip they
    share: per row, the correlation over shared clips of the steering shift (steered - unsteered)
    and of the unsteered error, averaged over pairs of seeds."""
    raw = yaml.safe_load((root / "params.yaml").read_text())
    grids = [f"{g}x{g}" for g in dict.fromkeys([*raw["steering"]["grids"], raw["grid"]])]
    frames = {g: pd.read_csv(root / "plots" / "predictions" / f"{g}.csv") for g in grids}
    first = frames[grids[0]]
    names = {s: set(c.audio_name) for s, c in first.groupby("seed")}
    pairs = list(itertools.combinations(sorted(names), 2))
    shared_n = [len(names[a] & names[b]) for a, b in pairs]
    counts = pd.Series([n for s in names.values() for n in s]).value_counts()
    print(
        f"validation clips per seed {sorted({len(v) for v in names.values()})}; shared by a pair of "
        f"seeds {min(shared_n)}-{max(shared_n)}; distinct {len(counts)}, of which "
        f"{int((counts >= 2).sum())} under two seeds or more"
    )
    for group, df in frames.items():
        by_seed = {s: c.set_index("audio_name") for s, c in df.groupby("seed")}
        methods = [
            c[: -len("_valence")]
            for c in df.columns
            if c.endswith("_valence") and not c.startswith(("true", "baseline"))
        ]
        for dim in DIMS:
            err, out = [], []
            for a, b in pairs:
                common = sorted(names[a] & names[b])
                x, z = by_seed[a].loc[common], by_seed[b].loc[common]
                err.append(
                    np.corrcoef(x[f"baseline_{dim}"] - x[f"true_{dim}"], z[f"baseline_{dim}"] - z[f"true_{dim}"])[0, 1]
                )
            for m in methods:
                rs = []
                for a, b in pairs:
                    common = sorted(names[a] & names[b])
                    x, z = by_seed[a].loc[common], by_seed[b].loc[common]
                    rs.append(
                        np.corrcoef(x[f"{m}_{dim}"] - x[f"baseline_{dim}"], z[f"{m}_{dim}"] - z[f"baseline_{dim}"])[
                            0, 1
                        ]
                    )
                out.append(f"{m} {np.mean(rs):.2f}")
            print(f"{group} {dim}: unsteered error {np.mean(err):.2f}; shift " + ", ".join(out))
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT), help="the run's directory (default: this checkout)")
    shared(Path(ap.parse_args().root))


if __name__ == "__main__":
    main()
