"""The train settings: params.yaml's `train` section, one pydantic model that training reads
directly (emosteer.schema.model takes it as the section). Torch-free, so checking params stays fast.

The bounds and the rules between fields are here once; `settings(**fields)` builds one from plain
values for the library and benches, turning a bad value into one EmosteerError line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emosteer.constants import CLOSED_FORM_HEADS, HEADS, LOSS_PASSES, MAX_BATCH, MAX_EPOCHS
from emosteer.errors import EmosteerError


class Train(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # The budget: at most this many epochs. With `patience`, training stops once the dev loss has
    # not improved for `patience` epochs and keeps the epoch of the lowest dev loss (epoch 0, the
    # start, included); without (null), it runs every epoch and keeps the last.
    epochs: int = Field(ge=1, le=MAX_EPOCHS)
    patience: int | None = Field(ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(ge=2, le=MAX_BATCH)
    learning_rate: float = Field(gt=0.0, allow_inf_nan=False)
    amsgrad: bool
    mixup: bool
    loss_passes: Literal[LOSS_PASSES]  # type: ignore[valid-type]
    # Pass 1 of a frozen backbone (bn0 frozen too) computed once per clip, without block dropout,
    # and reused every step; needs mixup off. False: every step runs every pass (the original).
    cache_first_pass: bool
    # Epochs fitting fc1 and the heads on the cached pass 1 alone (the feed-forward net) before the
    # full training; about free, as they run no conv. Needs cache_first_pass.
    head_epochs: int = Field(ge=0, le=MAX_EPOCHS)
    lr_schedule: Literal["constant", "cosine"]  # cosine: from learning_rate to 0 over all steps
    warmup_steps: int = Field(ge=0)  # linear warm-up from learning_rate / warmup_steps (0: none)
    # Zero every ModBlock's output layer (modulation weight and bias) before training, so pass 2
    # starts equal to pass 1 (m = 0: X' = ReLU(X) = X) and the LRM grows from there.
    lrm_zero_init: bool
    # ridge: fc1 and both heads set in closed form from pass 1 (emosteer.model.readout) and kept
    # fixed, embedding dropout off; only the LRM trains; the 128-d is a population code of the
    # estimate. ridge_pca: the same, but the 128-d is the estimate and 127 principal components of
    # the embedding. trained: they train with the LRM (the original), after `head_epochs` on the
    # cached pass 1.
    heads: Literal[HEADS]  # type: ignore[valid-type]
    ridge_lambda: float = Field(gt=0.0, allow_inf_nan=False)
    optimizer: Literal["adam", "sgd"]  # adam (with `amsgrad`) | sgd with `momentum`
    momentum: float = Field(ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _head_epochs_need_the_cache(self) -> Train:
        if self.head_epochs > 0 and not self.cache_first_pass:
            raise ValueError("train.head_epochs > 0 needs train.cache_first_pass: true")
        if self.head_epochs > 0 and self.closed_form:
            raise ValueError(
                f"train.head_epochs > 0 trains the heads; train.heads: {self.heads} sets them "
                "in closed form (set head_epochs: 0, or heads: trained)"
            )
        if self.cache_first_pass and self.mixup:
            raise ValueError("train.cache_first_pass needs train.mixup: false (a mixed clip has no cached pass 1)")
        return self

    @property
    def closed_form(self) -> bool:
        """fc1 and the heads are set in closed form from pass 1 (not gradient-trained)."""
        return self.heads in CLOSED_FORM_HEADS


def settings(**fields: Any) -> Train:
    """A Train from plain values; a bad one is one line naming the field."""
    try:
        return Train(**fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise EmosteerError(f"train.{where}: {msg} (got {err.get('input')!r})" if where else msg) from None
