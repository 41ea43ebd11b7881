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

`heads: ridge_pca` (`fit_components`, `set_components`) keeps the same estimate but gives the 128-d
more to carry than the estimate: per pathway, unit 1 is the ridge estimate and units 2-128 are the
leading principal components of the standardised features once the estimate is partialled out (on
the training clips: each feature minus its least-squares fit on the estimate), every unit
standardised to mean 0 and sd 1 over the training clips, so the LRM's per-sample normalisation sees
128 comparable inputs. A component's sign is fixed so that its largest-magnitude loading is
positive. Each unit is shifted by COMPONENT_OFFSET so the post-ReLU 128-d stays positive (a clip is
clipped only where a unit lies more than COMPONENT_OFFSET sd below its training mean); the shift is
the same for every unit, so the ModBlock's per-sample normalisation removes it. Layer 1 holds each
unit twice, as ReLU(c) and ReLU(-c) (exact); layer 2 gives ReLU(c+ - c- + offset); the output layer
reads the estimate back from unit 1 alone, so the prediction is the ridge estimate, as with `ridge`.
With fewer training clips than units the surplus components do not exist; those units are constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emosteer.constants import STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model.lrm import EMBED_DIM, HEAD_HIDDEN, EmotionLRM

KNOTS = STEER_DIM
KNOT_RANGE = 2.0  # labels live on [-1, 1]; the code is exact for estimates within +-(2 - width)
WIDTH_KNOTS = 8  # tuning-curve half-width in knot spacings: about 16 units respond to any clip
SD_FLOOR = 1e-6  # a feature whose sd over the training clips is below this is left out (weight 0)
# ridge_pca: units sit at COMPONENT_OFFSET + (a standardised component); clipped below -OFFSET sd
COMPONENT_OFFSET = 8.0
RANK_FLOOR = 1e-8  # a component whose singular value is below this share of the first does not exist
PATHWAYS = ("valence", "arousal")


def knots() -> tuple[np.ndarray, float]:
    """The knot centres t_j and the tuning half-width h."""
    t = np.linspace(-KNOT_RANGE, KNOT_RANGE, KNOTS)
    return t, WIDTH_KNOTS * float(t[1] - t[0])


def ridge(pooled: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on standardised features, returned in raw-feature terms: (W (512, k), c (k,)) with
    y_hat = pooled @ W + c. pooled (N, 512), y (N, k)."""
    x, y = _checked(pooled, y, lam)
    mu, sd, keep, z = _standardise(x)
    y_mean = y.mean(axis=0)
    w = _raw(_ridge_z(z, y, lam), sd, keep)
    return w, y_mean - mu @ w


def _checked(pooled: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(pooled, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != EMBED_DIM or y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise EmosteerError(f"readout: need pooled (N, {EMBED_DIM}) and y (N, k), got {x.shape} and {y.shape}")
    if not lam > 0:
        raise EmosteerError(f"readout: ridge_lambda must be > 0, got {lam}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise EmosteerError(f"readout: pooled features of training clip {bad[0]} are not finite")
    return x, y


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, sd, keep, z): each feature standardised over the training clips; a feature whose sd
    is below SD_FLOOR is left out (z = 0, keep False)."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    keep = sd > SD_FLOOR
    return mu, sd, keep, np.where(keep, (x - mu) / np.where(keep, sd, 1.0), 0.0)


def _ridge_z(z: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """(512, k) ridge weights on the standardised features z (the targets centred)."""
    return np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (y - y.mean(axis=0)))


def _raw(w_z: np.ndarray, sd: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Weights on standardised features -> weights on the raw features (0 for left-out ones)."""
    return np.where(keep[:, None], w_z / np.where(keep, sd, 1.0)[:, None], 0.0)


@dataclass(frozen=True)
class Components:
    """One pathway's 128 units (`heads: ridge_pca`) in raw-feature terms: units = pooled @ loadings
    + bias, each with mean 0 and sd 1 over the training clips (a unit whose component does not
    exist has loadings 0 and is constant 0); the estimate is scale * units[:, 0] + mean."""

    loadings: np.ndarray  # (512, 128)
    bias: np.ndarray  # (128,)
    scale: float
    mean: float

    def units(self, pooled: np.ndarray) -> np.ndarray:
        """(N, 128) float64 units of pooled (N, 512) features (before the offset)."""
        return np.asarray(pooled, dtype=np.float64) @ self.loadings + self.bias


def components(pooled: np.ndarray, y: np.ndarray, lam: float) -> list[Components]:
    """Per column of y (pathway): unit 1 the standardised ridge estimate, units 2-128 the leading
    principal components of the standardised features with the estimate partialled out, each
    standardised and signed so that its largest-magnitude loading is positive. All in float64."""
    x, y = _checked(pooled, y, lam)
    n = x.shape[0]
    mu, sd, keep, z = _standardise(x)
    w_z = _ridge_z(z, y, lam)
    m = STEER_DIM - 1
    out = []
    for i in range(y.shape[1]):
        name = PATHWAYS[i] if i < len(PATHWAYS) else f"target {i}"
        estimate = z @ w_z[:, i]  # mean 0 over the training clips
        scale = float(estimate.std())
        if not scale > 0:
            raise EmosteerError(
                f"readout: the ridge estimate of {name} is constant on the training clips; nothing to read out"
            )
        e = estimate / scale
        beta = z.T @ e / n  # each feature's least-squares slope on e (e has mean 0, variance 1)
        _, s, vt = np.linalg.svd(z - np.outer(e, beta), full_matrices=False)
        k = min(m, len(s))
        exists = s[:k] > RANK_FLOOR * s[0] if s[0] > 0 else np.zeros(k, dtype=bool)
        v = vt[:k].T  # (512, k) loadings on the partialled features
        top = np.argmax(np.abs(v), axis=0)
        v = v * np.where(v[top, np.arange(k)] < 0, -1.0, 1.0)
        # a clip's score: (z - e beta') v = z (v - (w / scale) (beta' v)); its sd is s / sqrt(n)
        loadings_z = (v - np.outer(w_z[:, i] / scale, beta @ v)) / np.where(exists, s[:k], 1.0) * np.sqrt(n)
        loadings_z = np.where(exists, loadings_z, 0.0)
        full = np.zeros((EMBED_DIM, STEER_DIM))
        full[:, 0] = w_z[:, i] / scale
        full[:, 1 : 1 + k] = loadings_z
        loadings = _raw(full, sd, keep)
        out.append(Components(loadings=loadings, bias=-mu @ loadings, scale=scale, mean=float(y[:, i].mean())))
    return out


def set_components(model: EmotionLRM, pathways: list[Components]) -> None:
    """Write fc1 = identity and each head as its pathway's units (valence first, then arousal):
    layer 1 holds each unit c as ReLU(c) and ReLU(-c), layer 2 gives ReLU(c + COMPONENT_OFFSET),
    the output reads the estimate back from unit 1."""
    half = HEAD_HIDDEN // 2
    if half != STEER_DIM:
        raise EmosteerError(f"readout: head layer 1 has {HEAD_HIDDEN} units, the components need {2 * STEER_DIM}")
    f32 = torch.float32
    with torch.no_grad():
        fc1 = model.base.fc1
        fc1.weight.copy_(torch.eye(EMBED_DIM, dtype=f32))
        fc1.bias.zero_()
        for name, c in zip(PATHWAYS, pathways, strict=True):
            head = getattr(model, f"affective_{name}")
            head[0].weight.copy_(torch.as_tensor(np.concatenate([c.loadings.T, -c.loadings.T]), dtype=f32))
            head[0].bias.copy_(torch.as_tensor(np.concatenate([c.bias, -c.bias]), dtype=f32))
            pair = np.zeros((STEER_DIM, 2 * STEER_DIM))
            pair[np.arange(STEER_DIM), np.arange(STEER_DIM)] = 1.0
            pair[np.arange(STEER_DIM), STEER_DIM + np.arange(STEER_DIM)] = -1.0
            head[2].weight.copy_(torch.as_tensor(pair, dtype=f32))
            head[2].bias.fill_(COMPONENT_OFFSET)
            out = np.zeros((1, STEER_DIM))
            out[0, 0] = c.scale
            head[4].weight.copy_(torch.as_tensor(out, dtype=f32))
            head[4].bias.fill_(c.mean - c.scale * COMPONENT_OFFSET)


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


def fit_readout(
    model: EmotionLRM, pooled: torch.Tensor | np.ndarray, y: np.ndarray, lam: float, heads: str = "ridge"
) -> None:
    """Fit the closed-form read-out `heads` (ridge | ridge_pca) on pass-1 pooled features of the
    training clips and write it into the model."""
    pooled_np = pooled.detach().cpu().double().numpy() if isinstance(pooled, torch.Tensor) else pooled
    y2 = np.asarray(y)[:, :2]
    if heads == "ridge":
        set_readout(model, *ridge(pooled_np, y2, lam))
    elif heads == "ridge_pca":
        set_components(model, components(pooled_np, y2, lam))
    else:
        raise EmosteerError(f"readout: heads {heads!r} is not a closed-form read-out (ridge, ridge_pca)")


def readout_parameters(model: EmotionLRM) -> list[torch.nn.Parameter]:
    """The parameters `set_readout` writes: fc1 and both heads (fixed while the LRM trains)."""
    return [*model.base.fc1.parameters(), *model.affective_valence.parameters(), *model.affective_arousal.parameters()]
