"""Per-bin mean signals from each seed's TRAINING clips, for every grid of the run (`grid` and
`steering.grids`), one folder per grid: data/signals/<G>x<G>/."""

from __future__ import annotations

from emosteer import pipeline
from emosteer.jobs import tables


def main(p: tables.BinParams) -> None:
    per_seed = [tables.bin_seed(seed, p) for seed in p.seeds]
    for which in per_seed[0]:
        columns = {k: [v for s in per_seed for v in s[which][k]] for k in per_seed[0][which]}
        pipeline.write_csv(pipeline.PLOTS / "bin_counts" / f"{which}.csv", columns)


if __name__ == "__main__":
    pipeline.run(main, tables.BinParams, "bin_and_aggregate")
