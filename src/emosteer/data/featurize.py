"""Every way data enters emosteer, behind one function and one CLI subcommand.

`build_features` is what both `emosteer featurize` and the pipeline's data stage call, so the CLI
and `dvc repro` produce the same file from the same arguments. Inputs are checked before anything
is written; the output goes to a temp file, is validated, and only then renamed into place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from emosteer import __version__
from emosteer.data import emosoundscapes, features, survey
from emosteer.constants import FMAX, FMIN, HOP_LENGTH, MIN_FRAMES, N_FFT, N_MELS, SAMPLE_RATE, UNIT_RANGE
from emosteer.errors import EmosteerError
from emosteer.data.frontend import logmel
from emosteer.data.synth import SynthConfig

log = logging.getLogger(__name__)

DEFAULT_FRONTEND = "panns"  # keeps absolute level (an arousal cue) and is what PANNs' bn0 expects
EMO_SOUNDSCAPES_SECONDS = emosoundscapes.CLIP_SECONDS  # its default T is 601 frames
FRONTEND_ATTRS = ("frontend", "sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax")


def build_features(
    source: str,
    path: str | Path | None,
    out: str | Path,
    frontend: str | None,
    frames: int | None,
    synth_cfg: SynthConfig | None = None,
    progress: bool = True,
    *,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    surveyed: survey.Survey | None = None,
) -> features.FeaturesInfo:
    """Write the features HDF5 `out` from one source and return what it holds.

    `source` is an entry of `emosteer.data.sources`: "synthetic" (path unused; synth_cfg or the
    defaults), "emo_soundscapes" (a raw folder) or "features_h5" (an existing file, validated and
    normalised to the schema), each featurized by its module. `frontend` and
    `frames` apply to the audio sources only: a features file keeps its own T and front end.
    frontend None means DEFAULT_FRONTEND; frames None means the natural length: one synthetic
    clip (or segment), or 6 s for Emo-Soundscapes. `rating_range` and `drop` apply to
    Emo-Soundscapes (`survey.survey`); `surveyed` is that survey if the caller already made it.
    """
    from emosteer.data import sources  # the sources' modules import this one

    if source not in sources.SOURCES:
        raise EmosteerError(f"featurize: unknown source {source!r}; expected one of {tuple(sources.SOURCES)}")
    if frames is not None and frames < 1:
        raise EmosteerError(f"featurize: frames must be >= 1, got {frames}")
    out = Path(out)
    # One BLAS thread: the mel projection is a tiny matmul per clip, and a multi-threaded OpenBLAS
    # on a busy 2-core machine turned it from 0.1 ms into 20+ ms (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return sources.get(source).featurize(path, out, frontend, frames, synth_cfg, progress,
                                             rating_range, drop, surveyed)


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


def _write(out: Path, n: int, frames: int, rows: Iterator[features.Row],
           attrs: dict[str, Any]) -> features.FeaturesInfo:
    """Refuse a frame count no model can read before writing anything."""
    if frames < MIN_FRAMES:
        raise EmosteerError(
            f"{out}: {frames} frames per clip, but the model needs >= {MIN_FRAMES} "
            "(four 2x2 pools); use longer clips or --frames"
        )
    return features.write_features(out, n, frames, rows, attrs)


