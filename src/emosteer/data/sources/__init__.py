"""The data sources: one module each, one entry here, and the two entry points that take a source by
its name: `survey` (what it holds) and `build_features` (its features HDF5).

A source (`base.Source`) says what `data.path` must name for it and which `data.*` keys apply to it
alone, and gives its survey (what it holds: `emosteer data check`, check_params,
metrics/data.json), its featurizer (the data stage, `emosteer featurize`) and its clip count
before featurizing (the cost estimate). `survey`, `build_features`, `jobs.inputs` and `jobs.cost`
look a source up here by params' `data.source`; nothing else dispatches on its name.
docs/architecture.md, "How to add a data source".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from emosteer.constants import HOP_LENGTH, MAX_FRAMES, SAMPLE_RATE, UNIT_RANGE
from emosteer.data import features
from emosteer.data.sources import emo_soundscapes, features_h5, synthetic
from emosteer.data.sources.base import Source
from emosteer.data.survey import Survey, check_drop
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError

SOURCES: dict[str, Source] = {s.SOURCE.name: s.SOURCE for s in (synthetic, features_h5, emo_soundscapes)}
OPTION_DEFAULTS = {"rating_range": UNIT_RANGE, "drop": ()}  # data.* keys a source may own, unset


def get(name: str) -> Source:
    """The source params' `data.source` names; one line for an unknown name."""
    if name not in SOURCES:
        raise EmosteerError(f"data.source: unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    return SOURCES[name]


def mismatch(data: Any) -> str | None:
    """What is wrong with params' `data` section for its source's entry, or None: an unknown source,
    a path missing where the source reads one or given where it reads none, or a source-specific
    key set for another source. params.yaml's schema (schema.params) refuses the file with it."""
    if data.source not in SOURCES:
        return f"data.source: unknown source {data.source!r}; expected one of {', '.join(SOURCES)}"
    source = SOURCES[data.source]
    if source.path is not None and data.path is None:
        return f"data.path: a path is required for source {source.name}"
    if source.path is None and data.path is not None:
        return (
            f"data.path: source {source.name} reads no path (got {data.path!r}); "
            "set data.path: null, or data.source to the path's kind"
        )
    for key, unset in OPTION_DEFAULTS.items():
        if key not in source.options and tuple(getattr(data, key)) != tuple(unset):
            owners = [s.name for s in SOURCES.values() if key in s.options]
            return f"data.{key}: applies to source {', '.join(owners)} only (source is {source.name})"
    return None


def survey(
    source: str,
    path: str | Path | None,
    frames: int,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: Sequence[str] = (),
    synth: SynthConfig | None = None,
    progress: bool = False,
) -> Survey:
    """Survey one source as the data stage would read it (`frames`: the clip window)."""
    check_drop(drop)
    return get(source).survey(path, frames, rating_range, tuple(drop), synth, progress)


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
    surveyed: Survey | None = None,
) -> features.FeaturesInfo:
    """Write the features HDF5 `out` from one source and return what it holds.

    `source` is an entry of `emosteer.data.sources`: "synthetic" (path unused; synth_cfg or the
    defaults), "emo_soundscapes" (a raw folder) or "features_h5" (an existing file, validated and
    normalised to the schema), each featurized by its module. `frontend` and
    `frames` apply to the audio sources only: a features file keeps its own T and front end.
    frontend None means DEFAULT_FRONTEND; frames None means the natural length: one synthetic
    clip (or segment), or 6 s for Emo-Soundscapes. `rating_range` and `drop` apply to
    Emo-Soundscapes (`survey`); `surveyed` is that survey if the caller already made it.
    """
    if source not in SOURCES:
        raise EmosteerError(f"featurize: unknown source {source!r}; expected one of {tuple(SOURCES)}")
    if frames is not None and not 1 <= frames <= MAX_FRAMES:
        raise EmosteerError(
            f"featurize: frames must be in [1, {MAX_FRAMES}] ({MAX_FRAMES - 1} hops: "
            f"{(MAX_FRAMES - 1) * HOP_LENGTH / SAMPLE_RATE:g} s of audio), got {frames}"
        )
    out = Path(out)
    # One BLAS thread: the mel projection is a tiny matmul per clip, and a multi-threaded OpenBLAS
    # on a busy 2-core machine turned it from 0.1 ms into 20+ ms (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return SOURCES[source].featurize(path, out, frontend, frames, synth_cfg, progress, rating_range, drop, surveyed)
