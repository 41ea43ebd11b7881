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


# --- heads: ridge_pca ----------------------------------------------------------------------------


def _embedded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative (N, 512) features with a low-rank structure (as pooled maps have) and labels."""
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 24)
    x = np.abs(latent @ rng.randn(24, EMBED_DIM) + 0.3 * rng.randn(n, EMBED_DIM) + 3)
    y = np.stack([np.tanh(0.5 * latent[:, 0]), np.tanh(0.5 * latent[:, 1])], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


def test_components_are_the_estimate_and_the_principal_components_of_the_rest() -> None:
    """Unit 1 is the standardised ridge estimate; units 2-128 are the leading principal components
    of the standardised features with the estimate partialled out (checked against an eigen-
    decomposition of their covariance), standardised, largest loading positive."""
    x, y = _embedded(300, 0)
    w, c = readout.ridge(x, y, 10.0)
    x64 = x.astype(np.float64)
    z = (x64 - x64.mean(0)) / x64.std(0)
    for i, comp in enumerate(readout.components(x, y, 10.0)):
        units = comp.units(x)
        estimate = x64 @ w[:, i] + c[i]
        np.testing.assert_allclose(comp.scale * units[:, 0] + comp.mean, estimate, atol=1e-9)
        np.testing.assert_allclose(units.mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(units.std(0), 1, atol=1e-9)
        e = (estimate - estimate.mean()) / estimate.std()
        rest = z - np.outer(e, z.T @ e / len(e))
        values, vectors = np.linalg.eigh(rest.T @ rest / len(e))
        top = vectors[:, ::-1][:, :127]
        top *= np.sign(top[np.abs(top).argmax(0), np.arange(127)])
        expect = rest @ top / np.sqrt(values[::-1][:127])
        np.testing.assert_allclose(units[:, 1:], expect, atol=1e-6)
        assert np.abs(np.corrcoef(units.T) - np.eye(128)).max() < 1e-9  # uncorrelated, estimate included


def test_the_model_predicts_the_ridge_estimate_and_its_128d_holds_the_components() -> None:
    x, y = _embedded(300, 1)
    model = _model()
    readout.fit_readout(model, torch.as_tensor(x), y, 10.0, heads="ridge_pca")
    comps = readout.components(x, y, 10.0)
    w, c = readout.ridge(x, y, 10.0)
    with torch.no_grad():
        out = model._heads(torch.as_tensor(x))
    for i, name in enumerate(readout.PATHWAYS):
        np.testing.assert_allclose(out[name].numpy(), x.astype(np.float64) @ w[:, i] + c[i], atol=1e-4)
        np.testing.assert_allclose(out[f"{name}_128d"].numpy(), comps[i].units(x) + readout.COMPONENT_OFFSET, atol=1e-4)
    # the two pathways share the components but not unit 1 (each its own estimate)
    assert not np.allclose(out["valence_128d"][:, 0], out["arousal_128d"][:, 0])


def test_with_fewer_clips_than_units_the_missing_components_are_constant() -> None:
    x, y = _embedded(40, 2)  # rank 38 after centring and partialling: units 40-128 cannot exist
    comp = readout.components(x, y, 1.0)[0]
    units = comp.units(x)
    assert np.isfinite(units).all()
    assert (units[:, 1:38].std(0) > 0.99).all()
    assert (units[:, 40:] == 0).all() and (comp.loadings[:, 40:] == 0).all()


def test_components_carry_rounding_as_rounding() -> None:
    x, y = _embedded(300, 3)
    bumped = x * (1 + 1e-7 * np.random.RandomState(4).randn(*x.shape)).astype(np.float32)
    a, b = (readout.components(f, y, 10.0)[0].units(x) for f in (x, bumped))
    assert np.abs(a[:, 0] - b[:, 0]).max() < 1e-5
    assert np.abs(a - b).max() < 1e-3


def test_unknown_closed_form_heads_are_refused() -> None:
    x, y = _embedded(50, 5)
    with pytest.raises(EmosteerError, match="'trained' is not a closed-form"):
        readout.fit_readout(_model(), x, y, 1.0, heads="trained")
