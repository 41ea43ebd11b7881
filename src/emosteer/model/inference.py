"""Batched inference, optionally steered, reading features one batch at a time.

`features` may be an h5py Dataset: only features[i:j] slices are read, so a large file is never
loaded whole. Every batch goes through the model in one call (no loop over samples).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from emosteer.constants import REPORT_STRENGTH, STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model.lrm import EmotionLRM, Steering


class Sliceable(Protocol):
    """numpy array, h5py Dataset, or anything with .shape and [i:j] -> (b, T, 64)."""

    shape: tuple[int, ...]

    def __getitem__(self, key: slice) -> Any: ...


def predict(
    model: EmotionLRM,
    features: Sliceable,
    batch_size: int = 32,
    steer_valence: np.ndarray | None = None,
    steer_arousal: np.ndarray | None = None,
    strength: float = REPORT_STRENGTH,
    alpha: float = 1.0,
    first_pass: bool = True,
    forward_passes: int | None = None,
    activations_pass: int | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Predict valence/arousal (N,) of the final pass and 128-d activations (N, 128) of pass
    `activations_pass` (1-based, default the final pass), in eval mode without gradients.

    steer_*: (N, 128) one vector per clip, (128,) for all clips, or None (that pathway unsteered);
    strength/alpha/first_pass apply only when some steering is given.
    """
    n = _check_features(features)
    passes = model.forward_passes if forward_passes is None else forward_passes
    if passes < 1:
        raise EmosteerError(f"predict: forward_passes must be >= 1, got {passes}")
    act_pass = passes if activations_pass is None else activations_pass
    if not 1 <= act_pass <= passes:
        raise EmosteerError(f"predict: activations_pass must be in 1..{passes}, got {act_pass}")
    if batch_size < 1:
        raise EmosteerError(f"predict: batch_size must be >= 1, got {batch_size}")
    for name, steer in (("steer_valence", steer_valence), ("steer_arousal", steer_arousal)):
        _check_steer(name, steer, n)

    dtype = next(model.parameters()).dtype
    out = {
        "valence": np.empty(n, dtype=np.float32),
        "arousal": np.empty(n, dtype=np.float32),
        "valence_128d": np.empty((n, STEER_DIM), dtype=np.float32),
        "arousal_128d": np.empty((n, STEER_DIM), dtype=np.float32),
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in tqdm(range(0, n, batch_size), disable=not progress, desc="predict"):
                stop = min(start + batch_size, n)
                x = torch.as_tensor(np.asarray(features[start:stop]), dtype=dtype)
                steering = _batch_steering(
                    steer_valence, steer_arousal, start, stop, dtype, strength, alpha, first_pass
                )
                all_passes = model(x, forward_passes=passes, steering=steering, return_all_passes=True)
                final, act = all_passes[-1], all_passes[act_pass - 1]
                out["valence"][start:stop] = final["valence"].float().numpy()
                out["arousal"][start:stop] = final["arousal"].float().numpy()
                out["valence_128d"][start:stop] = act["valence_128d"].float().numpy()
                out["arousal_128d"][start:stop] = act["arousal_128d"].float().numpy()
    finally:
        model.train(was_training)
    return out


def _check_features(features: Sliceable) -> int:
    shape = tuple(getattr(features, "shape", ()))
    if len(shape) != 3 or shape[2] != 64:
        raise EmosteerError(f"predict: features must be (N, T, 64), got shape {shape}")
    return int(shape[0])


def _check_steer(name: str, steer: np.ndarray | None, n: int) -> None:
    if steer is None:
        return
    shape = np.shape(steer)
    if shape not in ((STEER_DIM,), (n, STEER_DIM)):
        raise EmosteerError(f"predict: {name} must be ({STEER_DIM},) or ({n}, {STEER_DIM}), got {shape}")


def _batch_steering(
    steer_valence: np.ndarray | None,
    steer_arousal: np.ndarray | None,
    start: int,
    stop: int,
    dtype: torch.dtype,
    strength: float,
    alpha: float,
    first_pass: bool,
) -> Steering | None:
    """The Steering for rows start:stop (per-clip vectors sliced, shared ones broadcast)."""
    if steer_valence is None and steer_arousal is None:
        return None

    def rows(steer: np.ndarray | None) -> torch.Tensor | None:
        if steer is None:
            return None
        steer = np.asarray(steer)
        return torch.as_tensor(steer if steer.ndim == 1 else steer[start:stop], dtype=dtype)

    return Steering(
        valence=rows(steer_valence),
        arousal=rows(steer_arousal),
        strength=strength,
        alpha=alpha,
        first_pass=first_pass,
    )
