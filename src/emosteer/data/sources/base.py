"""What a data source is: one entry of the registry (emosteer.data.sources)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emosteer.data.features import FeaturesInfo
    from emosteer.data.survey import Survey
    from emosteer.data.synth import SynthConfig


@dataclass(frozen=True)
class Source:
    """One way data enters emosteer: what `data.path` must name for it, the `data.*` keys that apply
    to it alone, and its three functions (each given every option; a source ignores the others'):

    - survey(path, frames, rating_range, drop, synth, progress) -> Survey: what it holds, before any
      featurizing (`emosteer data check`, check_params, metrics/data.json);
    - featurize(path, out, frontend, frames, synth, progress, rating_range, drop, surveyed) ->
      FeaturesInfo: the features HDF5 (the data stage, `emosteer featurize`);
    - clips(path, frames, synth) -> (clips, frames, how they were counted): its size without
      featurizing (the cost estimate).
    """

    name: str  # params' data.source
    path: str | None  # "file" | "folder": what data.path must name; None: the source reads no path
    what: str  # what the path must be, as messages say it
    survey: Callable[[Path | None, int, tuple[float, float], tuple[str, ...], SynthConfig | None, bool], Survey]
    featurize: Callable[..., FeaturesInfo]
    clips: Callable[[Path | None, int, SynthConfig | None], tuple[int, int, str]]
    options: tuple[str, ...] = ()  # data.* keys that apply to this source only (rating_range, drop)
    # (root, surveyed clips) -> the clips that are mixes of other clips of the set, which data.groups
    # should keep with their sources (`emosteer data check` warns without it); None: it cannot tell
    mixed: Callable[[Path, list], list] | None = None
