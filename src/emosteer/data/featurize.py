"""What every source's featurizer shares: the front end's attributes, the warm-up, the progress bar
and the one writer that checks the frames and writes the features HDF5.

`emosteer.data.sources.build_features` is the entry point that both `emosteer featurize` and the
pipeline's data stage call, so the CLI and `dvc repro` produce the same file from the same
arguments; each source's module featurizes it with these helpers. Inputs are checked before
anything is written; the output goes to a temp file, is validated, and only then renamed into
place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from emosteer import __version__
from emosteer.constants import FMAX, FMIN, HOP_LENGTH, MIN_FRAMES, N_FFT, N_MELS, SAMPLE_RATE
from emosteer.data import emosoundscapes, features
from emosteer.data.frontend import logmel
from emosteer.errors import EmosteerError

log = logging.getLogger(__name__)

DEFAULT_FRONTEND = "panns"  # keeps absolute level (an arousal cue) and is what PANNs' bn0 expects
EMO_SOUNDSCAPES_SECONDS = emosoundscapes.CLIP_SECONDS  # its default T is 601 frames
FRONTEND_ATTRS = ("frontend", "sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax")


def _need_path(path: str | Path | None, source: str) -> Path:
    if path is None:
        raise EmosteerError(f"featurize: source {source!r} needs a path")
    return Path(path)


def _frontend_attrs(flavour: str, frames: int, source: str) -> dict[str, Any]:
    """Attributes every audio-derived file carries: where it came from and how it was computed."""
    return {
        "source": source,
        "frontend": flavour,
        "frames": frames,
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_mels": N_MELS,
        "fmin": FMIN,
        "fmax": FMAX,
        "emosteer_version": __version__,
    }


def _progress(rows: Iterator[features.Row], n: int, desc: str, enabled: bool) -> Iterator[features.Row]:
    return iter(tqdm(rows, total=n, desc=desc, unit="clip", disable=not enabled, leave=False))


def _warm_up(flavour: str) -> None:
    """Pay the front end's one-off start-up cost (librosa's lazy imports and numba compiles, about
    2 s, measured) before the progress bar starts, so its first ETA extrapolates a normal clip."""
    logmel(np.zeros(N_FFT, dtype=np.float32), flavour, 1)


def _write(
    out: Path, n: int, frames: int, rows: Iterator[features.Row], attrs: dict[str, Any]
) -> features.FeaturesInfo:
    """Refuse a frame count no model can read before writing anything."""
    if frames < MIN_FRAMES:
        raise EmosteerError(
            f"{out}: {frames} frames per clip, but the model needs >= {MIN_FRAMES} "
            "(four 2x2 pools); use longer clips or --frames"
        )
    return features.write_features(out, n, frames, rows, attrs)
