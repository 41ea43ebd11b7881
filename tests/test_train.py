"""Training: deterministic, trains the LRM through the feedback, leaves a frozen backbone alone."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch

from emosteer.correlation import pearson
from emosteer.errors import EmosteerError
from emosteer.model.config import Train, settings
from emosteer.model.lrm import CONNECTIONS, EmotionLRM
from emosteer.model.train import calibrate_batchnorm
from emosteer.model.train import train as train_model

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


class Run(NamedTuple):
    """The train settings (params.yaml's section) and the run's own seed."""

    settings: Train
    seed: int


def _cfg(**changes: object) -> Run:
    """The original's training settings at test size; `changes` override fields (and the seed)."""
    base = dict(
        epochs=2,
        patience=None,
        batch_size=4,
        learning_rate=1e-3,
        amsgrad=True,
        mixup=True,
        loss_passes="last",
        cache_first_pass=False,
        head_epochs=0,
        lr_schedule="constant",
        warmup_steps=0,
        lrm_zero_init=False,
        heads="trained",
        ridge_lambda=1.0,
        optimizer="adam",
        momentum=0.0,
    )
    seed = int(changes.pop("seed", 3))  # type: ignore[call-overload]
    return Run(settings(**{**base, **changes}), seed)


def train(model: EmotionLRM, x, y, xd, yd, run: Run, **kwargs: object):
    return train_model(model, x, y, xd, yd, run.settings, seed=run.seed, **kwargs)


CFG = _cfg()


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


def test_history_per_epoch_and_the_last_epochs_weights_kept() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(6, 1)
    model = _model()
    result = train(model, x, y, xd, yd, _cfg(epochs=3, seed=0))
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert set(result.history[0]) == {"epoch", "train_loss", "dev_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean"}
    assert result.kept_epoch == 3 and result.stopped == "budget"
    for h in result.history:
        assert h["dev_r_mean"] == pytest.approx((h["dev_r_valence"] + h["dev_r_arousal"]) / 2)
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(xd))
    last = result.history[-1]  # the returned model is the last epoch's, not a restored best
    assert pearson(yd[:, 0], out["valence"].numpy()) == pytest.approx(last["dev_r_valence"], abs=1e-5)
    assert pearson(yd[:, 1], out["arousal"].numpy()) == pytest.approx(last["dev_r_arousal"], abs=1e-5)


def test_training_updates_lrm_and_heads_but_not_frozen_backbone() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(4, 1)
    model = _model(freeze_backbone=True, train_bn0=False, train_fc1=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, x, y, xd, yd, _cfg(epochs=1, seed=0))
    assert len(result.history) == 1
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
        "last": _cfg(epochs=1),
        "mean": _cfg(epochs=1, loss_passes="mean"),
        "no_mixup": _cfg(epochs=1, mixup=False),
    }.items():
        runs[name] = train(_model(), x, y, xd, yd, cfg).history[0]["train_loss"]
    assert len(set(runs.values())) == 3


def test_loss_decreases_without_mixup() -> None:
    x, y = _data(16, 0)
    xd, yd = _data(8, 1)
    cfg = _cfg(epochs=6, learning_rate=3e-3, mixup=False, seed=0)
    history = train(_model(), x, y, xd, yd, cfg).history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_calibrate_batchnorm_estimates_backbone_stats() -> None:
    x, _ = _data(6, 0)
    x = x * 10 - 40  # like dB features: far from mean 0 / var 1
    model = _model().train()
    calibrate_batchnorm(model, x, batch_size=6)
    base = model.visual_system.base
    np.testing.assert_allclose(base.bn0.running_mean.numpy(), x.mean(axis=(0, 1)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(base.bn0.running_var.numpy(), x.reshape(-1, 64).var(axis=0, ddof=1), rtol=1e-3)
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
    torch.testing.assert_close(one.visual_system.base.bn0.running_mean, two.visual_system.base.bn0.running_mean)


def test_bad_training_input_refused() -> None:
    x, y = _data(4, 0)
    with pytest.raises(EmosteerError, match=r"y_train must be \(4, 2\)"):
        train(_model(), x, y[:, 0], x, y, CFG)
    y_bad = y.copy()
    y_bad[2, 1] = np.nan
    with pytest.raises(EmosteerError, match="y_dev has a non-finite label at index 2"):
        train(_model(), x, y, x, y_bad, CFG)
    with pytest.raises(EmosteerError, match="loss_passes"):
        train(_model(), x, y, x, y, _cfg(loss_passes="first"))


def _quiet(model: EmotionLRM) -> EmotionLRM:
    """No dropout even in train mode, so two training paths can be compared number for number."""
    model.block_dropout = model.embed_dropout = 0.0
    return model


def test_cached_first_pass_step_equals_eager_step_without_dropout() -> None:
    """Same maths (no dropout, bn0 frozen): the cached pass 1 gives the eager loss and gradients."""
    x, y = _data(4, 0)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    grads = []
    for cached in (False, True):
        model = _quiet(_model(train_bn0=False)).train()
        model.fold_batchnorm = cached  # eager: today's unfolded kernels
        pooled = model.first_pass_features(xt) if cached else None
        out = model(xt, return_all_passes=True, first_pass_pooled=pooled)[-1]
        loss = ((out["valence"] - yt[:, 0]) ** 2).mean() + ((out["arousal"] - yt[:, 1]) ** 2).mean()
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-5, atol=1e-5, msg=name)


def test_cached_training_matches_eager_without_dropout_and_is_deterministic() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(6, 1)
    runs = []
    for cached in (False, True, True):
        model = _quiet(_model(train_bn0=False))
        result = train(model, x, y, xd, yd, _cfg(mixup=False, cache_first_pass=cached))
        runs.append((result.history, model.state_dict()))
    (eager, _), (fast, state), (again, state_again) = runs
    assert fast == again  # deterministic for a seed
    for key, value in state.items():
        assert torch.equal(value, state_again[key]), key
    for he, hf in zip(eager, fast):
        for key in he:
            assert hf[key] == pytest.approx(he[key], abs=1e-4), key


def test_cached_first_pass_needs_a_fully_frozen_backbone() -> None:
    x, y = _data(4, 0)
    with pytest.raises(EmosteerError, match="bn0.weight"):
        train(_model(train_bn0=True), x, y, x, y, _cfg(mixup=False, cache_first_pass=True))
    with pytest.raises(EmosteerError, match="mixup"):
        train(_model(train_bn0=False), x, y, x, y, _cfg(mixup=True, cache_first_pass=True))
    with pytest.raises(EmosteerError, match="head_epochs > 0 needs train.cache_first_pass"):
        train(_model(train_bn0=False), x, y, x, y, _cfg(mixup=False, head_epochs=1))


def test_head_epochs_change_training() -> None:
    x, y = _data(8, 0)
    xd, yd = _data(6, 1)
    cfg = _cfg(mixup=False, cache_first_pass=True, epochs=1)
    plain = train(_model(train_bn0=False), x, y, xd, yd, cfg).history
    warmed = train(
        _model(train_bn0=False), x, y, xd, yd, _cfg(**{**cfg.settings.model_dump(), "seed": cfg.seed, "head_epochs": 2})
    ).history
    assert len(warmed) == len(plain) == 1  # head epochs are not in the history
    assert warmed[0]["train_loss"] != plain[0]["train_loss"]


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_lr_schedule_warms_up_and_decays(schedule: str) -> None:
    x, y = _data(8, 0)
    seen: list[float] = []

    class Spy(torch.optim.Adam):
        def step(self, closure=None):  # type: ignore[no-untyped-def]
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    model = _model(train_bn0=False)
    original = torch.optim.Adam
    torch.optim.Adam = Spy  # type: ignore[misc]
    try:
        train(model, x, y, x, y, _cfg(epochs=3, batch_size=2, learning_rate=0.01, lr_schedule=schedule, warmup_steps=2))
    finally:
        torch.optim.Adam = original  # type: ignore[misc]
    assert len(seen) == 12
    assert seen[:3] == pytest.approx([0.005, 0.01, 0.01])
    if schedule == "constant":
        assert seen[3:] == pytest.approx([0.01] * 9)
    else:
        assert all(a > b for a, b in zip(seen[2:], seen[3:])) and seen[-1] < 0.001


def test_lrm_zero_init_starts_the_modulation_at_zero() -> None:
    """With the ModBlocks' output layers zeroed, two Adam steps of lr 1e-3 move them by <= 2e-3."""
    x, y = _data(8, 0)
    model = _model(train_bn0=False)
    train(model, x, y, x, y, _cfg(epochs=1, batch_size=4, mixup=False, lrm_zero_init=True))
    for source, block in CONNECTIONS:
        mod = model.modblock(source, block).modulation.requires_grad_(False)
        assert 0 < float(mod.weight.abs().max()) <= 2e-3 * 1.001
        assert float(mod.bias.abs().max()) <= 2e-3 * 1.001


RIDGE = dict(
    mixup=False,
    cache_first_pass=True,
    heads="ridge",
    ridge_lambda=10.0,
    optimizer="sgd",
    momentum=0.9,
    learning_rate=3e-3,
    lrm_zero_init=True,
)


def test_ridge_heads_stay_fixed_and_only_the_lrm_trains() -> None:
    x, y = _data(12, 0)
    model = _model(freeze_backbone=True, train_bn0=False)
    calibrate_batchnorm(model, x, 4)
    lrm_before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("lrm.")}
    train(model, x, y, x[:4], y[:4], _cfg(**RIDGE))
    fixed = {
        n: p.detach().clone()
        for n, p in model.named_parameters()
        if n.startswith(("affective_", "visual_system.base.fc1"))
    }
    # the heads are what readout wrote for this data (fc1 the identity), untouched by training
    assert torch.equal(fixed["visual_system.base.fc1.weight"], torch.eye(512))
    assert torch.equal(fixed["affective_valence.2.bias"], torch.ones(128))
    moved = [n for n, p in model.named_parameters() if n in lrm_before and not torch.equal(p, lrm_before[n])]
    assert moved, "the LRM did not train"
    # dropout rates are back after training
    assert model.embed_dropout == 0.5 and model.block_dropout == 0.2


def test_ridge_training_is_deterministic_and_keeps_rounding_at_rounding_size() -> None:
    """The recipe's point: the same seed at 1 and at 2 threads (another float reduction order, as
    another CPU gives) ends with models whose predictions differ by rounding, not by a new draw."""
    from emosteer.runtime import set_threads

    x, y = _data(16, 0)
    xv, _ = _data(8, 1)
    preds = []
    try:
        for threads in (1, 1, 2):
            set_threads(threads)
            model = _model(freeze_backbone=True, train_bn0=False)
            calibrate_batchnorm(model, x, 4)
            train(model, x, y, x[:4], y[:4], _cfg(**RIDGE, epochs=3, batch_size=4))
            with torch.no_grad():
                out = model.eval()(torch.as_tensor(xv))
            preds.append(torch.stack([out["valence"], out["arousal"]]).numpy())
    finally:
        set_threads(1)
    assert np.array_equal(preds[0], preds[1])
    assert preds[0].std() > 0.01
    assert np.abs(preds[0] - preds[2]).max() < 1e-4


def test_ridge_heads_refuse_head_epochs_and_unknown_optimisers() -> None:
    x, y = _data(8, 0)
    with pytest.raises(EmosteerError, match="head_epochs"):
        train(_model(train_bn0=False), x, y, x, y, _cfg(**{**RIDGE, "head_epochs": 1}))
    with pytest.raises(EmosteerError, match="optimizer"):
        train(_model(train_bn0=False), x, y, x, y, _cfg(**{**RIDGE, "optimizer": "lion"}))


def _dev_loss(model: EmotionLRM, xd: np.ndarray, yd: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(xd))
    pred = torch.stack([out["valence"], out["arousal"]], dim=1).double().numpy()
    return float(((pred - yd.astype(np.float64)) ** 2).mean(axis=0).sum())


def test_patience_keeps_the_epoch_of_the_lowest_dev_loss() -> None:
    """With patience the start (epoch 0) is scored too, as a record; training stops `patience`
    epochs after the best dev loss of the trained epochs, and the model holds that epoch's weights."""
    x, y = _data(16, 0)
    xd, yd = _data(8, 1)
    model = _model(freeze_backbone=True, train_bn0=False)
    calibrate_batchnorm(model, x, 4)
    # a large constant rate: the dev loss moves a lot from epoch to epoch
    result = train(
        model,
        x,
        y,
        xd,
        yd,
        _cfg(
            **{**RIDGE, "learning_rate": 0.3, "lr_schedule": "constant", "warmup_steps": 0},
            epochs=8,
            batch_size=4,
            patience=2,
        ),
    )
    epochs = [h["epoch"] for h in result.history]
    losses = [h["dev_loss"] for h in result.history]
    assert epochs[:2] == [0, 1] and np.isnan(result.history[0]["train_loss"])
    best = epochs[1 + int(np.argmin(losses[1:]))]
    assert result.kept_epoch == best
    if result.stopped == "patience":
        assert epochs[-1] == best + 2
    else:
        assert epochs[-1] == 8
    assert _dev_loss(model, xd, yd) == pytest.approx(losses[epochs.index(best)], rel=1e-5)


@pytest.mark.parametrize("keep_start", [True, False])
def test_patience_keeps_the_start_when_training_only_hurts_if_the_start_may_be_kept(keep_start: bool) -> None:
    """If no epoch beats the dev loss of the start: with keep_start the model is the start (pass 2
    equal to pass 1), without it the first epoch (the LRM trained once)."""
    x, y = _data(16, 0)
    xd, yd = _data(8, 1)
    model = _model(freeze_backbone=True, train_bn0=False)
    calibrate_batchnorm(model, x, 4)
    start = None

    class Spy(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[no-untyped-def]
            nonlocal start
            if start is None:
                start = {k: v.clone() for k, v in model.state_dict().items()}
            with torch.no_grad():  # a step that always makes things worse
                for group in self.param_groups:
                    for p in group["params"]:
                        p.add_(torch.randn_like(p))
            return None

    original = torch.optim.SGD
    torch.optim.SGD = Spy  # type: ignore[misc]
    try:
        result = train(model, x, y, xd, yd, _cfg(**RIDGE, epochs=4, batch_size=4, patience=1), keep_start=keep_start)
    finally:
        torch.optim.SGD = original  # type: ignore[misc]
    assert start is not None and result.stopped == "patience"
    if keep_start:
        assert result.kept_epoch == 0 and [h["epoch"] for h in result.history] == [0, 1]
        for key, value in model.state_dict().items():
            assert torch.equal(value, start[key]), key
    else:  # epoch 1 is the best trained epoch whatever its loss; epoch 2 did not beat it
        assert result.kept_epoch == 1 and [h["epoch"] for h in result.history] == [0, 1, 2]
        assert _dev_loss(model, xd, yd) == pytest.approx(result.history[1]["dev_loss"], rel=1e-5)


@pytest.mark.parametrize("where", ["epoch", "head epoch"])
def test_a_diverging_run_stops_in_one_line_naming_seed_epoch_and_remedy(where: str) -> None:
    """Not inside a correlation: the line says which seed, which epoch and what to change."""
    x, y = _data(16, 0)
    extra = dict(cache_first_pass=True, head_epochs=1) if where == "head epoch" else {}
    cfg = _cfg(mixup=False, optimizer="sgd", momentum=0.9, learning_rate=1e6, seed=7, **extra)
    with pytest.raises(EmosteerError) as err:
        train(_model(train_bn0=False), x, y, x[:6], y[:6], cfg)
    msg = str(err.value)
    assert msg.startswith(f"train: seed 7 diverged in {where} 1: ")
    assert msg.endswith("lower train.learning_rate (now 1e+06) or set train.optimizer: adam")
    assert "\n" not in msg


def test_a_one_pass_model_with_a_closed_form_read_out_fine_tunes_the_read_out() -> None:
    """No LRM to train without feedback: the read-out moves from its closed-form start instead,
    and the LRM is left as it was."""
    x, y = _data(12, 0)
    model = _model(forward_passes=1, freeze_backbone=True, train_bn0=False)
    calibrate_batchnorm(model, x, 4)
    lrm_before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("lrm.")}
    start = _model(forward_passes=1, freeze_backbone=True, train_bn0=False)
    start.load_state_dict(model.state_dict())
    cfg = {**RIDGE, "lrm_zero_init": False}
    train(start, x, y, x[:4], y[:4], _cfg(**{**cfg, "learning_rate": 1e-12}, epochs=1))  # ~ the start
    train(model, x, y, x[:4], y[:4], _cfg(**cfg, epochs=2, batch_size=4))
    after = dict(model.named_parameters())
    for name, value in lrm_before.items():
        assert torch.equal(after[name], value), name
    for name in ("visual_system.base.fc1.weight", "affective_valence.0.weight", "affective_arousal.4.weight"):
        assert not torch.allclose(after[name], dict(start.named_parameters())[name], atol=1e-6), name


def test_ridge_pca_heads_train_the_lrm_and_predict_the_ridge_estimate_at_the_start() -> None:
    """The two closed-form read-outs give the same estimate: at the start (pass 2 = pass 1) the
    dev predictions agree to float32 rounding."""
    x, y = _data(16, 0)
    xd, yd = _data(8, 1)
    starts = {}
    for heads in ("ridge", "ridge_pca"):
        model = _model(freeze_backbone=True, train_bn0=False)
        calibrate_batchnorm(model, x, 4)
        result = train(model, x, y, xd, yd, _cfg(**{**RIDGE, "heads": heads}, epochs=1, batch_size=4, patience=1))
        starts[heads] = result.history[0]
    assert starts["ridge"]["dev_loss"] == pytest.approx(starts["ridge_pca"]["dev_loss"], rel=1e-4)
