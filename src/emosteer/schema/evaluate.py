"""params.yaml `evaluate` and `steerability`: the bootstrap and the steerability probe."""

from __future__ import annotations

from pydantic import Field

from emosteer.constants import MAX_BATCH
from emosteer.schema.base import MAX_N_BOOT, Strength, _Section


class Evaluate(_Section):
    batch_size: int = Field(ge=1, le=MAX_BATCH)
    n_boot: int = Field(ge=100, le=MAX_N_BOOT)
    bilinear: bool


class Steerability(_Section):
    strength: Strength
