"""Training: deterministic, trains the LRM through the feedback, leaves a frozen backbone alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emosteer.errors import EmosteerError
from emosteer.model.lrm import CONNECTIONS, EmotionLRM
from emosteer.model.train import TrainConfig, calibrate_batchnorm, train

FRAMES = 16


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features whose level carries the label, so there is something to learn."""
    rng = np.random.RandomState(seed)
    y = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    x = rng.randn(n, FRAMES, 64).astype(np.float32)
    x[:, :, :32] += 2 * y[:, None, 0:1]
    x[:, :, 32:] += 2 * y[:, None, 1:2]
    return x, y


def _model(**kwargs: object) -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM(**kwargs)  # type: ignore[arg-type]


CFG = TrainConfig(epochs=2, batch_size=4, seed=3, progress=False)


def test_deterministic_and_leaves_global_rng_alone() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(6, 1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    results = []
    for _ in range(2):
        model = _model()
        torch.manual_seed(123)
        results.append((train(model, x, y, xd, yd, CFG), model))
        torch.testing.assert_close(torch.rand(3), expected_next)  # caller's RNG untouched
    (a, model_a), (b, model_b) = results
    assert a.history == b.history
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, model_b.state_dict()[key]), key


def test_history_best_epoch_and_best_weights_loaded() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(6, 1)
    model = _model()
    result = train(model, x, y, xd, yd, TrainConfig(epochs=3, batch_size=4, progress=False))
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert set(result.history[0]) == {"epoch", "train_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean"}
    means = [h["dev_r_mean"] for h in result.history]
    assert result.best_epoch == int(np.nanargmax(means)) + 1
    for h in result.history:
        assert h["dev_r_mean"] == pytest.approx((h["dev_r_valence"] + h["dev_r_arousal"]) / 2)
    for key, value in model.state_dict().items():
        assert torch.equal(value, result.best_state[key]), key


def test_training_updates_lrm_and_heads_but_not_frozen_backbone() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(4, 1)
    model = _model(freeze_backbone=True, train_bn0=False, train_fc1=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, x, y, xd, yd, TrainConfig(epochs=1, batch_size=4, progress=False))
    assert result.best_epoch == 1
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        trains = key.startswith(("lrm.", "affective_"))
        assert changed == trains, key
    for source, block in CONNECTIONS:  # every ModBlock learned through the feedback path
        mb = model.modblock(source, block)
        assert not torch.equal(mb.neg_scale.detach(), torch.ones(1)) or not torch.equal(
            mb.pos_scale.detach(), torch.ones(1)
        )


def test_loss_passes_and_mixup_change_training() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(4, 1)
    runs = {}
    for name, cfg in {
        "last": TrainConfig(epochs=1, batch_size=4, seed=3, progress=False),
        "mean": TrainConfig(epochs=1, batch_size=4, seed=3, progress=False, loss_passes="mean"),
        "no_mixup": TrainConfig(epochs=1, batch_size=4, seed=3, progress=False, mixup=False),
    }.items():
        runs[name] = train(_model(), x, y, xd, yd, cfg).history[0]["train_loss"]
    assert len(set(runs.values())) == 3


def test_loss_decreases_without_mixup() -> None:
    x, y = _data(16, 0)
    xd, yd = _data(8, 1)
    cfg = TrainConfig(epochs=6, batch_size=4, learning_rate=3e-3, mixup=False, seed=0, progress=False)
    history = train(_model(), x, y, xd, yd, cfg).history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_calibrate_batchnorm_estimates_backbone_stats() -> None:
    x, _ = _data(6, 0)
    x = x * 10 - 40  # like dB features: far from mean 0 / var 1
    model = _model().train()
    calibrate_batchnorm(model, x, batch_size=6)
    base = model.visual_system.base
    np.testing.assert_allclose(base.bn0.running_mean.numpy(), x.mean(axis=(0, 1)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        base.bn0.running_var.numpy(), x.reshape(-1, 64).var(axis=0, ddof=1), rtol=1e-3
    )
    for k in range(1, 5):
        bn = base.block(k).bn1
        assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
        assert bn.momentum == 0.1 and not bn.training  # restored, still frozen
    assert model.training and not base.bn0.training


def test_calibration_is_an_average_over_batches() -> None:
    x, _ = _data(8, 0)
    one, two = _model(), _model()
    calibrate_batchnorm(one, x, batch_size=8)
    calibrate_batchnorm(two, x, batch_size=4)
    torch.testing.assert_close(
        one.visual_system.base.bn0.running_mean, two.visual_system.base.bn0.running_mean
    )


def test_bad_training_input_refused() -> None:
    x, y = _data(4, 0)
    with pytest.raises(EmosteerError, match=r"y_train must be \(4, 2\)"):
        train(_model(), x, y[:, 0], x, y, CFG)
    y_bad = y.copy()
    y_bad[2, 1] = np.nan
    with pytest.raises(EmosteerError, match="y_dev has a non-finite label at index 2"):
        train(_model(), x, y, x, y_bad, CFG)
    with pytest.raises(EmosteerError, match="loss_passes"):
        train(_model(), x, y, x, y, TrainConfig(loss_passes="first", progress=False))  # type: ignore[arg-type]
