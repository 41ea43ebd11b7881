"""Batched inference, optionally steered, reading features one batch at a time.

`features` may be an h5py Dataset: only features[i:j] slices are read, so a large file is never
loaded whole and memory is bounded by the batch (plus the (N, 258) outputs). Every batch goes
through the model in one call (no loop over samples). Model, batches, steering vectors and outputs
live on `device`; the only host transfers inside the loop are the input batches.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from emosteer.constants import N_MELS, REPORT_STRENGTH, STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model.lrm import EmotionLRM, Steering
from emosteer.runtime import autocast
from emosteer.strength import Value as StrengthValue

CPU = torch.device("cpu")


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
    strength: StrengthValue = REPORT_STRENGTH,
    alpha: float = 1.0,
    first_pass: bool = True,
    forward_passes: int | None = None,
    activations_pass: int | None = None,
    progress: bool = False,
    device: torch.device = CPU,
    amp: str = "off",
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Predict valence/arousal (N,) of the final pass and 128-d activations (N, 128) of pass
    `activations_pass` (1-based, default the final pass), in eval mode without gradients; also
    `valence_pass1`/`arousal_pass1`, pass 1's predictions from the same call (no extra pass).

    steer_*: (N, 128) one vector per clip, (128,) for all clips, or None (that pathway unsteered);
    strength (s, or a pair (neg, pos) for the ModBlocks' neg/pos scales), alpha and first_pass apply
    only when some steering is given.

    rows: (M,) clip indices into `features`; output row i is then clip rows[i] (steer_* per row),
    and block 1, which no steering reaches, runs once per distinct clip of a batch. Rows of one
    clip kept together (e.g. a clip under several steering vectors) share it.
    """
    n = _check_features(features)
    if rows is not None:
        rows = _check_rows(rows, n)
        n = len(rows)
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

    model.to(device)
    dtype = next(model.parameters()).dtype
    steer_v = _on_device(steer_valence, dtype, device)
    steer_a = _on_device(steer_arousal, dtype, device)
    out = {
        "valence": torch.empty(n, dtype=torch.float32, device=device),
        "arousal": torch.empty(n, dtype=torch.float32, device=device),
        "valence_128d": torch.empty((n, STEER_DIM), dtype=torch.float32, device=device),
        "arousal_128d": torch.empty((n, STEER_DIM), dtype=torch.float32, device=device),
        "valence_pass1": torch.empty(n, dtype=torch.float32, device=device),
        "arousal_pass1": torch.empty(n, dtype=torch.float32, device=device),
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(device, amp):
            for start in tqdm(range(0, n, batch_size), disable=not progress, desc="predict"):
                stop = min(start + batch_size, n)
                if rows is None:
                    clips, picks = features[start:stop], None
                else:
                    distinct, inverse = np.unique(rows[start:stop], return_inverse=True)
                    clips, picks = features[distinct], torch.as_tensor(inverse, device=device)
                x = torch.as_tensor(np.asarray(clips), dtype=dtype).to(device, non_blocking=True)
                steering = (
                    None
                    if steer_v is None and steer_a is None
                    else Steering(
                        valence=_rows(steer_v, start, stop),
                        arousal=_rows(steer_a, start, stop),
                        strength=strength,
                        alpha=alpha,
                        first_pass=first_pass,
                    )
                )
                all_passes = model(x, forward_passes=passes, steering=steering, return_all_passes=True, rows=picks)
                final, act, first = all_passes[-1], all_passes[act_pass - 1], all_passes[0]
                for key, source in (
                    ("valence", final),
                    ("arousal", final),
                    ("valence_128d", act),
                    ("arousal_128d", act),
                ):
                    out[key][start:stop] = source[key]
                for key in ("valence", "arousal"):
                    out[f"{key}_pass1"][start:stop] = first[key]
    finally:
        model.train(was_training)
    return {key: value.cpu().numpy() for key, value in out.items()}


def derangement(n: int, seed: int) -> np.ndarray:
    """(n,) int64 source index per clip, a seeded permutation with no fixed point: clip i takes
    clip source[i]'s signal and never its own. One cycle through a random order: order =
    Generator(PCG64(seed)).permutation(n), source[order[j]] = order[(j + 1) % n]. n >= 2."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise EmosteerError(f"derangement: need n >= 2 clips, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EmosteerError(f"derangement: seed must be a non-negative integer, got {seed!r}")
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    source = np.empty(n, dtype=np.int64)
    source[order] = np.roll(order, -1)
    return source


def permuted_feedback(
    model: EmotionLRM,
    features: Sliceable,
    feedback_valence: np.ndarray,
    feedback_arousal: np.ndarray,
    source: np.ndarray,
    batch_size: int = 32,
    progress: bool = False,
    device: torch.device = CPU,
    amp: str = "off",
) -> dict[str, np.ndarray]:
    """Predictions of `model` whose feedback comes from other clips: clip i's fed-back passes are
    modulated by feedback_*[source[i]] instead of its own (the permuted-feedback control).

    feedback_*: (N, 128) each clip's own fed-back 128-d, the activations file's (pass k - 1; pass 1
    for the default 2 passes); source: (N,) clip indices, e.g. `derangement(N, seed)`. Pass 1 runs
    unmodulated; every later pass takes the other clip's vector at strength 1 (steering with alpha
    1, first_pass False, which with a clip's own vector reproduces the unsteered prediction: tested),
    so for 2 passes this is exactly "pass 2 modulated by another clip's pass-1 128-d". Returns
    `predict`'s arrays (valence, arousal of the final pass, ...)."""
    n = _check_features(features)
    src = np.asarray(source)
    if src.shape != (n,) or (n and not np.issubdtype(src.dtype, np.integer)):
        raise EmosteerError(
            f"permuted_feedback: source must be ({n},) clip indices, got shape {src.shape} dtype {src.dtype}"
        )
    bad = np.flatnonzero((src < 0) | (src >= n))
    if bad.size:
        raise EmosteerError(f"permuted_feedback: source[{bad[0]}] = {src[bad[0]]} is not a clip index (0..{n - 1})")
    if model.forward_passes < 2:
        raise EmosteerError("permuted_feedback: the model has one pass, so no feedback to permute")
    for name, fb in (("feedback_valence", feedback_valence), ("feedback_arousal", feedback_arousal)):
        if np.shape(fb) != (n, STEER_DIM):
            raise EmosteerError(f"permuted_feedback: {name} must be ({n}, {STEER_DIM}), got {np.shape(fb)}")
    return predict(
        model,
        features,
        batch_size=batch_size,
        steer_valence=np.asarray(feedback_valence)[src],
        steer_arousal=np.asarray(feedback_arousal)[src],
        strength=1.0,
        alpha=1.0,
        first_pass=False,
        progress=progress,
        device=device,
        amp=amp,
    )


def _on_device(steer: np.ndarray | None, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """A steering table moved to the device once, before the batch loop."""
    return None if steer is None else torch.as_tensor(np.asarray(steer), dtype=dtype).to(device)


def _rows(steer: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
    """Rows start:stop of per-clip vectors; a shared (128,) vector as it is (broadcast)."""
    return steer if steer is None or steer.dim() == 1 else steer[start:stop]


def _check_features(features: Sliceable) -> int:
    shape = tuple(getattr(features, "shape", ()))
    if len(shape) != 3 or shape[2] != N_MELS:
        raise EmosteerError(f"predict: features must be (N, T, {N_MELS}), got shape {shape}")
    return int(shape[0])


def _check_rows(rows: np.ndarray, n: int) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise EmosteerError(
            f"predict: rows must be a 1-d array of clip indices, got shape {rows.shape} dtype {rows.dtype}"
        )
    bad = np.flatnonzero((rows < 0) | (rows >= n))
    if bad.size:
        raise EmosteerError(f"predict: rows[{bad[0]}] = {rows[bad[0]]} is not a clip index (0..{n - 1})")
    return rows.astype(np.int64)


def _check_steer(name: str, steer: np.ndarray | None, n: int) -> None:
    if steer is None:
        return
    shape = np.shape(steer)
    if shape not in ((STEER_DIM,), (n, STEER_DIM)):
        raise EmosteerError(f"predict: {name} must be ({STEER_DIM},) or ({n}, {STEER_DIM}), got {shape}")
