"""`params.yaml` as a schema: the whole file, assembled from one module per section
(`emosteer.schema`), with the rules that tie sections together.

check_params and the commands validate the whole file here; a stage validates only the sections it
reads (`schema.base.load`), so that its DVC deps list only those section files. Every model forbids
extra keys, the top level included. A bad file is one line naming the file, the key path and the
bad value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from emosteer.data import sources  # the data sources' entries (no stage's own schema imports them)
from emosteer.errors import EmosteerError
from emosteer.schema import base
from emosteer.schema.base import (  # noqa: F401
    MAX_GRID,
    MAX_N_BOOT,
    MAX_RESAMPLES,
    MAX_SEED,
    MAX_SEEDS,
    MAX_THREADS,
    MAX_WORKERS,
    PARAMS_FILE,
    Alpha,
    Fraction,
    Stage,
    Strength,
    Threads,
    check_value,
    read_raw,
)
from emosteer.schema.data import Data, Synthetic  # noqa: F401
from emosteer.schema.evaluate import Evaluate, Steerability
from emosteer.schema.model import Model, Train
from emosteer.schema.split import Split
from emosteer.schema.steering import Steering


class Params(Stage):
    """The whole params.yaml."""

    data: Data
    split: Split
    model: Model
    train: Train
    steering: Steering
    evaluate: Evaluate
    steerability: Steerability

    @model_validator(mode="after")
    def _data_fits_its_source(self) -> Params:
        problem = sources.mismatch(self.data)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _each_grid_once(self) -> Params:
        if self.grid in self.steering.grids:
            raise ValueError(
                f"grid {self.grid} is also in steering.grids: each grid is evaluated once "
                "(its outputs are named by it, e.g. metrics/pooled/"
                f"{self.grid}x{self.grid}/)"
            )
        return self

    @model_validator(mode="after")
    def _resamples_fit(self) -> Params:
        total = len(self.seeds) * self.evaluate.n_boot
        if total > MAX_RESAMPLES:
            raise ValueError(
                f"seeds x evaluate.n_boot = {len(self.seeds)} x {self.evaluate.n_boot} = {total} "
                f"resamples, more than {MAX_RESAMPLES} (each seed's n_boot x clips indices are "
                "held at once: 8 bytes each)"
            )
        return self

    @model_validator(mode="after")
    def _cache_needs_a_fixed_pass_one(self) -> Params:
        m = self.model
        if self.train.cache_first_pass and (not m.freeze_backbone or m.train_bn0 or m.spec_augment):
            raise ValueError(
                "train.cache_first_pass needs model.freeze_backbone: true, "
                "model.train_bn0: false and model.spec_augment: false (pass 1 must be "
                "a fixed function of the clip)"
            )
        if self.train.closed_form and (not m.freeze_backbone or m.train_bn0 or m.spec_augment):
            raise ValueError(
                f"train.heads: {self.train.heads} needs model.freeze_backbone: true, model.train_bn0: "
                "false and model.spec_augment: false (the read-out is fitted on pass 1, "
                "which must be a fixed function of the clip)"
            )
        return self

    @model_validator(mode="after")
    def _one_split_is_one_seed(self) -> Params:
        if self.split.mode == "original" and len(self.seeds) > 1:
            raise ValueError(
                f"split.mode: original is one fixed split, so {len(self.seeds)} seeds would all "
                "validate on the same clips and pooling them as independent splits overstates the "
                "evidence; use seeds: [0] (one split: CI from its clips, no verdict) or split.mode: "
                "group (docs/statistics.md)"
            )
        return self


def validate(raw: dict[str, Any], file: Path | str = PARAMS_FILE) -> Params:
    """The whole file; an unknown top-level key is refused too."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise EmosteerError(base.message(file, exc, Params)) from None


def load(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate the whole params file."""
    return validate(read_raw(path), path)
