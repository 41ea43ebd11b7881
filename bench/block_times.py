"""Where one pass's time goes: each conv block's conv and its ReLU + 2x2 pool, timed apart.

Block 1 is about 1% of a pass's multiply-adds (1 input channel), yet its conv runs far below the
matmul rate and its pool reads the largest map, so its share of the time is much larger. That is
why block 1, which comes before any modulation, is computed once per clip and call
(EmotionLRM.forward's `rows`, docs/model.md).

    python bench/block_times.py                      # batch 32, T = 101, 1 thread
    python bench/block_times.py --frames 1000 --batch 8 --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from emosteer.model.lrm import EmotionLRM
from emosteer.runtime import set_threads


def _seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: oneDNN picks and caches its kernel on the first call
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=101)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    model = EmotionLRM().eval()
    convs = model._conv_weights()
    assert convs is not None  # frozen BNs are in eval mode: folded kernels
    rows = []
    with torch.no_grad():
        h = model.base.normalise_input(torch.randn(args.batch, args.frames, 64))
        for k, (weight, bias) in enumerate(convs, start=1):
            x = h
            out = F.conv2d(x, weight, bias, padding=2)
            conv = _seconds(lambda: F.conv2d(x, weight, bias, padding=2), args.repeats)  # noqa: B023  (timed here)
            # in place, as the model does (ReLU is idempotent, so repeating it on `out` is fine)
            pool = _seconds(lambda: F.avg_pool2d(F.relu_(out), kernel_size=2), args.repeats)  # noqa: B023  (timed here)
            flops = 2 * out.numel() * weight.shape[1] * 25
            rows.append((k, tuple(x.shape), conv, flops / conv / 1e9, pool))
            h = F.avg_pool2d(F.relu(out), kernel_size=2)
    total = sum(r[2] + r[4] for r in rows)
    print(f"batch {args.batch}, T = {args.frames}, {args.threads} thread(s); ms per call")
    print("block  input shape            conv ms  GFLOP/s  relu+pool ms  share of the blocks")
    for k, shape, conv, gflops, pool in rows:
        print(
            f"{k:>5}  {str(shape):<22} {conv * 1e3:7.1f}  {gflops:7.1f}  {pool * 1e3:12.1f}  "
            f"{(conv + pool) / total:6.1%}"
        )


if __name__ == "__main__":
    main()
