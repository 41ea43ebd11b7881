"""What a run will cost before it starts: its workload in clip-passes times this machine's rate.

Nearly all of a run's time is passes of the backbone (README: about 48,000 clip-passes of the
default run). `workload` counts them per stage from params and the data's shape -- clips, frames,
seeds, split sizes, epochs, variants, strengths, bins -- as the stages run them: which tasks a
stage's seed pool runs side by side (`seeds.SeedPool`), and how many passes each task computes.
`calibrate` times a forward pass of a fresh model at the run's frame count and thread count
(well under a second of compute). `estimate` puts the two together: a stage takes as many rounds
as its tasks need over `workers` processes, each round as long as one task.

What it leaves out, and so its error: the data stage (featurizing audio), the small stages, DVC and
process start-up (about 1 of the default run's 10 minutes), the passes that evaluate saves where
two variants give a clip the same vectors, and other work on the machine during the run (the
calibration counts CPU time, not the wall clock). docs/scale.md, "Before a long run", compares the
estimate with measured runs.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from emosteer.data import sources
from emosteer.data.synth import SynthConfig
from emosteer.evaluation import methods
from emosteer.jobs.grids import coarse, grids
from emosteer.schema.params import Params

NOTICE_SECONDS = 300.0  # a run estimated above this is announced before it starts
# A training step of the LRM (pass 2 forward, then its backward through blocks 2-4 without weight
# gradients) in forward passes: measured 1.5 (T = 101) to 2.1 (T = 601); with a trainable backbone
# the weight gradients add about one more.
TRAIN_STEP_PASSES = 2.0
TRAIN_STEP_PASSES_UNFROZEN = 3.0
# The steerability stage's fan-out, restated so that check_params does not import the model code
# (tests/test_cost.py holds it equal to jobs.steerability.STEERABILITY_PARTS).
STEERABILITY_PARTS = 3
CALIBRATION_CLIP_FRAMES = 1200  # clips x frames per timed call: 12 clips at T = 101, 2 at T = 601
CALIBRATION_SECONDS = 0.5  # timed calls stop after this much (at least 2 and at most 5 calls)
# The timed sample is at most this many frames per clip; a longer T is timed at it and scaled by
# T / CALIBRATION_MAX_FRAMES (every conv and pool of the backbone is linear in T), so calibrating
# costs well under a second of compute and a few MB whatever `frames` is, and a signal ends it
# between two calls.
CALIBRATION_MAX_FRAMES = 601
# No CPU core runs a pass slower than this (clip-frames per second per thread; this machine: about
# 5,000): a run under NOTICE_SECONDS even at this rate is not calibrated or announced.
SLOWEST_CLIP_FRAMES_PER_S = 500.0


@dataclass(frozen=True)
class Shape:
    """What the data stage will produce: clips and frames per clip, and how the clips were counted."""

    clips: int
    frames: int
    counted: str


@dataclass(frozen=True)
class Phase:
    """One fan-out of a stage: `tasks` per seed, each computing `passes` clip-passes."""

    stage: str
    tasks: int
    passes: float


@dataclass(frozen=True)
class Estimate:
    shape: Shape
    seeds: int
    workers: int  # processes that run at once (workers, at most one per seed)
    threads: int
    seconds_per_pass: float  # one clip-pass at `shape.frames` on one worker, measured
    load: float  # 1-minute load average when measured
    stages: dict[str, float]  # stage -> seconds
    passes: float  # clip-passes of the whole run

    @property
    def total(self) -> float:
        return sum(self.stages.values())


def split_sizes(n: int, p: Params) -> tuple[int, int, int]:
    """(train, dev, val) clips as prepare_split makes them (group counts taken as clip counts)."""
    s = p.split
    if s.mode == "original":
        val = n - int(0.7 * n)
    else:
        val = min(max(round(s.val_fraction * n), 1), n - 1)
    rest = n - val
    dev = min(max(round(s.dev_fraction * rest), 1), rest - 1) if rest >= 2 else 0
    return rest - dev, dev, val


def steered_passes(p: Params) -> int:
    """Passes a steered call computes: with both pathways steered at alpha 1 from pass 1 on, every
    pass would repeat the first and is reused (docs/model.md, "Passes and steering")."""
    s = p.steering
    return 1 if s.alpha == 1.0 and s.first_pass else p.model.forward_passes


def workload(p: Params, n: int) -> list[Phase]:
    """The clip-passes of each stage's fan-outs for `n` clips, per seed (docs/scale.md)."""
    n_train, n_dev, n_val = split_sizes(n, p)
    passes, steered = p.model.forward_passes, steered_passes(p)
    strengths = len(p.steering.strengths) if p.steering.strength == "dev" else 0
    run = methods.table(p.evaluate.model_dump())  # the steering methods: per grid, or once per run
    once, per_grid = len([m for m in run if not m.per_grid]), len([m for m in run if m.per_grid])
    twin = p.model.forward_passes > 1 and not p.model.trained_checkpoint  # its one pass per clip
    phases = [
        Phase("train", 1, train_passes(p, n_train, n_dev)),
        Phase("extract_activations", 1, n * (passes + (1 if twin else 0))),
    ]
    for stage, k in (("evaluate_baseline", once), *((g.stage, per_grid) for g in grids(p))):
        if strengths:  # dev strength search: one task per seed and strength
            phases.append(Phase(stage, strengths, n_dev * k * steered))
        phases.append(Phase(stage, 1, n_val * k * steered))
        if stage == "evaluate_baseline" and passes > 1:  # the permuted-feedback control: one sweep
            phases.append(Phase(stage, 1, n_val * passes))
    bins = math.ceil(coarse(p).bins / STEERABILITY_PARTS)
    phases.append(Phase("steerability", STEERABILITY_PARTS, bins * n_val * steered))
    return phases


def train_passes(p: Params, n_train: int, n_dev: int) -> float:
    """One seed's training in forward passes: BatchNorm calibration, the cached pass 1, the steps
    and the dev scoring after each epoch (and of the start, with `patience`) over the whole budget
    (early stopping can only end it sooner), and the one-pass twin beside a model with feedback
    (model/train.py, jobs/fit.py)."""
    m, t = p.model, p.train
    if m.trained_checkpoint:
        return 0.0
    total = 0.0 if m.panns_checkpoint else float(n_train)  # calibrate_batchnorm: one pass per clip
    if t.closed_form or t.cache_first_pass:
        total += n_train + n_dev  # pass 1 for the read-out and the cache (shared with the twin)
    step = TRAIN_STEP_PASSES if m.freeze_backbone else TRAIN_STEP_PASSES_UNFROZEN
    scored = t.epochs + (1 if t.patience is not None else 0)
    for passes in (m.forward_passes, 1) if m.forward_passes > 1 else (1,):
        computed = passes - (1 if t.cache_first_pass else 0)
        total += t.epochs * n_train * computed * step + scored * n_dev * computed
    return total


def data_shape(p: Params) -> Shape:
    """Clips and frames the data stage will produce, without featurizing anything."""
    d = p.data
    return Shape(*sources.get(d.source).clips(d.path, d.frames, SynthConfig(**d.synthetic.model_dump())))


def calibrate(frames: int, threads: int, device_name: str, amp: str) -> float:
    """Seconds per clip-pass of an eval-mode forward pass at `frames` on `threads` threads, the
    fastest of a few calls after a warm-up, timed on at most CALIBRATION_MAX_FRAMES frames and
    scaled to `frames`. On the CPU a call's time is the process's CPU seconds per thread, which
    other work on a busy machine does not inflate (its wall time it does: 2x at load average 5 on 2
    cores), so the estimate is for the run having its cores to itself."""
    import torch

    from emosteer.model.lrm import EmotionLRM
    from emosteer.runtime import autocast, resolve_device, set_threads

    set_threads(threads)
    device = resolve_device(device_name)
    timed = sample_frames(frames)
    clips = max(1, round(CALIBRATION_CLIP_FRAMES / timed))
    model = EmotionLRM(forward_passes=1).to(device).eval()
    x = torch.randn(clips, timed, 64, generator=torch.Generator().manual_seed(0)).to(device)

    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def call() -> float:
        start = clock()
        with torch.no_grad(), autocast(device, amp):
            model(x, forward_passes=1)["valence"].cpu()
        return (clock() - start) / (1 if device.type == "cuda" else threads)

    call()
    times = [call(), call()]
    while sum(times) < CALIBRATION_SECONDS and len(times) < 5:
        times.append(call())
    return min(times) / clips * frames / timed


def sample_frames(frames: int) -> int:
    """The frames per clip that `calibrate` times for a run at `frames`."""
    return min(frames, CALIBRATION_MAX_FRAMES)


def on_gpu(device_name: str) -> bool:
    if device_name == "cpu":
        return False
    import torch

    return device_name == "cuda" or torch.cuda.is_available()


def parallel_workers(p: Params) -> int:
    return min(p.workers, len(p.seeds))


def estimate(p: Params, seconds_per_pass: float | None = None, shape: Shape | None = None) -> Estimate:
    """The run's time per stage: rounds of tasks over the workers, times the measured pass time."""
    shape = shape or data_shape(p)
    if seconds_per_pass is None:
        seconds_per_pass = calibrate(shape.frames, p.threads, p.device, p.amp)
    seeds, workers = len(p.seeds), parallel_workers(p)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # more threads than cores: the workers share them (a GPU: the workers share one device)
    crowding = 1.0 if on_gpu(p.device) else max(1.0, workers * p.threads / cores)
    stages = dict.fromkeys(
        ["train", "extract_activations", "evaluate_baseline", *(g.stage for g in grids(p)), "steerability"], 0.0
    )
    total_passes = 0.0
    for phase in workload(p, shape.clips):
        rounds = math.ceil(seeds * phase.tasks / workers)
        stages[phase.stage] += rounds * phase.passes * seconds_per_pass * crowding
        total_passes += seeds * phase.tasks * phase.passes
    return Estimate(shape, seeds, workers, p.threads, seconds_per_pass, os.getloadavg()[0], stages, total_passes)


def duration(seconds: float) -> str:
    """2 h 05 min, 14 min, 3 min 06 s, 40 s."""
    if seconds >= 3600:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h} h {m:02d} min"
    if seconds >= 600:
        return f"{round(seconds / 60)} min"
    if seconds >= 60:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s:02d} s"
    return f"{round(seconds)} s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(p: Params, est: Estimate, alternatives: bool = True) -> str:
    """The estimate in a few lines: total, per stage, what it rests on, and the ways to cut it."""
    s = est.shape
    run = f"{_plural(est.seeds, 'seed')} x {s.clips} clips x {s.frames} frames"
    how = (
        f"{_plural(est.workers, 'worker')} x {_plural(est.threads, 'thread')}, "
        f"{1000 * est.seconds_per_pass:.0f} ms per clip-pass measured now"
    )
    lines = [
        f"cost: this run computes about {est.passes:,.0f} clip-passes ({run}) and takes about "
        f"{duration(est.total)} on this machine ({how}; clips: {s.counted})",
        "  "
        + ", ".join(f"{stage} {duration(t)}" for stage, t in est.stages.items() if t > 0)
        + "; plus the data stage and about 1 min of small stages; DVC skips up-to-date stages; "
        f"other work on the machine slows it (load average now {est.load:.1f})",
    ]
    if alternatives:
        one = estimate(p.model_copy(update={"seeds": p.seeds[:1]}), est.seconds_per_pass, s)
        lines.append(
            f"  shorter: -S 'seeds=[{p.seeds[0]}]' for a first look (about {duration(one.total)}; one "
            "seed's verdicts are not the pooled ones), device: cuda on a GPU, or a node with a core per "
            "seed (workers: one per seed; scripts/sweep_slurm.sh runs each sweep point on its own "
            "node: docs/scale.md)"
        )
    return "\n".join(lines)


def notice(p: Params, out: Any = None) -> Estimate | None:
    """Print the estimate to `out` (stderr) when the run may exceed NOTICE_SECONDS; check_params
    calls this before any expensive stage runs. A run below it even at the slowest plausible rate
    is neither calibrated nor announced."""
    shape = data_shape(p)
    passes = sum(len(p.seeds) * ph.tasks * ph.passes for ph in workload(p, shape.clips))
    slowest = passes * shape.frames / SLOWEST_CLIP_FRAMES_PER_S / parallel_workers(p)
    if slowest < NOTICE_SECONDS:
        return None
    est = estimate(p, shape=shape)
    if est.total >= NOTICE_SECONDS:
        print(describe(p, est), file=out or sys.stderr, flush=True)
    return est
