"""The committed Emo-Soundscapes-shaped fixture and a PANNs-layout checkpoint built at test time.

tests/fixtures/emo_soundscapes/ is written once by tests/fixtures/make_emo_soundscapes.py (its
docstring lists what the folder holds); `panns_checkpoint` writes random weights in the official
Cnn6 layout ({"model": state dict, "iteration": ...}, extractor buffers included), the file the
README's commands name `Cnn6_mAP=0.343.pth`. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from emosteer.model.lrm import EmotionLRM

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "emo_soundscapes"
WINDOW_FRAMES = 16  # 0.15 s: the fixture's 0.16-s clips fill it, s05 (0.05 s) does not


def panns_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official Cnn6 key layout (what EmotionLRM's backbone loads): PANNs'
    own initialisation (Xavier convolutions) drawn from `seed`, BatchNorm near identity, and bn0's
    statistics near those of log-mel input (mean -30 dB, sd 17 dB), as a trained checkpoint has."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        base = EmotionLRM().visual_system.base.state_dict()
        state = {}
        for key, value in base.items():
            if not value.is_floating_point() or key.startswith(("spectrogram_extractor.", "logmel_extractor.")):
                state[key] = value.clone()
            elif key.endswith("running_var"):
                state[key] = (1.0 + 0.2 * torch.rand(value.shape)) * (289.0 if key.startswith("bn0.") else 1.0)
            elif key.endswith("running_mean"):
                state[key] = (-30.0 if key.startswith("bn0.") else 0.0) + 0.1 * torch.randn(value.shape)
            elif ".bn" in key or key.startswith("bn0."):
                state[key] = value + 0.05 * torch.randn(value.shape)
            else:
                state[key] = value.clone()  # Xavier-initialised under `seed`
    return state


def panns_checkpoint(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Write a PANNs-layout checkpoint to `path` (its folder made); return its state dict."""
    state = panns_state(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "iteration": 123_000}, path)
    return state


def copy_fixture(dest: Path) -> Path:
    """A writable copy of the fixture folder at `dest`."""
    shutil.copytree(FIXTURE, dest)
    return dest
