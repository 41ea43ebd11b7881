"""Steered inference throughput of EmotionLRM: batched calls vs a one-clip-at-a-time loop.

The original evaluated steering one clip per call (its steering state was global); ours takes a
(B, 128) steering vector per clip in one call. This measures what that buys on this machine:
samples/s and GFLOP/s (analytic count of the model's multiply-adds, x2) for T = 101 and 1000
frames at several batch sizes, next to a float32 matmul measured in the same run as the
machine's practical peak. Prints a table and writes JSON to bench/results/. `emosteer bench`
is the general benchmark (training, inference, memory); this script keeps the batched-vs-loop view.

    python bench/bench_steering.py [--frames 101 1000] [--batches 1 8 32 64] [--loop-clips 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from emosteer.commands.bench import model_flops
from emosteer.constants import REPORT_STRENGTH, STEER_DIM
from emosteer.model.lrm import EmotionLRM, Steering

RESULTS = Path(__file__).resolve().parent / "results"
MATMUL_N = 2048


def timed(fn: Callable[[], object], repeats: int, budget: float) -> float:
    """Best (minimum) seconds of `fn` over up to `repeats` calls, stopping once `budget` s are
    spent. The minimum, because on a shared machine every disturbance only adds time; the first
    call is an untimed warm-up (oneDNN builds its kernels per shape) unless it alone blows the
    budget, in which case it is kept as a measurement."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = [first] if first > budget / 2 else []
    while len(times) < repeats and sum(times) + first < budget:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_gflops(repeats: int) -> float:
    a = torch.randn(MATMUL_N, MATMUL_N)
    b = torch.randn(MATMUL_N, MATMUL_N)
    return 2.0 * MATMUL_N**3 / timed(lambda: a @ b, repeats, budget=5.0) / 1e9


def bench(args: argparse.Namespace) -> dict[str, object]:
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=args.passes).eval()
    peak = matmul_gflops(args.repeats)
    rows = []
    with torch.no_grad():
        for frames in args.frames:
            g = torch.Generator().manual_seed(frames)
            clips = torch.randn(max(args.batches + [args.loop_clips]), frames, 64, generator=g)
            signals = torch.rand(len(clips), 2, STEER_DIM, generator=g)

            def steered(lo: int, hi: int, shared: bool = False) -> Steering:
                v, a = signals[lo:hi, 0], signals[lo:hi, 1]  # noqa: B023  (called in this iteration only)
                if shared:
                    v, a = v[0], a[0]
                return Steering(valence=v, arousal=a, strength=REPORT_STRENGTH, first_pass=True)

            # Count the passes actually computed: with alpha 1 and first_pass the model reuses a
            # pass that would repeat the previous one exactly (docs/model.md).
            passes = model(clips[:1], steering=steered(0, 1), return_all_passes=True)
            flops = model_flops(frames, len({id(p) for p in passes}))
            for batch in args.batches:
                sec = timed(
                    lambda: model(clips[:batch], steering=steered(0, batch)),  # noqa: B023  (timed here)
                    args.repeats,
                    args.budget,
                )
                rows.append(_row(frames, batch, "batched", batch / sec, flops, peak))

            def loop() -> None:
                for i in range(args.loop_clips):
                    model(clips[i : i + 1], steering=steered(i, i + 1, shared=True))  # noqa: B023  (timed in this iteration)

            sec = timed(loop, args.repeats, args.budget)
            rows.append(_row(frames, 1, "loop", args.loop_clips / sec, flops, peak))
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "forward_passes": args.passes,
        "matmul": {"n": MATMUL_N, "gflops": peak},
        # other processes on the machine distort every figure; the 1-min load average says how much
        "loadavg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "rows": rows,
    }


def _row(frames: int, batch: int, mode: str, per_s: float, flops: float, peak: float) -> dict[str, object]:
    gflops = per_s * flops / 1e9
    return {
        "frames": frames,
        "batch": batch,
        "mode": mode,
        "samples_per_s": per_s,
        "gflops": gflops,
        "fraction_of_matmul": gflops / peak,
    }


def table(result: dict[str, object]) -> str:
    lines = [
        f"torch {result['torch']}, {result['threads']} threads, {result['forward_passes']} passes, "
        f"steered (strength {REPORT_STRENGTH}, per-clip vectors); "
        f"matmul {MATMUL_N}^2 fp32: {result['matmul']['gflops']:.1f} GFLOP/s; "  # type: ignore[index]
        f"load average {result['loadavg_1min']['before']:.2f} -> "  # type: ignore[index]
        f"{result['loadavg_1min']['after']:.2f}",  # type: ignore[index]
        f"{'T':>5} {'mode':>8} {'batch':>5} {'samples/s':>10} {'GFLOP/s':>8} {'of matmul':>9}",
    ]
    for r in result["rows"]:  # type: ignore[union-attr]
        lines.append(
            f"{r['frames']:>5} {r['mode']:>8} {r['batch']:>5} {r['samples_per_s']:>10.2f} "
            f"{r['gflops']:>8.1f} {r['fraction_of_matmul']:>9.0%}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[101, 1000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--loop-clips", type=int, default=8, help="clips in the one-at-a-time loop")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell (best of)")
    parser.add_argument(
        "--budget", type=float, default=4.0, help="stop repeating a cell once this many seconds are spent on it"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_steering.json")
    args = parser.parse_args()
    result = bench(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
