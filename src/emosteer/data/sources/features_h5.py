"""An existing features HDF5 (e.g. the original's emotion_features.h5): validated in full, copied into
the schema (emosteer.data.features); it keeps its own frames and front end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emosteer import __version__
from emosteer.atomic import refuse_overwrite
from emosteer.constants import UNIT_RANGE
from emosteer.data import features
from emosteer.data.featurize import FRONTEND_ATTRS, _need_path, _progress, _write, log
from emosteer.data.sources.base import Source
from emosteer.data.survey import Survey, _facts, _range
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError


def survey(
    path: Path | None,
    frames: int,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    synth: SynthConfig | None = None,
    progress: bool = False,
) -> Survey:
    if path is None:
        raise EmosteerError("survey: source 'features_h5' needs a path")
    return _survey(Path(path), frames)


def _survey(path: Path, frames: int) -> Survey:
    """A features file: its rows and labels (no audio to survey; it keeps its own frames)."""
    names, valence, arousal = features.read_labels(path)
    info = features.read_info(path)
    warnings = []
    if info.frames != frames:
        warnings.append(
            f"{path}: holds {info.frames} frames per clip; data.frames {frames} applies "
            "to audio sources only, the file's own are used"
        )
    facts = _facts(
        "features_h5",
        path,
        info.frames,
        n_clips=len(names),
        n_rated=len(names),
        rating_range={"valence": _range(valence), "arousal": _range(arousal)},
        resampled_to=None,
        mono=None,
        frontend=info.attrs.get("frontend", "unknown"),
        warnings=warnings,
    )
    return Survey(facts, [], [path], names)


def featurize(
    path: Path | None,
    out: Path,
    frontend: str | None,
    frames: int | None,
    synth: SynthConfig | None = None,
    progress: bool = True,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    surveyed: Survey | None = None,
) -> features.FeaturesInfo:
    return _featurize(_need_path(path, "features_h5"), out, frontend, frames, progress)


def _featurize(src: Path, out: Path, flavour: str | None, frames: int | None, progress: bool) -> features.FeaturesInfo:
    """Validate an existing file fully, then copy it block by block into the schema."""
    refuse_overwrite(out, [src])
    info = features.validate_features(src)
    if frames is not None and frames != info.frames:
        log.warning(
            "%s: keeping the file's own %d frames (frames=%d applies to audio sources)", src, info.frames, frames
        )
    own = info.attrs.get("frontend", "unknown")
    if flavour is not None and own != flavour:
        log.warning("%s: features were made with front end %r; frontend=%r applies to audio sources", src, own, flavour)
    names, valence, arousal = features.read_labels(src)
    attrs: dict[str, Any] = {k: info.attrs[k] for k in FRONTEND_ATTRS if k in info.attrs}
    attrs.update(
        source="features_h5",
        frontend=own,
        frames=info.frames,
        emosteer_version=__version__,
        source_path=str(src),
        source_attrs=json.dumps(info.attrs, sort_keys=True, default=str),
    )
    return _write(
        out, info.n, info.frames, _progress(_copied_rows(src, names, valence, arousal), info.n, "copy", progress), attrs
    )


def _copied_rows(src: Path, names: list[str], valence: np.ndarray, arousal: np.ndarray) -> Iterator[features.Row]:
    """Rows of an existing file, read a block at a time."""
    i = 0
    for block in features.iter_feature_blocks(src):
        for x in block:
            yield names[i], x, float(valence[i]), float(arousal[i])
            i += 1


def clips(path: Path | None, frames: int, synth: SynthConfig | None) -> tuple[int, int, str]:
    """The file's rows, at its own frames."""
    info = features.read_info(path)
    return info.n, info.frames, f"rows of {path}"


SOURCE = Source("features_h5", "file", "a features HDF5 file", survey, featurize, clips)
