"""How often the verdict rule makes a false call when nothing acts, plain and Holm-corrected.

Simulates families of verdicts under the null: each verdict pools `--seeds` seeds, each seed a
fresh set of `--clips` validation clips whose steered prediction (the unsteered one moved a
little) has, on that seed, a true correlation with the labels that differs from the unsteered
one by a seed effect drawn from N(0, tau^2), symmetric about 0 (so the pooled truth is "no effect"). tau = 0 is a pipeline whose
seeds differ only by their clips; large tau one whose seeds' models differ more than clip sampling
moves Δr. Per verdict it runs the project's rule (`pooling.pool`, `pooling.verdict`: two-level
bootstrap CI) and, over the family, the Holm correction (`pooling.seed_sides`,
`pooling.verdict_p`, `pooling.holm`). Prints, per tau, the per-seed sd of Δr split into its
seed and clip parts, the plain rule's false calls per verdict, and the share of families with
any false call, plain and corrected.

    python bench/verdict_errors.py                       # 24 verdicts, 5 seeds, 180 clips
    python bench/verdict_errors.py --taus 0 0.03 --families 400

(docs/statistics.md, "Multiple comparisons", quotes its output.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emosteer.evaluation import pooling

BASE_R = 0.7071  # the unsteered prediction's population r with the labels (noise sd 1)
# The steered prediction shares the unsteered one's error but for an own part of this sd: steering
# moves predictions a little, so paired Δr varies little over clips (as in the pipeline, where a
# seed's CI of Δr is a few hundredths wide while seeds differ by as much again).
OWN_NOISE = 0.2


def family(rng: np.random.Generator, tau: float, m: int, seeds: int, clips: int, n_boot: int,
           tag: int) -> tuple[list[str], list[float], list[float]]:
    """One family of m null verdicts: plain calls, Holm p-values, and the per-seed Δr."""
    calls, ps, spread = [], [], []
    for row in range(m):
        observed, reps = [], []
        for s in range(seeds):
            rho = BASE_R + np.clip(rng.normal(0, tau), -0.3, 0.25) if tau else BASE_R
            y, shared = rng.normal(size=clips), rng.normal(size=clips)
            base = y + shared
            own = min(OWN_NOISE, np.sqrt(1 / rho ** 2 - 1))  # steered = unsteered, moved a little
            new = y + np.sqrt(1 / rho ** 2 - 1 - own ** 2) * shared + own * rng.normal(size=clips)
            o, r = pooling.delta_r(y, base, new, pooling.clip_bank(clips, n_boot, tag * 100_000 + row * 100 + s))
            observed.append(o)
            reps.append(r)
        calls.append(pooling.verdict(pooling.pool(observed, reps, n_boot), None))
        ps.append(pooling.verdict_p(pooling.seed_sides(observed), None))
        spread += observed
    return calls, ps, spread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.03])
    ap.add_argument("--families", type=int, default=200)
    ap.add_argument("--verdicts", type=int, default=24)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--clips", type=int, default=180)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    print(f"{args.families} families of {args.verdicts} null verdicts, {args.seeds} seeds x {args.clips} clips, "
          f"n_boot {args.n_boot}")
    print("tau    sd(dr_s)  false calls/verdict (plain)  families with a false call: plain  Holm")
    for k, tau in enumerate(args.taus):
        rng = np.random.default_rng(k)
        started = time.perf_counter()
        plain_calls = plain_any = holm_any = 0
        spread: list[float] = []
        for f in range(args.families):
            calls, ps, seen = family(rng, tau, args.verdicts, args.seeds, args.clips, args.n_boot, f)
            spread += seen
            plain_calls += sum(c != "none" for c in calls)
            plain_any += any(c != "none" for c in calls)
            holm_any += any(pooling.corrected(c, a) != "none" for c, a in zip(calls, pooling.holm(ps)))
        n = args.families
        print(f"{tau:<6} {np.std(spread):.4f}    {plain_calls / (n * args.verdicts):.4f}"
              f"{'':22}{plain_any / n:.3f}{'':29}{holm_any / n:.3f}   ({time.perf_counter() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
