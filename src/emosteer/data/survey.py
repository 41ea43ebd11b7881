"""What a data source holds, from rating files, audio headers and labels, before any featurizing.

Clips found, rated, used and skipped (and why), sample rates, channels, durations, the ratings'
range, and one warning per clip whose features will be degraded: a sample rate below 2 x FMAX (its
top mel bands hold no signal) or a length below the window (`frames`; the rest is padding).
`data.drop` leaves those clips out. Audio is resampled to SAMPLE_RATE and stereo is averaged to
mono (`frontend.load_audio`); the survey says so.

Each source's module surveys it (`emosteer.data.sources`: `sources.survey` is the entry point);
this module holds what every survey shares. One survey serves four readers: `check_params` (a
data path whose survey fails is refused before any stage removes an output), the data stage
(featurizes exactly `Survey.clips` and writes `Survey.facts` to metrics/data.json), `emosteer data
check PATH` (prints it; no run) and the report (its "Data" section).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emosteer.constants import DROP_REASONS, HOP_LENGTH, SAMPLE_RATE, UNIT_RANGE
from emosteer.data import emosoundscapes
from emosteer.errors import EmosteerError

PROGRESS_FROM = 200  # files: probing headers of fewer takes well under a second


def window_seconds(frames: int) -> float:
    """Audio a window of `frames` frames covers: (frames - 1) hops (601 frames: 6.00 s)."""
    return (frames - 1) * HOP_LENGTH / SAMPLE_RATE


@dataclass(frozen=True)
class Survey:
    """The clips to featurize (Emo-Soundscapes, after `drop`) and the facts of metrics/data.json."""

    facts: dict[str, Any]
    clips: list[emosoundscapes.Clip] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)  # files read (rating files, audio)
    names: list[str] = field(default_factory=list)  # the clips' names, as the features will hold them

    @property
    def warnings(self) -> list[str]:
        return list(self.facts["warnings"])


def check_drop(drop: Sequence[str]) -> None:
    """data.drop holds known reasons only (one line naming the first unknown one)."""
    for i, reason in enumerate(drop):
        if reason not in DROP_REASONS:
            raise EmosteerError(f"data.drop: unknown reason {reason!r} at index {i}; expected {DROP_REASONS}")


def _facts(source: str, path: Path | None, frames: int, **rest: Any) -> dict[str, Any]:
    """The keys every source's facts carry, in one order (metrics/data.json)."""
    base: dict[str, Any] = {
        "source": source,
        "path": None if path is None else str(path),
        "n_clips": 0,
        "n_rated": 0,
        "skipped": {},
        "skipped_files": {},
        "sample_rates": {},
        "channels": {},
        "duration_seconds": None,
        "rating_range": None,
        "rating_scale": list(UNIT_RANGE),
        "frames": frames,
        "window_seconds": window_seconds(frames),
        "resampled_to": SAMPLE_RATE,
        "mono": "channels averaged",
        "drop": [],
        "warnings": [],
    }
    base.update(rest)
    return base


def _range(values: Iterable[float]) -> list[float]:
    arr = np.asarray(list(values), dtype=np.float64)
    return [float(arr.min()), float(arr.max())]


def _durations(seconds: Sequence[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    return {"min": float(np.min(seconds)), "median": float(np.median(seconds)), "max": float(np.max(seconds))}


def _counts(values: Iterable[int]) -> dict[str, int]:
    """{value: count} with keys as strings (JSON), in increasing numeric order."""
    return {str(k): n for k, n in sorted(Counter(values).items())}
