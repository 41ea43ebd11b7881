"""Training EmotionLRM: MSE on valence + arousal, Adam, optional mixup, best epoch by dev Pearson r.

Deterministic on CPU for a given seed: shuffling and mixup draw from their own generators, and the
torch RNG used by dropout is seeded inside a forked RNG scope, so the caller's global RNG state is
left as it was. The loss can act on the last pass only (the original) or on the mean over passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from emosteer.errors import EmosteerError
from emosteer.model.inference import Sliceable, predict
from emosteer.model.lrm import EmotionLRM


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the original's where it had one (lr, AMSGrad, mixup)."""

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    amsgrad: bool = True
    mixup: bool = True
    loss_passes: Literal["last", "mean"] = "last"
    forward_passes: int | None = None  # None: the model's own
    seed: int = 0
    progress: bool = True


@dataclass
class TrainResult:
    """Per-epoch history, the best epoch (1-based) by mean dev r, and its weights."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)


def calibrate_batchnorm(model: EmotionLRM, x: Sliceable, batch_size: int) -> None:
    """Estimate the running statistics of every backbone BatchNorm (bn0, blocks 1-4) from data.

    A randomly initialised backbone has running mean 0 / var 1, meaningless for random conv
    weights; frozen, those BNs would feed badly scaled activations forever. This runs unmodulated
    pass 1 over x with a cumulative average (momentum None), without gradients and with dropout
    off, then restores each BN's momentum and the model's mode (frozen BNs stay in eval).
    """
    n = int(x.shape[0])
    if n == 0 or batch_size < 1:
        raise EmosteerError(f"calibrate_batchnorm: need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
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
                batch = torch.as_tensor(np.asarray(x[start : start + batch_size]), dtype=dtype)
                model(batch, forward_passes=1)
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
        model.train(was_training)  # re-applies eval to frozen BNs; unfrozen ones follow the mode


def train(
    model: EmotionLRM,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    cfg: TrainConfig,
) -> TrainResult:
    """Fit model on (x_train, y_train); pick the epoch with the best mean dev Pearson r.

    x_*: float32 (N, T, 64); y_*: (N, 2) columns [valence, arousal]. The best epoch's weights are
    loaded into the model before returning.
    """
    _check_data(x_train, y_train, "train")
    _check_data(x_dev, y_dev, "dev")
    _check_config(cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate, amsgrad=cfg.amsgrad)
    shuffle_rng = np.random.RandomState(cfg.seed)
    mixup_rng = np.random.RandomState(cfg.seed + 1)
    result = TrainResult()
    best_score = -np.inf
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # dropout / SpecAugment masks
        for epoch in range(1, cfg.epochs + 1):
            loss = _train_epoch(model, optimizer, x_train, y_train, cfg, shuffle_rng, mixup_rng, epoch)
            r_v, r_a = _dev_pearson(model, x_dev, y_dev, cfg)
            mean_r = (r_v + r_a) / 2
            result.history.append(
                {"epoch": epoch, "train_loss": loss, "dev_r_valence": r_v,
                 "dev_r_arousal": r_a, "dev_r_mean": mean_r}
            )
            if not result.best_state or (np.isfinite(mean_r) and mean_r > best_score):
                best_score = mean_r if np.isfinite(mean_r) else -np.inf
                result.best_epoch = epoch
                result.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(result.best_state)
    return result


def _train_epoch(
    model: EmotionLRM,
    optimizer: torch.optim.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    shuffle_rng: np.random.RandomState,
    mixup_rng: np.random.RandomState,
    epoch: int,
) -> float:
    """One pass over a fresh permutation of the training set; returns the mean sample loss."""
    model.train()
    dtype = next(model.parameters()).dtype
    order = shuffle_rng.permutation(len(x))
    total, count = 0.0, 0
    batches = range(0, len(x), cfg.batch_size)
    for start in tqdm(batches, disable=not cfg.progress, desc=f"epoch {epoch}/{cfg.epochs}"):
        idx = np.sort(order[start : start + cfg.batch_size])  # sorted: h5py-friendly fancy index
        xb = torch.as_tensor(np.asarray(x[idx]), dtype=dtype)
        yb = torch.as_tensor(np.asarray(y[idx]), dtype=dtype)
        if cfg.mixup:
            xb, yb = _mixup(xb, yb, mixup_rng)
        passes = model(xb, forward_passes=cfg.forward_passes, return_all_passes=True)
        losses = [_loss(p, yb) for p in passes]
        loss = losses[-1] if cfg.loss_passes == "last" else torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / count


def _loss(out: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out["valence"], y[:, 0]) + F.mse_loss(out["arousal"], y[:, 1])


def _mixup(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.RandomState
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with a random partner of the batch: lam ~ Beta(1,1), on features and targets."""
    partner = torch.as_tensor(rng.permutation(len(x)))
    lam = torch.as_tensor(rng.beta(1.0, 1.0, size=len(x)), dtype=x.dtype)
    mixed_x = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
    mixed_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return mixed_x, mixed_y


def _dev_pearson(
    model: EmotionLRM, x: np.ndarray, y: np.ndarray, cfg: TrainConfig
) -> tuple[float, float]:
    pred = predict(model, x, batch_size=max(cfg.batch_size, 32), forward_passes=cfg.forward_passes)
    return _pearson(pred["valence"], y[:, 0]), _pearson(pred["arousal"], y[:, 1])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r in float64; nan when either side is constant (no correlation is defined)."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64) - np.mean(b, dtype=np.float64)
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denom) if denom > 0 else float("nan")


def _check_data(x: Any, y: Any, part: str) -> None:
    shape_x, shape_y = tuple(np.shape(x)), tuple(np.shape(y))
    if len(shape_x) != 3 or shape_x[2] != 64 or shape_x[0] == 0:
        raise EmosteerError(f"train: x_{part} must be (N>0, T, 64), got {shape_x}")
    if shape_y != (shape_x[0], 2):
        raise EmosteerError(f"train: y_{part} must be ({shape_x[0]}, 2) [valence, arousal], got {shape_y}")
    bad = np.flatnonzero(~np.isfinite(np.asarray(y)).all(axis=1))
    if bad.size:
        raise EmosteerError(f"train: y_{part} has a non-finite label at index {bad[0]}")


def _check_config(cfg: TrainConfig) -> None:
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise EmosteerError(f"train: epochs and batch_size must be >= 1, got {cfg.epochs}, {cfg.batch_size}")
    if cfg.loss_passes not in ("last", "mean"):
        raise EmosteerError(f"train: loss_passes must be 'last' or 'mean', got {cfg.loss_passes!r}")
