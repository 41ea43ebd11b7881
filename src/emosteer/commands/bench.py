"""`emosteer bench`: what this machine (or GPU) does with emosteer, measured side by side in one run.

- matmul: a float32 2048^2 matmul, the machine's practical peak in the same run;
- training: today's eager path (every pass every step, bn0 trained, unfolded BatchNorm) and the
  fast path (pass 1 of the frozen backbone cached, bn0 frozen, BatchNorm folded), whole `train`
  calls on the same clips at the default shapes, alternated, best of N;
- steered inference at T = 1000, batch 8 and 32, in GFLOP/s and as a fraction of the matmul;
- peak RSS of activation extraction and steered predict streaming a 5 GB features file
  (20,000 x 1,000 x 64 float32, written in chunks), each in a fresh process, over a bounded
  number of batches (a full pass would take hours on a CPU; the output says how many).

The minimum over repeats is reported: on a shared machine every disturbance only adds time. The
1-minute load average before and after is printed and stored, so a reader can judge the noise.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emosteer import h5safe
from emosteer.atomic import replacing
from emosteer.constants import N_MELS, REPORT_STRENGTH, STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model.config import Train, settings
from emosteer.model.inference import predict
from emosteer.model.lrm import BLOCK_CHANNELS, EMBED_DIM, HEAD_HIDDEN, EmotionLRM
from emosteer.model.train import train
from emosteer.runtime import AMPS, DEVICES, check_amp, machine_facts, resolve_device, set_threads
from emosteer.schema.base import MAX_THREADS, Threads, check_value

MATMUL_N = 2048
TRAIN_FRAMES, TRAIN_BATCH, TRAIN_CLIPS, TRAIN_EPOCHS = 101, 8, 357, 5  # the default run's shapes
BIG_CLIPS, BIG_FRAMES = 20_000, 1_000  # the 5 GB file
RSS_BATCH = 32  # clips per batch of the memory figure
# --rss-batches: the peak is reached within the first batches; 64 batches are 2,048 clips, about a
# tenth of the file (a full pass at T = 1000 is over an hour on a 2-core CPU, docs/model.md)
MAX_RSS_BATCHES = 64


def model_flops(frames: int, passes: int) -> float:
    """FLOPs (2 per multiply-add) of one clip, `passes` passes:
    sum over blocks k of 2 * C_in,k * C_out,k * 25 * T_k * F_k (5x5 conv at the block's input
    resolution, T_1 = T, F_1 = 64, halved by each pool with floor) + fc1 + both heads + ModBlocks."""
    macs, t, f, c_in = 0, frames, N_MELS, 1
    for c_out in BLOCK_CHANNELS:
        macs += c_in * c_out * 25 * t * f
        t, f, c_in = t // 2, f // 2, c_out
    macs += EMBED_DIM * EMBED_DIM
    macs += 2 * (EMBED_DIM * HEAD_HIDDEN + HEAD_HIDDEN * STEER_DIM + STEER_DIM)
    macs += sum(STEER_DIM * STEER_DIM + STEER_DIM * c for c in BLOCK_CHANNELS)
    return 2.0 * macs * passes


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Minimum wall seconds of `fn` over `repeats` timed calls after one untimed warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_gflops(device: torch.device, repeats: int) -> float:
    a = torch.randn(MATMUL_N, MATMUL_N, device=device)
    b = torch.randn(MATMUL_N, MATMUL_N, device=device)
    return 2.0 * MATMUL_N**3 / best_seconds(lambda: a @ b, repeats, device) / 1e9


def _train_config(epochs: int, fast: bool) -> Train:
    return settings(
        epochs=epochs,
        patience=None,
        batch_size=TRAIN_BATCH,
        learning_rate=3e-3,
        amsgrad=True,
        mixup=False,
        loss_passes="last",
        cache_first_pass=fast,
        head_epochs=0,
        lr_schedule="constant",
        warmup_steps=0,
        lrm_zero_init=False,
        heads="trained",
        ridge_lambda=1.0,
        optimizer="adam",
        momentum=0.0,
    )


def _train_once(fast: bool, n: int, epochs: int, device: torch.device, amp: str) -> float:
    """Training samples/s of one whole `train` call (cache build and dev scoring included)."""
    rng = np.random.RandomState(0)
    x = rng.randn(n, TRAIN_FRAMES, N_MELS).astype(np.float32)
    y = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=not fast, train_fc1=True)
    model.fold_batchnorm = fast
    start = time.perf_counter()
    train(model, x, y, x[:16], y[:16], _train_config(epochs, fast), seed=0, device=device, amp=amp)
    _sync(device)
    return n * epochs / (time.perf_counter() - start)


def bench_training(n: int, epochs: int, rounds: int, device: torch.device, amp: str) -> dict[str, float]:
    """Eager and fast alternated `rounds` times; the best of each."""
    eager, fast = [], []
    for _ in range(rounds):
        eager.append(_train_once(False, n, epochs, device, amp))
        fast.append(_train_once(True, n, epochs, device, amp))
    return {
        "train_samples_per_s_eager": max(eager),
        "train_samples_per_s": max(fast),
        "train_speedup": max(fast) / max(eager),
        "train_clips": n,
        "train_epochs": epochs,
    }


def _worker_train(n: int, epochs: int) -> float:
    set_threads(1)
    return _train_once(True, n, epochs, torch.device("cpu"), "off")


def bench_workers(n: int, epochs: int) -> float:
    """Total training samples/s of two processes of 1 thread each, training at the same time."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        start = time.perf_counter()
        pool.starmap(_worker_train, [(n, epochs)] * 2)
        return 2 * n * epochs / (time.perf_counter() - start)


def bench_inference(
    batches: list[int], frames: int, repeats: int, peak: float, device: torch.device, amp: str
) -> list[dict[str, Any]]:
    """Steered inference (per-clip vectors, strength 5, alpha 1, first pass steered: one pass
    computed) with folded BatchNorm, and unfolded for comparison."""
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=True, train_fc1=True)
    rng = np.random.RandomState(1)
    rows = []
    for batch in batches:
        x = rng.randn(batch, frames, N_MELS).astype(np.float32)
        sv, sa = rng.rand(batch, STEER_DIM), rng.rand(batch, STEER_DIM)
        for folded in (True, False):
            model.fold_batchnorm = folded
            sec = best_seconds(
                lambda x=x, batch=batch, sv=sv, sa=sa: predict(
                    model,
                    x,
                    batch,
                    sv,
                    sa,
                    REPORT_STRENGTH,
                    device=device,
                    amp=amp,
                ),
                repeats,
                device,
            )
            gflops = batch * model_flops(frames, 1) / sec / 1e9
            rows.append(
                {
                    "frames": frames,
                    "batch": batch,
                    "folded": folded,
                    "samples_per_s": batch / sec,
                    "gflops": gflops,
                    "fraction_of_matmul": gflops / peak,
                }
            )
    return rows


def write_big_features(path: Path, clips: int, frames: int, chunk: int = 500) -> None:
    """A features file of `clips` random clips (float32), written `chunk` clips at a time."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("feature", (clips, frames, N_MELS), dtype="float32", chunks=(8, frames, N_MELS))
        for start in range(0, clips, chunk):
            stop = min(start + chunk, clips)
            ds[start:stop] = rng.standard_normal((stop - start, frames, N_MELS), dtype=np.float32)


def _rss_child(path: str, rows: int, batch: int, steered: bool, threads: int, queue: Any) -> None:
    """In a fresh process: predict over the first `rows` clips of the file, read through h5py."""
    set_threads(threads)
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=True, train_fc1=True)

    class Head:
        """The first `rows` rows of a dataset, sliceable like it (reads stay h5py slices)."""

        def __init__(self, ds: Any) -> None:
            self.ds, self.shape = ds, (rows, *ds.shape[1:])

        def __getitem__(self, key: slice) -> Any:
            return self.ds[key]

    steer = np.random.RandomState(2).rand(STEER_DIM) if steered else None
    with h5safe.open_h5(path) as f:
        predict(
            model, Head(f["feature"]), batch, steer, steer, REPORT_STRENGTH, activations_pass=None if steered else 1
        )
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB -> MiB (Linux)


def bench_rss(scratch: Path, rows: int, batch: int, threads: int) -> dict[str, Any]:
    """Peak RSS (MiB) of extraction and steered predict over the 5 GB file, each a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        path = Path(tmp) / "big.h5"
        write_big_features(path, BIG_CLIPS, BIG_FRAMES)
        size_gb = path.stat().st_size / 1e9
        out: dict[str, Any] = {"file_gb": size_gb, "rows_read": rows, "batch": batch}
        for name, steered in (("extract", False), ("predict_steered", True)):
            queue = ctx.Queue()
            proc = ctx.Process(target=_rss_child, args=(str(path), rows, batch, steered, threads, queue))
            proc.start()
            out[f"peak_rss_mb_{name}"] = queue.get()
            proc.join()
    out["peak_rss_mb_5gb"] = max(out["peak_rss_mb_extract"], out["peak_rss_mb_predict_steered"])
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    set_threads(args.threads)
    device = resolve_device(args.device)
    check_amp(device, args.amp)
    quick = args.quick
    load_before = os.getloadavg()[0]
    peak = matmul_gflops(device, 3 if quick else 7)
    result: dict[str, Any] = {
        "device": str(device),
        "threads": args.threads,
        "amp": args.amp,
        "quick": quick,
        **machine_facts(args.threads),
        "matmul_gflops": peak,
    }
    # full: the default run's clips and epochs, so the one-off cache is amortised as in the pipeline
    n, epochs, rounds = (48, 2, 1) if quick else (TRAIN_CLIPS, TRAIN_EPOCHS, 2)
    result.update(bench_training(n, epochs, rounds, device, args.amp))
    if not quick and device.type == "cpu":
        result["train_samples_per_s_2_workers_1_thread"] = bench_workers(n, epochs)
    rows = bench_inference([8, 32], BIG_FRAMES, 1 if quick else 3, peak, device, args.amp)
    result["inference"] = rows
    for r in rows:
        if r["folded"]:
            result[f"infer_gflops_t1000_b{r['batch']}"] = r["gflops"]
            result[f"infer_fraction_of_matmul_t1000_b{r['batch']}"] = r["fraction_of_matmul"]
    result["peak_rss_mb_5gb"] = None
    if not quick and not args.no_rss:
        result.update(bench_rss(args.scratch, args.rss_batches * RSS_BATCH, RSS_BATCH, args.threads))
    result["loadavg_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return result


def table(r: dict[str, Any]) -> str:
    load = r["loadavg_1min"]
    lines = [
        f"emosteer bench on {r['device']} ({r['cpu']}, {r['cpu_isa']}), torch {r['torch']}, "
        f"{r['threads']} threads, amp {r['amp']}{', quick' if r['quick'] else ''}; "
        f"load average {load['before']:.2f} -> {load['after']:.2f}",
        f"matmul {MATMUL_N}^2 fp32: {r['matmul_gflops']:.1f} GFLOP/s",
        f"training, T={TRAIN_FRAMES} batch {TRAIN_BATCH}, {r['train_clips']} clips x "
        f"{r['train_epochs']} epochs per call (cache and dev scoring included):",
        f"  eager (every pass every step, bn0 trained): {r['train_samples_per_s_eager']:8.1f} samples/s",
        f"  fast (pass 1 cached, bn0 frozen, BN folded): {r['train_samples_per_s']:8.1f} samples/s "
        f"({r['train_speedup']:.2f}x)",
    ]
    if "train_samples_per_s_2_workers_1_thread" in r:
        lines.append(
            f"  fast, 2 processes x 1 thread (total):       "
            f"{r['train_samples_per_s_2_workers_1_thread']:8.1f} samples/s"
        )
    lines.append("steered inference (one pass computed), GFLOP/s = samples/s x model_flops(T, 1):")
    lines.append(f"  {'T':>5} {'batch':>5} {'BN':>8} {'samples/s':>10} {'GFLOP/s':>8} {'of matmul':>9}")
    for row in r["inference"]:
        lines.append(
            f"  {row['frames']:>5} {row['batch']:>5} {'folded' if row['folded'] else 'unfolded':>8} "
            f"{row['samples_per_s']:>10.2f} {row['gflops']:>8.1f} {row['fraction_of_matmul']:>9.0%}"
        )
    if r["peak_rss_mb_5gb"] is None:
        lines.append("memory: skipped (--quick or --no-rss)")
    else:
        lines.append(
            f"memory, {r['file_gb']:.1f} GB features file, first {r['rows_read']} clips read in batches "
            f"of {r['batch']} (a full pass is hours on a CPU): peak RSS extraction "
            f"{r['peak_rss_mb_extract']:.0f} MiB, steered predict {r['peak_rss_mb_predict_steered']:.0f} MiB"
        )
    return "\n".join(lines)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse, in one line naming the flag, a value that would run for hours or oversubscribe the
    machine (an extra zero), before any work starts. --threads has params.yaml's limits, as in predict."""
    check_value(Threads, args.threads, "--threads")
    if not 1 <= args.rss_batches <= MAX_RSS_BATCHES:
        raise EmosteerError(
            f"--rss-batches: must be in [1, {MAX_RSS_BATCHES}] (batches of {RSS_BATCH} clips of "
            f"the {BIG_CLIPS:,}-clip file: a full pass is over an hour on a CPU), "
            f"got {args.rss_batches}"
        )


def _main(args: argparse.Namespace) -> None:
    check_flags(args)
    results = [run(args)]
    if args.device == "auto" and torch.cuda.is_available():
        args.device, args.amp = "cpu", "off"  # the CPU table beside the GPU one (amp is CUDA's)
        results.append(run(args))
    for r in results:
        print(table(r), flush=True)
    if args.json:
        payload = results[0] if len(results) == 1 else {**results[0], "cpu_run": results[1]}
        with replacing(args.json) as tmp:
            Path(tmp).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bench` subcommand to the emosteer CLI."""
    p = subparsers.add_parser(
        "bench", help="measure training, inference and memory on this machine", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="small sizes, no 5 GB file (under 2 minutes on 2 cores)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")
    p.add_argument(
        "--threads",
        type=int,
        default=max(1, torch.get_num_threads()),
        help=f"torch/BLAS threads (at most {MAX_THREADS})",
    )
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA where present (plus a CPU table)")
    p.add_argument("--amp", choices=AMPS, default="off", help="mixed precision on CUDA")
    p.add_argument("--no-rss", action="store_true", help="skip the 5 GB memory measurement")
    p.add_argument(
        "--rss-batches",
        type=int,
        default=8,
        help=f"batches of {RSS_BATCH} clips read for the memory figure (at most {MAX_RSS_BATCHES})",
    )
    p.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()), help="directory for the temporary 5 GB file"
    )
    p.set_defaults(func=_main)
