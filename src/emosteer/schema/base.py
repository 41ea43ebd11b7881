"""The schema's shared parts: value types, limits, the top level of params.yaml and the loader.

DVC's `-S key=value` silently adds a mistyped key (treeverse/dvc#5477), so every model forbids
extra keys, the top level included (`gird: 7` is an error, not a new param). The schema is the one
source of defaults and limits: the stages, the CLI and the library's config objects take their
values from it. A bad file is one line naming the file, the key path and the bad value.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError, field_validator

from emosteer.constants import AMPS, DEVICES
from emosteer.errors import EmosteerError
from emosteer.strength import Value as StrengthValue

PARAMS_FILE = Path("params.yaml")

# Upper bounds: generous, so that a typo (an extra zero, -S n_boot=1e9) is one line from
# check_params before any stage removes an output, instead of hours of work or a machine out of
# memory. What each one costs is in the params table of docs/pipeline.md.
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
        return (_finite_number(value[0], "neg of [neg, pos]: "), _finite_number(value[1], "pos of [neg, pos]: "))
    return _finite_number(value)


# Limits shared with the command line (`emosteer predict --strength/--alpha`): one definition.
# A strength is one number s (negative reverses the modulation) or a pair [neg, pos] that scales the
# ModBlocks' neg and pos scales apart (emosteer.strength); it is read as a float or a tuple.
Strength = Annotated[float | tuple[float, float], PlainValidator(_strength)]
Alpha = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]  # a share in [0, 1]
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


class Stage(_Section):
    """The top level every stage reads; a stage's own schema adds the sections it uses."""

    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(min_length=1, max_length=MAX_SEEDS)
    grid: int = Field(ge=2, le=MAX_GRID)
    workers: int = Field(ge=1, le=MAX_WORKERS)
    threads: Threads
    device: _literal(DEVICES)
    amp: _literal(AMPS)

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
            part.startswith(("literal[", "function-after", "function-plain", "constrained"))
        ):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _fields_at(schema: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The keys a section at `loc` (a key path, its last part excluded) declares; [] if unknown."""
    model: Any = schema
    for part in loc[:-1]:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return []
        model = fields[part].annotation
    return list(getattr(model, "model_fields", {}))


def message(file: Path | str, exc: ValidationError, schema: type[BaseModel] | None = None) -> str:
    """One line for the first error, an unknown key first of all: a mistyped key (`n_bot`) also
    leaves the key it meant missing, and "n_boot: missing" would hide the typo."""
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = _where(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, _fields_at(schema, err["loc"]), n=1)
        return f"{file}: {where}: unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    if err["type"] == "missing":
        return f"{file}: {where}: missing"
    value = err.get("input")
    if err["type"] == "model_type":  # pydantic's "a valid dictionary or instance of Synthetic"
        msg = "Input should be a section (key: value lines), not a single value or a list"
    elif err["type"] == "int_type" and isinstance(value, float) and value.is_integer():
        msg += ", written as digits: YAML reads 1e6 and 6.0 as floats"
    if not where or (err["type"] == "value_error" and isinstance(value, dict)):
        # a section's own check names the values it compared: the section itself is not the value
        return f"{file}: {where}: {msg}" if where else f"{file}: {msg}"
    return f"{file}: {where}: {msg} (got {shown(value)})"


SHOWN_CHARS = 60  # of a bad value quoted in a message: a 50 MB string is not copied whole


def shown(value: Any) -> str:
    """A bad value as a message quotes it: as written (repr) when short; else its start, and for a
    list or a mapping how many items it holds."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    size = f", {len(value)} items" if isinstance(value, (dict, list, tuple)) else ""
    return f"{text[:SHOWN_CHARS]}...{size}"


def read_raw(path: Path | str = PARAMS_FILE, name: Path | str | None = None) -> dict[str, Any]:
    """The raw mapping; a missing or malformed file is one clear error, naming `name` (default:
    `path`; a copy that took -S overrides is named as the file it copies)."""
    path = Path(path)
    where = path if name is None else name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmosteerError(f"{where}: file not found") from None
    except OSError as exc:
        raise EmosteerError(f"{where}: unreadable ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise EmosteerError(f"{where}: not valid YAML (not UTF-8 text: byte {exc.start})") from None
    except RecursionError:
        raise EmosteerError(f"{where}: not valid YAML (nested too deeply)") from None
    except yaml.YAMLError as exc:
        raise EmosteerError(f"{where}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise EmosteerError(f"{where}: expected a mapping at the top level")
    return raw


S = TypeVar("S", bound=Stage)


# The sections of params.yaml beside the top-level keys `Stage` declares (`params.Params` is the
# whole file; tests/test_params.py checks that the two agree). A stage's schema leaves the sections
# it does not read to the schema that does; any other key is unknown to every schema, so every
# stage refuses it (`gird: 7` stops check_params, not only `emosteer params check`).
SECTIONS = ("data", "split", "model", "train", "steering", "evaluate", "steerability")


def validate(schema: type[S], raw: dict[str, Any], file: Path | str = PARAMS_FILE) -> S:
    """`raw` as `schema`: the known sections it does not declare are left to the schema that does;
    an unknown key, at the top level too, is refused."""
    try:
        return schema.model_validate({k: v for k, v in raw.items() if k in schema.model_fields or k not in SECTIONS})
    except ValidationError as exc:
        raise EmosteerError(message(file, exc, schema)) from None


def load(schema: type[S], path: Path | str = PARAMS_FILE) -> S:
    """Read params.yaml and validate the sections `schema` declares (check_params checks them all)."""
    return validate(schema, read_raw(path), path)


def check_value(kind: Any, value: Any, field: str) -> Any:
    """Validate one value against a schema type (e.g. `Strength` for `--strength`): one line."""
    try:
        return TypeAdapter(kind).validate_python(value, strict=False)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise EmosteerError(f"{field}: {err['msg'].removeprefix('Value error, ')} (got {shown(value)})") from None
