"""params.yaml `steering`: the grids, strengths and policies of the signal tables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from emosteer.constants import FALLBACKS
from emosteer.schema.base import MAX_GRID, Alpha, Strength, Weight, _literal, _Section
from emosteer.strength import Value as StrengthValue, label as strength_label, scales as strength_scales


class Steering(_Section):
    coarse_grid: int = Field(ge=2, le=MAX_GRID)
    strength: Strength | Literal["dev"]
    strengths: list[Strength] = Field(min_length=1)
    alpha: Alpha
    first_pass: bool
    min_count: int = Field(ge=1)
    fallback: _literal(FALLBACKS)
    # Fusion twins (evaluation.fusion): the unsteered prediction moved a share w of the way to the
    # point a variant steers toward; w is picked from these on the dev clips as the strength is.
    fusion_weights: list[Weight] = Field(min_length=1)

    @field_validator("strengths")
    @classmethod
    def _distinct(cls, strengths: list[StrengthValue]) -> list[StrengthValue]:
        """Results are keyed by strength: each once (s and [s, s] are the same modulation)."""
        seen: dict[tuple[float, float], int] = {}
        for i, s in enumerate(strengths):
            first = seen.setdefault(strength_scales(s), i)
            if first != i:
                raise ValueError(f"strength {strength_label(s)} at index {i} repeats "
                                 f"{strength_label(strengths[first])} at index {first}")
        return strengths

    @field_validator("fusion_weights")
    @classmethod
    def _distinct_weights(cls, weights: list[float]) -> list[float]:
        """Fused predictions are keyed by weight: each once."""
        for i, w in enumerate(weights):
            if w in weights[:i]:
                raise ValueError(f"weight {w:g} at index {i} repeats index {weights.index(w)}")
        return weights
