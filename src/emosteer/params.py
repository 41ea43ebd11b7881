"""Typed, validated views of `params.yaml`, one per stage section.

DVC's `-S key=value` silently adds a mistyped key (treeverse/dvc#5477), so every section rejects
keys it does not know. Each stage reads only the sections it declares in dvc.yaml, so a bad value
stops exactly the stages that depend on it, with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from emosteer.errors import EmosteerError

PARAMS_FILE = "params.yaml"

DATA_SOURCES = ("synthetic", "features_h5", "emo_soundscapes")
FRONTENDS = ("original", "panns")
SPLIT_MODES = ("group", "original")
LOSS_PASSES = ("last", "mean")
FALLBACKS = ("nearest",)


@dataclass(frozen=True)
class SyntheticParams:
    n_clips: int
    clip_seconds: float
    seed: int
    segments: int
    rank_labels: bool


@dataclass(frozen=True)
class DataParams:
    source: str
    path: str | None
    frontend: str
    frames: int
    synthetic: SyntheticParams


@dataclass(frozen=True)
class SplitParams:
    mode: str
    val_fraction: float
    dev_fraction: float
    stratify: bool


@dataclass(frozen=True)
class ModelParams:
    panns_checkpoint: str | None
    trained_checkpoint: str | None
    forward_passes: int
    freeze_backbone: bool
    train_bn0: bool
    train_fc1: bool


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    learning_rate: float
    mixup: bool
    loss_passes: str


@dataclass(frozen=True)
class SteeringParams:
    coarse_grid: int
    strength: float | str  # a number, or "dev": pick from `strengths` on the dev split
    strengths: tuple[float, ...]
    alpha: float
    first_pass: bool
    min_count: int
    fallback: str


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    n_boot: int
    bilinear: bool


def load(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The raw params mapping; a missing or malformed file is one clear error."""
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


class _Reader:
    """Reads one section with exact key checking; errors name file and dotted key."""

    def __init__(self, raw: dict[str, Any], file: Path, prefix: str):
        self.raw, self.file, self.prefix = raw, file, prefix

    def fail(self, key: str, problem: str) -> EmosteerError:
        return EmosteerError(f"{self.file}: {self.prefix}{key}: {problem}")

    def check_keys(self, fields: tuple[str, ...]) -> None:
        unknown = sorted(set(self.raw) - set(fields))
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(fields)})")
        missing = [f for f in fields if f not in self.raw]
        if missing:
            raise self.fail(missing[0], "missing")

    def integer(self, key: str, minimum: int | None = None) -> int:
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, low: float | None = None, high: float | None = None,
               open_low: bool = False, open_high: bool = False) -> float:
        return _check_number(self, key, self.raw[key], low, high, open_low, open_high)

    def boolean(self, key: str) -> bool:
        value = self.raw[key]
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw[key]
        if value not in choices:
            raise self.fail(key, f"unknown value {value!r} (expected one of: {', '.join(choices)})")
        return value

    def existing_path(self, key: str, required: bool) -> str | None:
        value = self.raw[key]
        if value is None or value == "":
            if required:
                raise self.fail(key, "a path is required here")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"expected a path, got {value!r}")
        if not Path(value).exists():
            raise self.fail(key, f"path does not exist: {value}")
        return value

    def sub(self, key: str) -> "_Reader":
        value = self.raw[key]
        if not isinstance(value, dict):
            raise self.fail(key, "expected a mapping")
        return _Reader(value, self.file, f"{self.prefix}{key}.")


def _check_number(reader: _Reader, key: str, value: Any, low: float | None, high: float | None,
                  open_low: bool, open_high: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise reader.fail(key, f"expected a number, got {value!r}")
    value = float(value)
    if value != value:  # NaN
        raise reader.fail(key, "must not be NaN")
    if low is not None and (value <= low if open_low else value < low):
        raise reader.fail(key, f"must be {'>' if open_low else '>='} {low:g}, got {value:g}")
    if high is not None and (value >= high if open_high else value > high):
        raise reader.fail(key, f"must be {'<' if open_high else '<='} {high:g}, got {value:g}")
    return value


def _section(raw: dict[str, Any], name: str, file: Path) -> _Reader:
    top = _Reader(raw, file, "")
    if name not in raw:
        raise top.fail(name, "missing")
    return top.sub(name)


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def seed(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> int:
    top = _Reader(raw, file, "")
    if "seed" not in raw:
        raise top.fail("seed", "missing")
    return top.integer("seed", minimum=0)


def grid(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> int:
    top = _Reader(raw, file, "")
    if "grid" not in raw:
        raise top.fail("grid", "missing")
    return top.integer("grid", minimum=2)


def data(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> DataParams:
    r = _section(raw, "data", file)
    r.check_keys(_fields(DataParams))
    source = r.choice("source", DATA_SOURCES)
    s = r.sub("synthetic")
    s.check_keys(_fields(SyntheticParams))
    synthetic = SyntheticParams(
        n_clips=s.integer("n_clips", minimum=4),
        clip_seconds=s.number("clip_seconds", low=0.0, open_low=True),
        seed=s.integer("seed", minimum=0),
        segments=s.integer("segments", minimum=0),
        rank_labels=s.boolean("rank_labels"),
    )
    return DataParams(
        source=source,
        path=r.existing_path("path", required=source != "synthetic"),
        frontend=r.choice("frontend", FRONTENDS),
        frames=r.integer("frames", minimum=16),
        synthetic=synthetic,
    )


def split(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> SplitParams:
    r = _section(raw, "split", file)
    r.check_keys(_fields(SplitParams))
    return SplitParams(
        mode=r.choice("mode", SPLIT_MODES),
        val_fraction=r.number("val_fraction", 0.0, 1.0, open_low=True, open_high=True),
        dev_fraction=r.number("dev_fraction", 0.0, 1.0, open_low=True, open_high=True),
        stratify=r.boolean("stratify"),
    )


def model(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> ModelParams:
    r = _section(raw, "model", file)
    r.check_keys(_fields(ModelParams))
    return ModelParams(
        panns_checkpoint=r.existing_path("panns_checkpoint", required=False),
        trained_checkpoint=r.existing_path("trained_checkpoint", required=False),
        forward_passes=r.integer("forward_passes", minimum=1),
        freeze_backbone=r.boolean("freeze_backbone"),
        train_bn0=r.boolean("train_bn0"),
        train_fc1=r.boolean("train_fc1"),
    )


def train(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> TrainParams:
    r = _section(raw, "train", file)
    r.check_keys(_fields(TrainParams))
    return TrainParams(
        epochs=r.integer("epochs", minimum=1),
        batch_size=r.integer("batch_size", minimum=2),
        learning_rate=r.number("learning_rate", low=0.0, open_low=True),
        mixup=r.boolean("mixup"),
        loss_passes=r.choice("loss_passes", LOSS_PASSES),
    )


def steering(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> SteeringParams:
    r = _section(raw, "steering", file)
    r.check_keys(_fields(SteeringParams))
    strengths = r.raw["strengths"]
    if not isinstance(strengths, list) or not strengths:
        raise r.fail("strengths", f"expected a non-empty list of numbers, got {strengths!r}")
    checked = tuple(_check_number(r, f"strengths[{i}]", s, 0.0, None, False, False)
                    for i, s in enumerate(strengths))
    strength: float | str
    if r.raw["strength"] == "dev":
        strength = "dev"
    else:
        strength = r.number("strength", low=0.0)
    return SteeringParams(
        coarse_grid=r.integer("coarse_grid", minimum=2),
        strength=strength,
        strengths=checked,
        alpha=r.number("alpha", 0.0, 1.0),
        first_pass=r.boolean("first_pass"),
        min_count=r.integer("min_count", minimum=1),
        fallback=r.choice("fallback", FALLBACKS),
    )


def evaluate(raw: dict[str, Any], file: Path = Path(PARAMS_FILE)) -> EvaluateParams:
    r = _section(raw, "evaluate", file)
    r.check_keys(_fields(EvaluateParams))
    return EvaluateParams(
        batch_size=r.integer("batch_size", minimum=1),
        n_boot=r.integer("n_boot", minimum=100),
        bilinear=r.boolean("bilinear"),
    )
