"""Training and inference on CUDA: the same numbers as the CPU within float tolerance.

Runs only where torch sees a CUDA device; elsewhere every test is skipped with that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emosteer.model.config import settings
from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM
from emosteer.model.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")
CUDA = torch.device("cuda")


def _model() -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=False, train_fc1=True)


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    return rng.randn(n, 16, 64).astype(np.float32), rng.uniform(-1, 1, (n, 2)).astype(np.float32)


def test_predict_on_cuda_equals_cpu() -> None:
    x, _ = _data(5)
    steer = np.random.RandomState(1).rand(5, 128)
    cpu = predict(_model(), x, batch_size=2, steer_valence=steer, steer_arousal=steer[0])
    gpu = predict(_model(), x, batch_size=2, steer_valence=steer, steer_arousal=steer[0], device=CUDA)
    for key in cpu:
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_training_on_cuda_runs_and_keeps_model_on_device(amp: str) -> None:
    x, y = _data(8)
    model = _model()
    cfg = settings(
        epochs=2,
        patience=None,
        batch_size=4,
        learning_rate=1e-3,
        amsgrad=True,
        mixup=False,
        loss_passes="last",
        cache_first_pass=True,
        head_epochs=1,
        lr_schedule="cosine",
        warmup_steps=1,
        lrm_zero_init=True,
        heads="trained",
        ridge_lambda=1.0,
        optimizer="adam",
        momentum=0.0,
    )
    result = train(model, x, y, x, y, cfg, seed=0, device=CUDA, amp=amp)
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["train_loss"])
    assert all(p.device.type == "cuda" for p in model.parameters())
