"""`params.yaml` as a schema: one pydantic model per section, unknown keys refused at every level.

DVC's `-S key=value` silently adds a mistyped key (treeverse/dvc#5477), so every model forbids
extra keys, the top level included (`gird: 7` is an error, not a new param). The schema is the one
source of defaults and limits: the stages, the CLI and the library's config objects take their
values from it. A bad file is one line naming the file, the key path and the bad value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError,
                      field_validator, model_validator)

from emosteer.constants import (AMPS, DATA_SOURCES, DEVICES, DROP_REASONS, FALLBACKS, FRONTENDS,
                                LOSS_PASSES, MIN_FRAMES, SPLIT_MODES, UNIT_RANGE)
from emosteer.errors import EmosteerError
from emosteer.strength import Value as StrengthValue, label as strength_label, scales as strength_scales

PARAMS_FILE = Path("params.yaml")

# Upper bounds: generous, so that a typo (an extra zero, -S n_boot=1e9) is one line from
# check_params before any stage removes an output, instead of hours of work or a machine out of
# memory. What each one costs is in the README's params table.
MAX_SEEDS = 100  # each seed trains its own model
MAX_SEED = 2**32 - 2  # training draws from numpy RandomState(seed) and RandomState(seed + 1)
MAX_GRID = 100  # bins per axis: 10 000 bins, a 10 MB signal table
MAX_WORKERS = 64  # each worker is a process of about 300 MiB before it reads any data (measured)
MAX_THREADS = 256
MAX_N_BOOT = 100_000
MAX_RESAMPLES = 2_000_000  # seeds x n_boot: each seed's n_boot x clips indices (int64) are held at once


def _finite_number(value: Any, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}Input should be a valid number")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{what}Input should be a finite number")
    return number


def _strength(value: Any) -> StrengthValue:
    """A finite number of either sign, or [neg, pos]: two finite numbers (a tuple once read)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"a strength pair is [neg, pos]: exactly two numbers, not {len(value)}")
        return (_finite_number(value[0], "neg of [neg, pos]: "),
                _finite_number(value[1], "pos of [neg, pos]: "))
    return _finite_number(value)


# Limits shared with the command line (`emosteer predict --strength/--alpha`): one definition.
# A strength is one number s (negative reverses the modulation) or a pair [neg, pos] that scales the
# ModBlocks' neg and pos scales apart (emosteer.strength); it is read as a float or a tuple.
Strength = Annotated[float | tuple[float, float], PlainValidator(_strength)]
Alpha = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
Threads = Annotated[int, Field(ge=1, le=MAX_THREADS)]


def _literal(choices: tuple[str, ...]) -> Any:
    return Literal[choices]  # type: ignore[valid-type]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _existing(value: str | None) -> str | None:
    """An empty or null path means none; a given one must exist."""
    if value in (None, ""):
        return None
    if not Path(value).exists():
        raise ValueError(f"path does not exist: {value}")
    return value


class Synthetic(_Section):
    n_clips: int = Field(ge=4)
    clip_seconds: float = Field(gt=0.0, allow_inf_nan=False)
    seed: int = Field(ge=0)
    segments: int = Field(ge=0)
    rank_labels: bool


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
    source: _literal(DATA_SOURCES)
    path: str | None = None
    frontend: _literal(FRONTENDS)
    frames: int = Field(ge=MIN_FRAMES)
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

    @model_validator(mode="after")
    def _path_for_external_source(self) -> Data:
        if self.source != "synthetic" and self.path is None:
            raise ValueError(f"data.path: a path is required for source {self.source}")
        if self.source == "synthetic" and self.path is not None:
            raise ValueError(f"data.path: source synthetic reads no path (got {self.path!r}); "
                             "set data.path: null, or data.source to the path's kind")
        if self.source != "emo_soundscapes":
            for key, value, default in (("rating_range", self.rating_range, UNIT_RANGE),
                                        ("drop", self.drop, [])):
                if value != default:
                    raise ValueError(f"data.{key}: applies to source emo_soundscapes only "
                                     f"(source is {self.source})")
        return self


class Split(_Section):
    mode: _literal(SPLIT_MODES)
    val_fraction: Fraction
    dev_fraction: Fraction
    stratify: bool


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


class Steering(_Section):
    coarse_grid: int = Field(ge=2, le=MAX_GRID)
    strength: Strength | Literal["dev"]
    strengths: list[Strength] = Field(min_length=1)
    alpha: Alpha
    first_pass: bool
    min_count: int = Field(ge=1)
    fallback: _literal(FALLBACKS)

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


class Evaluate(_Section):
    batch_size: int = Field(ge=1)
    n_boot: int = Field(ge=100, le=MAX_N_BOOT)
    bilinear: bool


class Steerability(_Section):
    strength: Strength


class Params(_Section):
    """The whole params.yaml."""

    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(min_length=1, max_length=MAX_SEEDS)
    grid: int = Field(ge=2, le=MAX_GRID)
    workers: int = Field(ge=1, le=MAX_WORKERS)
    threads: Threads
    device: _literal(DEVICES)
    amp: _literal(AMPS)
    data: Data
    split: Split
    model: Model
    train: Train
    steering: Steering
    evaluate: Evaluate
    steerability: Steerability

    @model_validator(mode="after")
    def _resamples_fit(self) -> Params:
        total = len(self.seeds) * self.evaluate.n_boot
        if total > MAX_RESAMPLES:
            raise ValueError(f"seeds x evaluate.n_boot = {len(self.seeds)} x {self.evaluate.n_boot} = {total} "
                             f"resamples, more than {MAX_RESAMPLES} (each seed's n_boot x clips indices are "
                             "held at once: 8 bytes each)")
        return self

    @model_validator(mode="after")
    def _cache_needs_a_fixed_pass_one(self) -> Params:
        m = self.model
        if self.train.cache_first_pass and (not m.freeze_backbone or m.train_bn0 or m.spec_augment):
            raise ValueError("train.cache_first_pass needs model.freeze_backbone: true, "
                             "model.train_bn0: false and model.spec_augment: false (pass 1 must be "
                             "a fixed function of the clip)")
        if self.train.heads == "ridge" and (not m.freeze_backbone or m.train_bn0 or m.spec_augment):
            raise ValueError("train.heads: ridge needs model.freeze_backbone: true, model.train_bn0: "
                             "false and model.spec_augment: false (the ridge is fitted on pass 1, "
                             "which must be a fixed function of the clip)")
        return self

    @model_validator(mode="after")
    def _one_split_is_one_seed(self) -> Params:
        if self.split.mode == "original" and len(self.seeds) > 1:
            raise ValueError(
                f"split.mode: original is one fixed split, so {len(self.seeds)} seeds would all "
                "validate on the same clips and pooling them as independent splits overstates the "
                "evidence; use seeds: [0] (one split: CI from its clips, no verdict) or split.mode: "
                "group (docs/statistics.md)")
        return self

    @field_validator("amp", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        """YAML 1.1 (PyYAML) reads a bare `off` as false; DVC's YAML 1.2 reads it as "off"."""
        return "off" if value is False else value

    @field_validator("seeds")
    @classmethod
    def _unique(cls, seeds: list[int]) -> list[int]:
        seen = set()
        for i, s in enumerate(seeds):
            if s in seen:
                raise ValueError(f"seed {s} repeated at index {i}")
            seen.add(s)
        return seeds


def _where(loc: tuple[int | str, ...]) -> str:
    """('steering', 'strengths', 1) -> 'steering.strengths[1]' (union branch names dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("float", "int", "str", "none", "literal['dev']", "constrained-float") or (
                part.startswith(("literal[", "function-after", "function-plain", "constrained"))):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _message(file: Path | str, exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = _where(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{file}: {where}: unknown key"
    if err["type"] == "missing":
        return f"{file}: {where}: missing"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return f"{file}: {where}: {msg} (got {shown})" if where else f"{file}: {msg}"


def read_raw(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """The raw mapping; a missing or malformed file is one clear error."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise EmosteerError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise EmosteerError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise EmosteerError(f"{path}: expected a mapping at the top level")
    return raw


def validate(raw: dict[str, Any], file: Path | str = PARAMS_FILE) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise EmosteerError(_message(file, exc)) from None


def load(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate the whole params file."""
    return validate(read_raw(path), path)


def check_value(kind: Any, value: Any, field: str) -> Any:
    """Validate one value against a schema type (e.g. `Strength` for `--strength`): one line."""
    try:
        return TypeAdapter(kind).validate_python(value, strict=False)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise EmosteerError(f"{field}: {err['msg'].removeprefix('Value error, ')} (got {value!r})") from None
