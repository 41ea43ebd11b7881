"""params.yaml `data`: where the clips come from and what is done with them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, field_validator, model_validator

from emosteer.constants import (
    DROP_REASONS,
    FRONTENDS,
    MAX_CLIP_SECONDS,
    MAX_CLIPS,
    MAX_FRAMES,
    MAX_SEGMENTS,
    MIN_CLIP_SECONDS,
    MIN_FRAMES,
    UNIT_RANGE,
)
from emosteer.schema.base import _existing, _finite_number, _literal, _Section


class Synthetic(_Section):
    n_clips: int = Field(ge=4, le=MAX_CLIPS)
    clip_seconds: float = Field(ge=MIN_CLIP_SECONDS, le=MAX_CLIP_SECONDS, allow_inf_nan=False)
    seed: int = Field(ge=0)
    segments: int = Field(ge=0, le=MAX_SEGMENTS)
    rank_labels: bool

    @model_validator(mode="after")
    def _items_bounded(self) -> Synthetic:
        items = self.n_clips * max(1, self.segments)
        if items > MAX_CLIPS:
            raise ValueError(
                f"n_clips x segments = {self.n_clips} x {self.segments} = {items} rows, more than {MAX_CLIPS}"
            )
        return self


def _rating_range(value: Any) -> tuple[float, float]:
    """[lo, hi]: two finite numbers, lo < hi (the scale the rating files use)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("expected [lo, hi]: the two ends of the rating scale, e.g. [1, 9]")
    lo, hi = (_finite_number(v, f"{which} of [lo, hi]: ") for which, v in zip(("lo", "hi"), value))
    if not lo < hi:
        raise ValueError(f"expected lo < hi, got [{lo:g}, {hi:g}]")
    return lo, hi


RatingRange = Annotated[tuple[float, float], PlainValidator(_rating_range)]


class Data(_Section):
    # An entry of emosteer.data.sources: check_params checks the name, and data.path and the
    # source-specific keys against its entry (sources.check), since the schema does not import
    # the code that reads data.
    source: str
    path: str | None = None
    frontend: _literal(FRONTENDS)
    frames: int = Field(ge=MIN_FRAMES, le=MAX_FRAMES)
    # The scale of the ratings in Valence.csv / Arousal.csv, mapped linearly onto [-1, 1].
    rating_range: RatingRange = UNIT_RANGE
    # Clips left out (emo_soundscapes): low_rate (sample rate < 2 x FMAX), short (< the window).
    drop: list[_literal(DROP_REASONS)] = Field(default_factory=list)
    # A CSV `clip,group`: clips of one group stay on one side of every split (docs/data.md).
    groups: str | None = None
    synthetic: Synthetic

    _path_exists = field_validator("path", "groups")(_existing)

    @field_validator("drop")
    @classmethod
    def _drop_once(cls, drop: list[str]) -> list[str]:
        for i, reason in enumerate(drop):
            if reason in drop[:i]:
                raise ValueError(f"{reason!r} repeated at index {i}")
        return drop
