"""The closed-form read-out: ridge fit, population code, and that it carries rounding as rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emosteer.errors import EmosteerError
from emosteer.model import readout
from emosteer.model.lrm import EMBED_DIM, EmotionLRM


def _pooled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative (N, 512) features (as pooled post-ReLU maps are) and labels that depend on them."""
    rng = np.random.RandomState(seed)
    x = np.abs(rng.randn(n, EMBED_DIM)).astype(np.float32)
    y = np.stack([np.tanh(x[:, :8].mean(1) - 0.8), np.tanh(x[:, 8:16].mean(1) - 0.8)], axis=1)
    return x, y.astype(np.float32)


def _model() -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=False).eval()


def test_ridge_matches_the_normal_equations_on_standardised_features() -> None:
    x, y = _pooled(60, 0)
    w, c = readout.ridge(x, y, 10.0)
    x, y = x.astype(np.float64), y.astype(np.float64)
    z = (x - x.mean(0)) / x.std(0)
    expect = np.linalg.solve(z.T @ z + 10.0 * np.eye(EMBED_DIM), z.T @ (y - y.mean(0)))
    np.testing.assert_allclose(x @ w + c, z @ expect + y.mean(0), atol=1e-9)


def test_the_model_predicts_the_ridge_estimate_and_its_128d_is_a_bump() -> None:
    x, y = _pooled(60, 1)
    model = _model()
    w, c = readout.ridge(x, y, 10.0)
    readout.set_readout(model, w, c)
    with torch.no_grad():
        out = model._heads(torch.as_tensor(x))
    estimate = x.astype(np.float64) @ w + c
    t, h = readout.knots()
    inside = np.abs(estimate).max(axis=1) < readout.KNOT_RANGE - h
    assert inside.all()
    np.testing.assert_allclose(out["valence"].numpy(), estimate[:, 0], atol=1e-4)
    np.testing.assert_allclose(out["arousal"].numpy(), estimate[:, 1], atol=1e-4)
    code = out["valence_128d"].numpy()
    active = code > 0
    assert (active.sum(axis=1) <= 2 * readout.WIDTH_KNOTS).all() and (active.sum(axis=1) > 0).all()
    peak = t[code.argmax(axis=1)]
    assert np.abs(peak - estimate[:, 0]).max() <= (t[1] - t[0]) / 2 + 1e-6
    # fc1 is the identity on the (non-negative) pooled features
    np.testing.assert_allclose(out["embedding"].numpy(), x, atol=1e-6)


def test_a_rounding_difference_stays_a_rounding_difference() -> None:
    """What gradient-trained heads do not do: a 1e-7 relative change of the features moves the
    fitted model's predictions by rounding size, not by another model's size."""
    x, y = _pooled(80, 2)
    bumped = x * (1 + 1e-7 * np.random.RandomState(3).randn(*x.shape)).astype(np.float32)
    preds = []
    for features in (x, bumped):
        model = _model()
        readout.fit_readout(model, torch.as_tensor(features), y, 10.0)
        with torch.no_grad():
            preds.append(model._heads(torch.as_tensor(x))["valence"].numpy())
    assert np.abs(preds[0] - preds[1]).max() < 1e-4
    assert preds[0].std() > 0.05  # a real fit, not a constant


def test_a_constant_feature_gets_no_weight_and_no_nan() -> None:
    x, y = _pooled(40, 4)
    x[:, 5] = 3.0
    w, c = readout.ridge(x, y, 1.0)
    assert np.isfinite(w).all() and np.isfinite(c).all() and (w[5] == 0).all()


def test_bad_inputs_name_what_is_wrong() -> None:
    x, y = _pooled(10, 5)
    x[7, 3] = np.nan
    with pytest.raises(EmosteerError, match="training clip 7"):
        readout.ridge(x, y, 1.0)
    with pytest.raises(EmosteerError, match="ridge_lambda"):
        readout.ridge(np.abs(x[:2]) * 0, y[:2], 0.0)
    with pytest.raises(EmosteerError, match=r"pooled \(N, 512\)"):
        readout.ridge(x[:, :10], y, 1.0)
