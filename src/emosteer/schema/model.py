"""params.yaml `model` and `train`: the network and its checkpoints; `train` is the model room's own
settings class (emosteer.model.config.Train), which training reads as it is."""

from __future__ import annotations

from pydantic import Field, field_validator

from emosteer.constants import MAX_FORWARD_PASSES
from emosteer.model.config import Train  # noqa: F401  (the `train` section)
from emosteer.schema.base import _existing, _Section


class Model(_Section):
    panns_checkpoint: str | None = None
    trained_checkpoint: str | None = None
    forward_passes: int = Field(ge=1, le=MAX_FORWARD_PASSES)
    freeze_backbone: bool
    train_bn0: bool
    train_fc1: bool
    spec_augment: bool

    _paths_exist = field_validator("panns_checkpoint", "trained_checkpoint")(_existing)
