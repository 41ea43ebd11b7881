"""Training EmotionLRM: MSE on valence + arousal, SGD or Adam, optional mixup; dev loss and r per epoch.

With a closed-form read-out (`heads: ridge`, the default, or `ridge_pca`) fc1 and both heads are set
from pass 1 (emosteer.model.readout), dropout is off, and what trains is what the model has beyond
the read-out: the LRM of a model with feedback. A one-pass model has no LRM, so there the read-out
itself (fc1 where `train_fc1`, and the heads) is fine-tuned from the closed-form start with the
same optimiser, budget and stopping rule: the feedback row compares a model with feedback against
one that had the same training without it (docs/model.md, "Feedback against its own absence").
Each piece of the default recipe is there because gradient-trained heads and Adam turn a
float-rounding difference (another CPU, another thread count) into another model, while this recipe
keeps it at rounding size (docs/model.md, "Float noise in training"). `heads: trained` trains them
with the LRM after optional head epochs on the cached pass 1, as the original did.

Stopping: `epochs` is the budget. With `patience`, the dev loss (the training loss on the dev clips)
is scored before training (epoch 0, a record) and after every epoch; training stops once it has not
improved by more than MIN_IMPROVEMENT (relative) for `patience` epochs, and the model keeps the
weights of the trained epoch with the lowest dev loss. With `keep_start` the start is a candidate
too: the one-pass twin's start is a model of its own (the closed-form read-out), while a model's
LRM at its zero start is no feedback at all, which would leave nothing to steer. Without
`patience` it runs every epoch and keeps the last. A run whose training loss or dev predictions
stop being finite stops with one line naming the seed, the epoch and what to change.

Deterministic for a given seed on one machine: shuffling and mixup draw from their own generators,
and the torch RNG used by dropout is seeded inside a forked RNG scope, so the caller's global RNG
state is left as it was. The loss can act on the last pass only (the original) or on the mean over
passes. With `cache_first_pass` a frozen backbone's pass 1 is computed once per clip (without block
dropout) and reused every step, which halves the work per step (docs/model.md, "Training").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from emosteer.constants import N_MELS
from emosteer.correlation import pearson
from emosteer.errors import EmosteerError
from emosteer.model import readout
from emosteer.model.config import Train
from emosteer.model.inference import Sliceable
from emosteer.model.lrm import CONNECTIONS, EmotionLRM
from emosteer.runtime import autocast

CPU = torch.device("cpu")
# An epoch improves on the best dev loss only by more than this share of it: at the end of a cosine
# schedule successive epochs differ by less than float noise, and such a near-tie must not decide.
MIN_IMPROVEMENT = 1e-4


@dataclass
class TrainResult:
    """Per-epoch history (train loss, dev loss, dev r; epoch 0 = before training, recorded with
    `patience`), the epoch whose weights the model keeps, and why training ended."""

    history: list[dict[str, float]] = field(default_factory=list)
    kept_epoch: int = 0
    stopped: str = "budget"  # budget: every epoch ran | patience: the dev loss stopped improving


@dataclass(frozen=True)
class FirstPass:
    """Pass-1 pooled features (N, 512) of the training and dev clips: what a closed-form read-out is
    fitted on and what `cache_first_pass` reuses every step. They depend only on the backbone, so
    a model and its one-pass twin (the same backbone) share one computation."""

    train: torch.Tensor
    dev: torch.Tensor


def first_pass(
    model: EmotionLRM,
    x_train: Sliceable,
    x_dev: Sliceable,
    batch_size: int,
    device: torch.device = CPU,
    amp: str = "off",
) -> FirstPass:
    """Pass 1 of every training and dev clip (`EmotionLRM.first_pass_features`), batched."""
    model.to(device)
    return FirstPass(
        _first_pass(model, x_train, batch_size, device, amp), _first_pass(model, x_dev, batch_size, device, amp)
    )


def calibrate_batchnorm(model: EmotionLRM, x: Sliceable, batch_size: int, device: torch.device = CPU) -> None:
    """Estimate the running statistics of every backbone BatchNorm (bn0, blocks 1-4) from data.

    A randomly initialised backbone has running mean 0 / var 1, meaningless for random conv
    weights; frozen, those BNs would feed badly scaled activations forever. This runs unmodulated
    pass 1 over x with a cumulative average (momentum None), without gradients and with dropout
    off, then restores each BN's momentum and the model's mode (frozen BNs stay in eval).
    """
    n = int(x.shape[0])
    if n == 0 or batch_size < 1:
        raise EmosteerError(f"calibrate_batchnorm: need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
    model.to(device)
    base = model.visual_system.base
    bns = [base.bn0] + [base.block(k).bn1 for k in range(1, 5)]
    momenta = [bn.momentum for bn in bns]
    was_training = model.training
    dtype = next(model.parameters()).dtype
    model.eval()
    try:
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        with torch.no_grad():
            for start in range(0, n, batch_size):
                model(_tensor(x[start : start + batch_size], dtype, device), forward_passes=1)
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
        model.train(was_training)  # re-applies eval to frozen BNs; unfrozen ones follow the mode


def train(
    model: EmotionLRM,
    x_train: Sliceable,
    y_train: np.ndarray,
    x_dev: Sliceable,
    y_dev: np.ndarray,
    cfg: Train,
    *,
    seed: int,
    progress: bool = False,
    forward_passes: int | None = None,
    device: torch.device = CPU,
    amp: str = "off",
    cached: FirstPass | None = None,
    keep_start: bool = False,
) -> TrainResult:
    """Fit model on (x_train, y_train) for at most cfg.epochs; score the dev clips after each epoch.

    x_*: float32 (N, T, 64), numpy or h5py (read one batch at a time); y_*: (N, 2) columns
    [valence, arousal]. `cfg` is params.yaml's `train` section as it is (validated when built);
    `seed` drives shuffling, mixup and dropout (and names the run in errors); `forward_passes`
    None: the model's own. The model moves to `device`; `amp` (off | bf16 | fp16) applies on CUDA.
    `cached`: `first_pass(...)` of this backbone on these clips, computed here when needed if None.
    `keep_start`: with patience, the start (epoch 0) may be kept if no epoch beats its dev loss.
    The model ends with the kept epoch's weights (`TrainResult.kept_epoch`; see the module docstring).
    """
    _check_data(x_train, y_train, "train")
    _check_data(x_dev, y_dev, "dev")
    model.to(device)
    passes = model.forward_passes if forward_passes is None else forward_passes
    if cfg.lrm_zero_init:
        with torch.no_grad():
            for source, block in CONNECTIONS:
                model.modblock(source, block).modulation.weight.zero_()
                model.modblock(source, block).modulation.bias.zero_()
    if passes == 1:  # no feedback: nothing reaches the LRM
        for p in model.lrm.parameters():
            p.requires_grad_(False)
    fixed_heads = cfg.closed_form
    # Pass 1 of the clips, once: the read-out is fitted on it and training reuses it.
    if cached is None and (fixed_heads or cfg.cache_first_pass):
        cached = first_pass(model, x_train, x_dev, cfg.batch_size, device, amp)
    if cached is not None and (len(cached.train), len(cached.dev)) != (len(x_train), len(x_dev)):
        raise EmosteerError(
            f"train: the cached pass 1 holds {len(cached.train)} + {len(cached.dev)} "
            f"clips for {len(x_train)} training and {len(x_dev)} dev clips"
        )
    if fixed_heads:
        readout.fit_readout(model, cached.train, np.asarray(y_train), cfg.ridge_lambda, cfg.heads)
        if passes > 1:  # the LRM trains; a one-pass model fine-tunes the read-out instead
            for p in readout.readout_parameters(model):
                p.requires_grad_(False)
    run = _Run(model, cfg, device, amp, len(x_train), forward_passes=forward_passes, progress=progress)
    y_train_t = torch.as_tensor(np.asarray(y_train), dtype=run.dtype, device=device)
    y_dev = np.asarray(y_dev, dtype=np.float64)
    shuffle_rng = np.random.RandomState(seed)
    mixup_rng = np.random.RandomState(seed + 1)
    result = TrainResult()
    stop = _Stopping(cfg.patience)
    with torch.random.fork_rng(devices=[]), _dropout_off(model, fixed_heads):
        torch.manual_seed(seed)  # dropout / SpecAugment masks
        cache_train = cached.train if cfg.cache_first_pass else None
        cache_dev = cached.dev if cfg.cache_first_pass else None
        for epoch in range(1, cfg.head_epochs + 1):
            loss = run.epoch(
                x_train,
                y_train_t,
                shuffle_rng,
                mixup_rng,
                f"heads {epoch}/{cfg.head_epochs}",
                cache_train,
                heads_only=True,
            )
            _check_finite(loss, None, seed, f"head epoch {epoch}", cfg)
        run.start_schedule()
        if stop.patience is not None:  # epoch 0: the start, scored; a candidate with keep_start
            result.history.append(_scores(0, float("nan"), run.predict(x_dev, cache_dev), y_dev, seed, cfg))
            if keep_start:
                stop.update(0, result.history[-1]["dev_loss"], model)
        for epoch in range(1, cfg.epochs + 1):
            loss = run.epoch(
                x_train, y_train_t, shuffle_rng, mixup_rng, f"epoch {epoch}/{cfg.epochs}", cache_train, heads_only=False
            )
            result.history.append(_scores(epoch, loss, run.predict(x_dev, cache_dev), y_dev, seed, cfg))
            if stop.update(epoch, result.history[-1]["dev_loss"], model):
                result.stopped = "patience"
                break
    result.kept_epoch = stop.restore(model, result.history[-1]["epoch"])
    return result


class _Stopping:
    """The lowest dev loss so far, its epoch and a copy of its weights; `update` says when to stop."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, dev_loss: float, model: EmotionLRM) -> bool:
        """Record the epoch; True when `patience` epochs have passed without an improvement."""
        if self.patience is None:
            return False
        if dev_loss < self.best_loss * (1 - MIN_IMPROVEMENT) or self.best_state is None:
            self.best_loss, self.best_epoch = dev_loss, epoch
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def restore(self, model: EmotionLRM, last_epoch: int) -> int:
        """Put the kept epoch's weights back; returns that epoch (the last one without patience)."""
        if self.best_state is None:
            return last_epoch
        model.load_state_dict(self.best_state)
        return self.best_epoch


def _scores(
    epoch: int, train_loss: float, pred: np.ndarray, y_dev: np.ndarray, seed: int, cfg: Train
) -> dict[str, float]:
    """One history row: the epoch's training loss, and the dev loss and r of its weights."""
    _check_finite(train_loss if epoch else 0.0, pred, seed, f"epoch {epoch}", cfg)
    pred = pred.astype(np.float64)
    dev_loss = float(((pred - y_dev) ** 2).mean(axis=0).sum())  # as the training loss: MSE v + MSE a
    r_v, r_a = pearson(y_dev[:, 0], pred[:, 0]), pearson(y_dev[:, 1], pred[:, 1])
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "dev_loss": dev_loss,
        "dev_r_valence": r_v,
        "dev_r_arousal": r_a,
        "dev_r_mean": (r_v + r_a) / 2,
    }


def _check_finite(train_loss: float, pred: np.ndarray | None, seed: int, when: str, cfg: Train) -> None:
    """A diverged run stops here, in one line that says what to change (never inside a statistic)."""
    if math.isfinite(train_loss) and (pred is None or np.isfinite(pred).all()):
        return
    what = (
        f"the training loss is {train_loss}" if not math.isfinite(train_loss) else "the dev predictions are not finite"
    )
    remedy = f"lower train.learning_rate (now {cfg.learning_rate:g})" + (
        " or set train.optimizer: adam" if cfg.optimizer == "sgd" else ""
    )
    raise EmosteerError(f"train: seed {seed} diverged in {when}: {what}; {remedy}")


class _Run:
    """One training run's optimiser, schedule and per-batch work (no state beyond the run)."""

    def __init__(
        self,
        model: EmotionLRM,
        cfg: Train,
        device: torch.device,
        amp: str,
        n: int,
        forward_passes: int | None = None,
        progress: bool = False,
    ):
        self.model, self.cfg, self.device, self.amp = model, cfg, device, amp
        self.forward_passes, self.progress = forward_passes, progress
        self.dtype = next(model.parameters()).dtype
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.learning_rate, amsgrad=cfg.amsgrad)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16" and device.type == "cuda")
        self.steps = cfg.epochs * math.ceil(n / cfg.batch_size)
        self.schedule: torch.optim.lr_scheduler.LambdaLR | None = None

    def start_schedule(self) -> None:
        """A fresh optimiser state and the LR schedule for the full training (after head epochs)."""
        self.optimizer.state.clear()
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)

    def _lr_factor(self, step: int) -> float:
        warm = self.cfg.warmup_steps
        if step < warm:
            return (step + 1) / warm
        if self.cfg.lr_schedule == "constant":
            return 1.0
        done = (step - warm) / max(1, self.steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))

    def first_pass_cache(self, x: Sliceable) -> torch.Tensor:
        """(N, 512) pass-1 features of every clip, computed once (see EmotionLRM.first_pass_features)."""
        return _first_pass(self.model, x, self.cfg.batch_size, self.device, self.amp)

    def epoch(
        self,
        x: Sliceable,
        y: torch.Tensor,
        shuffle_rng: np.random.RandomState,
        mixup_rng: np.random.RandomState,
        desc: str,
        cache: torch.Tensor | None,
        heads_only: bool,
    ) -> float:
        """One pass over a fresh permutation of the training set; returns the mean sample loss."""
        model, cfg = self.model, self.cfg
        model.train()
        order = shuffle_rng.permutation(len(x))
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in tqdm(range(0, len(x), cfg.batch_size), disable=not self.progress, desc=desc):
            idx = np.sort(order[start : start + cfg.batch_size])  # sorted: h5py-friendly fancy index
            idx_t = torch.as_tensor(idx, device=self.device)
            xb, yb = _tensor(x[idx], self.dtype, self.device), y[idx_t]
            if cfg.mixup:
                xb, yb = _mixup(xb, yb, mixup_rng)
            pooled = None if cache is None else cache[idx_t]
            with autocast(self.device, self.amp):
                passes = model(
                    xb,
                    forward_passes=1 if heads_only else self.forward_passes,
                    return_all_passes=True,
                    first_pass_pooled=pooled,
                )
                losses = [_loss(p, yb) for p in passes]
                loss = losses[-1] if cfg.loss_passes == "last" else torch.stack(losses).mean()
            self.optimizer.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.schedule is not None and not heads_only:
                self.schedule.step()
            total += loss.detach() * len(idx)
        return float(total) / len(x)

    def predict(self, x: Sliceable, cache: torch.Tensor | None) -> np.ndarray:
        """(N, 2) [valence, arousal] of the final pass, eval mode (pass 1 from the cache if given)."""
        model, bs = self.model, max(self.cfg.batch_size, 32)
        model.eval()
        parts = []
        with torch.no_grad(), autocast(self.device, self.amp):
            for i in range(0, len(x), bs):
                out = model(
                    _tensor(x[i : i + bs], self.dtype, self.device),
                    forward_passes=self.forward_passes,
                    first_pass_pooled=None if cache is None else cache[i : i + bs],
                )
                parts.append(torch.stack([out["valence"], out["arousal"]], dim=1).float())
        return torch.cat(parts).cpu().numpy()


def _first_pass(model: EmotionLRM, x: Sliceable, batch_size: int, device: torch.device, amp: str) -> torch.Tensor:
    """(N, 512) pass-1 features of every clip of x (EmotionLRM.first_pass_features), batched."""
    bs = max(batch_size, 32)
    dtype = next(model.parameters()).dtype
    with autocast(device, amp):
        parts = [model.first_pass_features(_tensor(x[i : i + bs], dtype, device)) for i in range(0, len(x), bs)]
    return torch.cat(parts).to(dtype)


@contextlib.contextmanager
def _dropout_off(model: EmotionLRM, off: bool) -> Iterator[None]:
    """Embedding and block dropout off inside the block when `off`, restored after.

    With a closed-form read-out (heads: ridge, ridge_pca) nothing is there for dropout to
    regularise but the LRM (or the fine-tuned read-out of a one-pass model), and
    dropout would teach the LRM to undo noise that evaluation never has: seed 0 scored val r
    0.772 / 0.814 on pass 2 with block dropout, 0.796 / 0.832 without (docs/model.md)."""
    before = model.embed_dropout, model.block_dropout
    if off:
        model.embed_dropout = model.block_dropout = 0.0
    try:
        yield
    finally:
        model.embed_dropout, model.block_dropout = before


def _tensor(rows: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(rows), dtype=dtype).to(device, non_blocking=True)


def _loss(out: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out["valence"], y[:, 0]) + F.mse_loss(out["arousal"], y[:, 1])


def _mixup(x: torch.Tensor, y: torch.Tensor, rng: np.random.RandomState) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with a random partner of the batch: lam ~ Beta(1,1), on features and targets."""
    partner = torch.as_tensor(rng.permutation(len(x)), device=x.device)
    lam = torch.as_tensor(rng.beta(1.0, 1.0, size=len(x)), dtype=x.dtype, device=x.device)
    mixed_x = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
    mixed_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return mixed_x, mixed_y


def _check_data(x: Any, y: Any, part: str) -> None:
    shape_x, shape_y = tuple(np.shape(x)), tuple(np.shape(y))
    if len(shape_x) != 3 or shape_x[2] != N_MELS or shape_x[0] == 0:
        raise EmosteerError(f"train: x_{part} must be (N>0, T, {N_MELS}), got {shape_x}")
    if shape_y != (shape_x[0], 2):
        raise EmosteerError(f"train: y_{part} must be ({shape_x[0]}, 2) [valence, arousal], got {shape_y}")
    bad = np.flatnonzero(~np.isfinite(np.asarray(y)).all(axis=1))
    if bad.size:
        raise EmosteerError(f"train: y_{part} has a non-finite label at index {bad[0]}")
