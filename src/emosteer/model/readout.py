"""Closed-form read-out: fc1 and both affective heads set from a ridge fit, not trained.

Why: gradient training of the heads turns a float-rounding difference (another CPU, another
thread count) into a different model (docs/model.md, "Float noise in training"), so every
downstream verdict became a draw of the machine. A ridge fit is a smooth function of its inputs:
a rounding difference in the pooled features stays a rounding difference in the predictions.

The layout is the original's (fc1 512 -> 512, each head 512 -> 256 -> 128 -> 1), so checkpoints
still load; only the values are set here:

- fc1 is the identity. The pooled block-4 output is >= 0 (it pools post-ReLU maps), so
  ReLU(fc1(x)) = x exactly and the embedding is the pooled features.
- Head layer 1 computes the pathway's ridge estimate y = w . x + c twice per knot t_j, as
  u_j = ReLU((y - t_j) / h) and d_j = ReLU((t_j - y) / h): 2 x 128 = 256 units.
- Head layer 2 turns each pair into a tuning curve: a_j = ReLU(1 - u_j - d_j) =
  max(0, 1 - |y - t_j| / h). These 128 curves, centred on KNOTS evenly spaced knots over
  [-KNOT_RANGE, KNOT_RANGE] with width WIDTH_KNOTS spacings, are the pathway's 128-d activation:
  a population code of its own estimate, which feedback and steering use.
- The output layer reads the code back: with evenly spaced knots, sum_j t_j a_j = y * h / spacing
  wherever y lies at least h inside the knot range, so weights t_j * spacing / h and bias 0 give
  y itself there.

The ridge fit standardises each of the 512 features on the training clips and solves
(Z'Z + lam I) w = Z'(y - mean y) in float64 (lam is `train.ridge_lambda`).
"""

from __future__ import annotations

import numpy as np
import torch

from emosteer.constants import STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model.lrm import EMBED_DIM, HEAD_HIDDEN, EmotionLRM

KNOTS = STEER_DIM
KNOT_RANGE = 2.0  # labels live on [-1, 1]; the code is exact for estimates within +-(2 - width)
WIDTH_KNOTS = 8  # tuning-curve half-width in knot spacings: about 16 units respond to any clip
SD_FLOOR = 1e-6  # a feature whose sd over the training clips is below this is left out (weight 0)
PATHWAYS = ("valence", "arousal")


def knots() -> tuple[np.ndarray, float]:
    """The knot centres t_j and the tuning half-width h."""
    t = np.linspace(-KNOT_RANGE, KNOT_RANGE, KNOTS)
    return t, WIDTH_KNOTS * float(t[1] - t[0])


def ridge(pooled: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on standardised features, returned in raw-feature terms: (W (512, k), c (k,)) with
    y_hat = pooled @ W + c. pooled (N, 512), y (N, k)."""
    x = np.asarray(pooled, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != EMBED_DIM or y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise EmosteerError(f"readout: need pooled (N, {EMBED_DIM}) and y (N, k), got "
                            f"{x.shape} and {y.shape}")
    if not lam > 0:
        raise EmosteerError(f"readout: ridge_lambda must be > 0, got {lam}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise EmosteerError(f"readout: pooled features of training clip {bad[0]} are not finite")
    mu, sd = x.mean(axis=0), x.std(axis=0)
    keep = sd > SD_FLOOR
    z = np.where(keep, (x - mu) / np.where(keep, sd, 1.0), 0.0)
    y_mean = y.mean(axis=0)
    w_z = np.linalg.solve(z.T @ z + lam * np.eye(x.shape[1]), z.T @ (y - y_mean))
    w = np.where(keep[:, None], w_z / np.where(keep, sd, 1.0)[:, None], 0.0)
    return w, y_mean - mu @ w


def set_readout(model: EmotionLRM, w: np.ndarray, c: np.ndarray) -> None:
    """Write fc1 = identity and both heads as the population code of w[:, i] . x + c[i]
    (i = 0 valence, 1 arousal)."""
    t, h = knots()
    spacing = float(t[1] - t[0])
    half = HEAD_HIDDEN // 2
    if half != KNOTS:
        raise EmosteerError(f"readout: head layer 1 has {HEAD_HIDDEN} units, the code needs {2 * KNOTS}")
    f32 = torch.float32
    with torch.no_grad():
        fc1 = model.base.fc1
        fc1.weight.copy_(torch.eye(EMBED_DIM, dtype=f32))
        fc1.bias.zero_()
        for i, name in enumerate(PATHWAYS):
            head = getattr(model, f"affective_{name}")
            wi = np.asarray(w[:, i], dtype=np.float64)
            up = np.concatenate([np.tile(wi / h, (KNOTS, 1)), np.tile(-wi / h, (KNOTS, 1))])
            up_bias = np.concatenate([(c[i] - t) / h, (t - c[i]) / h])
            head[0].weight.copy_(torch.as_tensor(up, dtype=f32))
            head[0].bias.copy_(torch.as_tensor(up_bias, dtype=f32))
            pair = np.zeros((KNOTS, 2 * KNOTS))
            pair[np.arange(KNOTS), np.arange(KNOTS)] = -1.0
            pair[np.arange(KNOTS), KNOTS + np.arange(KNOTS)] = -1.0
            head[2].weight.copy_(torch.as_tensor(pair, dtype=f32))
            head[2].bias.fill_(1.0)
            head[4].weight.copy_(torch.as_tensor((t * spacing / h)[None, :], dtype=f32))
            head[4].bias.zero_()


def fit_readout(model: EmotionLRM, pooled: torch.Tensor | np.ndarray, y: np.ndarray, lam: float) -> None:
    """Fit the ridge on pass-1 pooled features of the training clips and write it into the model."""
    pooled_np = pooled.detach().cpu().double().numpy() if isinstance(pooled, torch.Tensor) else pooled
    w, c = ridge(pooled_np, np.asarray(y)[:, :2], lam)
    set_readout(model, w, c)


def readout_parameters(model: EmotionLRM) -> list[torch.nn.Parameter]:
    """The parameters `set_readout` writes: fc1 and both heads (fixed while the LRM trains)."""
    return [*model.base.fc1.parameters(), *model.affective_valence.parameters(),
            *model.affective_arousal.parameters()]
