"""params.yaml `model` and `train`: the network, its checkpoints and how the LRM is trained."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from emosteer.constants import LOSS_PASSES
from emosteer.schema.base import _existing, _literal, _Section


class Model(_Section):
    panns_checkpoint: str | None = None
    trained_checkpoint: str | None = None
    forward_passes: int = Field(ge=1)
    freeze_backbone: bool
    train_bn0: bool
    train_fc1: bool
    spec_augment: bool

    _paths_exist = field_validator("panns_checkpoint", "trained_checkpoint")(_existing)


class Train(_Section):
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=2)
    learning_rate: float = Field(gt=0.0, allow_inf_nan=False)
    amsgrad: bool
    mixup: bool
    loss_passes: _literal(LOSS_PASSES)
    cache_first_pass: bool
    head_epochs: int = Field(ge=0)
    lr_schedule: Literal["constant", "cosine"]
    warmup_steps: int = Field(ge=0)
    lrm_zero_init: bool
    heads: Literal["ridge", "trained"]
    ridge_lambda: float = Field(gt=0.0, allow_inf_nan=False)
    optimizer: Literal["adam", "sgd"]
    momentum: float = Field(ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _head_epochs_need_the_cache(self) -> Train:
        if self.head_epochs > 0 and not self.cache_first_pass:
            raise ValueError("train.head_epochs > 0 needs train.cache_first_pass: true")
        if self.head_epochs > 0 and self.heads == "ridge":
            raise ValueError("train.head_epochs > 0 trains the heads; train.heads: ridge sets them in "
                             "closed form (set head_epochs: 0, or heads: trained)")
        if self.cache_first_pass and self.mixup:
            raise ValueError("train.cache_first_pass needs train.mixup: false (a mixed clip has no cached pass 1)")
        return self
