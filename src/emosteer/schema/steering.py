"""params.yaml `steering`: the grids, strengths and policies of the signal tables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from emosteer.constants import FALLBACKS, MAX_STRENGTHS
from emosteer.schema.base import MAX_GRID, Alpha, Strength, Weight, _literal, _Section
from emosteer.strength import Value as StrengthValue
from emosteer.strength import label as strength_label
from emosteer.strength import scales as strength_scales


class Steering(_Section):
    # The grids evaluated beside the top-level `grid`, bins per axis; the first is the coarse grid
    # (the split's strata, the baseline's table, the steerability probe): emosteer.jobs.grids.
    grids: list[Annotated[int, Field(ge=2, le=MAX_GRID)]] = Field(min_length=1)
    strength: Strength | Literal["dev"]
    strengths: list[Strength] = Field(min_length=1, max_length=MAX_STRENGTHS)
    alpha: Alpha
    first_pass: bool
    min_count: int = Field(ge=1)
    fallback: _literal(FALLBACKS)
    # Fusion twins (evaluation.fusion): the unsteered prediction moved a share w of the way to the
    # point a variant steers toward; w is picked from these on the dev clips as the strength is.
    fusion_weights: list[Weight] = Field(min_length=1, max_length=MAX_STRENGTHS)

    @field_validator("grids")
    @classmethod
    def _grids_once(cls, grids: list[int]) -> list[int]:
        """Each grid once: its outputs are named by its size."""
        for i, g in enumerate(grids):
            if g in grids[:i]:
                raise ValueError(f"grid {g} repeated at index {i}")
        return grids

    @field_validator("strengths")
    @classmethod
    def _distinct(cls, strengths: list[StrengthValue]) -> list[StrengthValue]:
        """Results are keyed by strength: each once (s and [s, s] are the same modulation)."""
        seen: dict[tuple[float, float], int] = {}
        for i, s in enumerate(strengths):
            first = seen.setdefault(strength_scales(s), i)
            if first != i:
                raise ValueError(
                    f"strength {strength_label(s)} at index {i} repeats "
                    f"{strength_label(strengths[first])} at index {first}"
                )
        return strengths

    @field_validator("fusion_weights")
    @classmethod
    def _distinct_weights(cls, weights: list[float]) -> list[float]:
        """Fused predictions are keyed by weight: each once."""
        for i, w in enumerate(weights):
            if w in weights[:i]:
                raise ValueError(f"weight {w:g} at index {i} repeats index {weights.index(w)}")
        return weights
