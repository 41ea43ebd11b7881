"""bfloat16 autocast on the CPU against float32: speed of training steps and steered inference, and
how far predictions move.

Each round times every cell once (T x threads x {training step, steered inference} x {fp32, bf16}),
fp32 and bf16 back to back, and the rounds repeat, so a disturbance from other work on the machine
falls on both precisions alike; the table gives the median and the range over rounds of clips/s
and of the per-round bf16/fp32 ratio. The training step is the train stage's (`heads: ridge`, pass
1 cached, pass 2 forward under autocast, backward and SGD outside it, as `model/train.py` does);
steered inference is `inference.predict` with per-clip vectors at strength 5 (one pass computed).

    python bench/cpu_bf16.py --rounds 5                      # batch 16, T 101 and 601, 1 and 2 threads
    python bench/cpu_bf16.py --rounds 1 --frames 24 --clips 24   # a smoke run (seconds)

Then predictions: a model trained in float32 on a small synthetic set (`--clips`, T = 101), its
validation predictions with and without bf16 autocast (unsteered and steered), and a model trained
under bf16 autocast against the float32 one. The CPU's flags and the kernel oneDNN picks decide
the speed: without AVX512-BF16 or AMX-BF16 oneDNN runs bf16 convolutions as `jit_bf16:avx512_core`
(bf16 converted to float32 around float32 FMAs), which cannot beat float32.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from emosteer.constants import N_MELS, REPORT_STRENGTH, STEER_DIM
from emosteer.data.frontend import logmel
from emosteer.data.synth import SynthConfig, generate_clips
from emosteer.model import readout
from emosteer.model.config import Train, settings
from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM
from emosteer.model.train import calibrate_batchnorm, train
from emosteer.runtime import machine_facts, set_threads

CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


def cpu_flags() -> dict[str, bool]:
    """The bf16-relevant flags of /proc/cpuinfo (Linux), and what torch's oneDNN check says."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    out = {flag: flag in flags for flag in CPU_FLAGS}
    out["torch mkldnn_bf16_supported"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return out


@contextmanager
def precision(bf16: bool) -> Iterator[None]:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        yield


def _model() -> EmotionLRM:
    """The train stage's model: frozen backbone, bn0 frozen, ridge read-out fixed, dropout off."""
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=False, train_fc1=True)
    for p in readout.readout_parameters(model):
        p.requires_grad_(False)
    model.embed_dropout = model.block_dropout = 0.0
    return model


def step_timer(model: EmotionLRM, batch: int, frames: int) -> Callable[[bool], float]:
    """Seconds of one training step on `batch` clips (pass 1 from the cache, as the pipeline)."""
    rng = np.random.RandomState(0)
    x = torch.as_tensor(rng.randn(batch, frames, N_MELS).astype(np.float32))
    y = torch.as_tensor(rng.uniform(-1, 1, (batch, 2)).astype(np.float32))
    model.eval()
    cache = model.first_pass_features(x)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)

    def run(bf16: bool) -> float:
        model.train()
        start = time.perf_counter()
        with precision(bf16):
            out = model(x, forward_passes=2, return_all_passes=True, first_pass_pooled=cache)[-1]
            loss = ((out["valence"].float() - y[:, 0]) ** 2).mean() + ((out["arousal"].float() - y[:, 1]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    return run


def inference_timer(model: EmotionLRM, batch: int, frames: int) -> Callable[[bool], float]:
    """Seconds of one steered `predict` call on `batch` clips (per-clip vectors, strength 5)."""
    rng = np.random.RandomState(1)
    x = rng.randn(batch, frames, N_MELS).astype(np.float32)
    sv, sa = rng.rand(batch, STEER_DIM), rng.rand(batch, STEER_DIM)

    def run(bf16: bool) -> float:
        start = time.perf_counter()
        with precision(bf16):
            predict(model, x, batch, sv, sa, REPORT_STRENGTH)
        return time.perf_counter() - start

    return run


def speed(frames_list: list[int], threads_list: list[int], batch: int, rounds: int) -> list[dict]:
    model = _model()
    cells = [
        (kind, frames, threads)
        for frames in frames_list
        for threads in threads_list
        for kind in ("train step", "steered inference")
    ]
    timers = {}
    for kind, frames, threads in cells:
        set_threads(threads)
        make = step_timer if kind == "train step" else inference_timer
        timers[kind, frames, threads] = make(model, batch, frames)
        for bf16 in (False, True):  # warm-up: oneDNN primitives and weight reorders are cached
            timers[kind, frames, threads](bf16)
    seconds: dict[tuple, dict[bool, list[float]]] = {c: {False: [], True: []} for c in cells}
    for r in range(rounds):
        for cell in cells:
            set_threads(cell[2])
            order = (False, True) if r % 2 == 0 else (True, False)  # neither always goes first
            for bf16 in order:
                seconds[cell][bf16].append(timers[cell](bf16))
        print(f"round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for (kind, frames, threads), s in seconds.items():
        fp32 = [batch / t for t in s[False]]
        bf16 = [batch / t for t in s[True]]
        ratio = [b / f for b, f in zip(bf16, fp32)]
        rows.append({"kind": kind, "frames": frames, "threads": threads, "fp32": fp32, "bf16": bf16, "ratio": ratio})
    return rows


def _synthetic_features(n: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = [], []
    for _, audio, v, a in generate_clips(SynthConfig(n_clips=n, clip_seconds=frames / 100)):
        spec = logmel(audio, "panns", frames)
        x.append(spec)
        y.append((v, a))
    return np.stack(x).astype(np.float32), np.asarray(y, np.float32)


def _config(epochs: int) -> Train:
    return settings(
        epochs=epochs,
        patience=None,
        batch_size=8,
        learning_rate=0.003,
        amsgrad=True,
        mixup=False,
        loss_passes="last",
        cache_first_pass=True,
        head_epochs=0,
        lr_schedule="cosine",
        warmup_steps=20,
        lrm_zero_init=True,
        heads="ridge",
        ridge_lambda=100.0,
        optimizer="sgd",
        momentum=0.9,
    )


def drift(n: int, epochs: int) -> dict[str, float]:
    """max |bf16 - fp32| of validation predictions: inference of one fp32-trained model, and a
    model trained under bf16 autocast against the fp32-trained one (both predicted in fp32)."""
    set_threads(1)
    x, y = _synthetic_features(n, 101)
    cut = int(0.7 * n)
    out: dict[str, float] = {"clips_train": cut, "clips_val": n - cut, "label_sd": float(y[cut:].std(axis=0).mean())}
    models = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=False, train_fc1=True)
        calibrate_batchnorm(model, x[:cut], 8)  # float32 in both: the pipeline's calibration
        with precision(bf16):
            train(model, x[:cut], y[:cut], x[cut:], y[cut:], _config(epochs), seed=0)
        models[bf16] = model
    steer = np.random.RandomState(2).rand(n - cut, STEER_DIM)
    ref = models[False]
    for name, kwargs in (("unsteered", {}), ("steered", {"steer_valence": steer, "steer_arousal": steer})):
        fp32 = predict(ref, x[cut:], 32, **kwargs)
        with precision(True):
            bf16 = predict(ref, x[cut:], 32, **kwargs)
        out[f"inference_{name}_max_abs_diff"] = max(
            float(np.abs(fp32[d] - bf16[d]).max()) for d in ("valence", "arousal")
        )
    trained_bf16 = predict(models[True], x[cut:], 32)
    fp32 = predict(ref, x[cut:], 32)
    out["trained_bf16_max_abs_diff"] = max(
        float(np.abs(fp32[d] - trained_bf16[d]).max()) for d in ("valence", "arousal")
    )
    out["fp32_val_r"] = float(
        np.mean([np.corrcoef(y[cut:, i], fp32[d])[0, 1] for i, d in enumerate(("valence", "arousal"))])
    )
    out["trained_bf16_val_r"] = float(
        np.mean([np.corrcoef(y[cut:, i], trained_bf16[d])[0, 1] for i, d in enumerate(("valence", "arousal"))])
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, nargs="+", default=[101, 601])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--clips", type=int, default=200, help="synthetic clips of the drift check")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs of the drift check")
    ap.add_argument("--no-drift", action="store_true")
    args = ap.parse_args()
    facts = machine_facts(max(args.threads))
    print(
        f"{facts['cpu']} ({facts['cpu_isa']}), torch {facts['torch']}; flags: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu_flags().items()),
        flush=True,
    )
    load = os.getloadavg()[0]
    rows = speed(args.frames, args.threads, args.batch, args.rounds)
    print(
        f"batch {args.batch}, {args.rounds} rounds, load average {load:.2f} -> {os.getloadavg()[0]:.2f}; "
        "clips/s median [min, max] over rounds"
    )
    print(f"{'':18} {'T':>4} {'thr':>3} {'fp32':>22} {'bf16':>22} {'bf16/fp32':>20}")
    for r in rows:
        cells = [
            f"{statistics.median(v):6.2f} [{min(v):5.2f}, {max(v):5.2f}]" for v in (r["fp32"], r["bf16"], r["ratio"])
        ]
        print(f"{r['kind']:18} {r['frames']:>4} {r['threads']:>3} {cells[0]:>22} {cells[1]:>22} {cells[2]:>20}")
    if not args.no_drift:
        d = drift(args.clips, args.epochs)
        print(
            "predictions, bf16 vs fp32 (max |diff| over validation clips, valence and arousal): "
            + ", ".join(f"{k} {v:.4g}" for k, v in d.items())
        )


if __name__ == "__main__":
    main()
