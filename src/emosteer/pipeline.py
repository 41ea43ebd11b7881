"""What every pipeline stage shares: the file layout, error handling and atomic writers.

A stage is `pipeline.run(main, schema)`: `main` gets params.yaml validated as the stage's schema
(the sections it reads, emosteer.schema; the whole file is emosteer.schema.params.Params); bad input
(EmosteerError) becomes one line on stderr and exit code 2. Every output is written to a temporary
name and renamed, so an interrupted stage never leaves a file that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emosteer import errors
from emosteer.atomic import replacing
from emosteer.errors import EmosteerError
from emosteer.jsonsafe import read_json, read_metrics  # noqa: F401  (stages read through pipeline)
from emosteer.schema import base
from emosteer.schema.base import S

FEATURES = Path("data/features.h5")
PARAMS_OK = Path("data/params.ok")
INPUTS = Path("data/inputs")  # check_params: one fingerprint per path param (jobs/inputs.py)
METRICS = Path("metrics")
DATA_FACTS = METRICS / "data.json"  # what the data stage ran on (data/survey.py)
POOLED = METRICS / "pooled"
PLOTS = Path("plots")
REPORT = Path("reports/report.md")
HEADLINE = METRICS / "headline.json"  # the experiments table: the main rows only
VERDICTS = METRICS / "verdicts.json"  # every verdict of the table (review reads it)
TRAIN_HISTORY = PLOTS / "train_history.csv"
TRAIN_HISTORY_ONE_PASS = PLOTS / "train_history_one_pass.csv"  # the one-pass twins' curves
REFERENCE = Path("data/reference.npz")  # per-seed validation predictions of the global-mean control


@dataclass(frozen=True)
class SeedPaths:
    """Where one seed's files live: one folder per artifact kind, one file (or folder) per seed."""

    seed: int

    @property
    def split(self) -> Path:
        return Path(f"data/splits/s{self.seed}.json")

    @property
    def model(self) -> Path:
        return Path(f"data/models/s{self.seed}.pt")

    @property
    def model_one_pass(self) -> Path:
        """The one-pass twin: trained like the model, from its start, without feedback."""
        return Path(f"data/models/s{self.seed}.1pass.pt")

    @property
    def train_metrics(self) -> Path:
        return METRICS / "seeds" / "train" / f"s{self.seed}.json"

    @property
    def activations(self) -> Path:
        return Path(f"data/activations/s{self.seed}.h5")

    def signals(self, which: str, suffix: str) -> Path:
        return Path(f"data/signals/{which}/s{self.seed}.{suffix}")


def run(main: Callable[[S], None], schema: type[S], name: str | None = None) -> None:
    """Run one stage's `main(params)` with params.yaml validated as the stage's `schema` (its
    sections only; check_params has checked the whole file); exit 2 with one line on bad input,
    143/130 with one line on SIGTERM/SIGINT (errors.run)."""
    name = name or Path(sys.argv[0]).stem
    code = errors.run(f"emosteer stage {name}", lambda: main(base.load(schema, base.PARAMS_FILE)))
    if code:
        sys.exit(code)


def _atomic(path: Path, write: Callable[[Any], None], newline: str | None = None) -> None:
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as f:
        write(f)


def _rounded(value: Any, digits: int, path: Path, where: str = "") -> Any:
    """Floats rounded, numpy scalars unwrapped; NaN becomes None (JSON null: "undefined", e.g. the
    r of a constant prediction); inf is refused naming its place, since no metric is infinite."""
    if isinstance(value, np.generic):  # numpy scalars (float32, int64, bool_) as plain Python
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise EmosteerError(f"{path}: key '{where or '.'}': {value} is not finite; refusing to write it")
        return round(value, digits)
    if isinstance(value, Mapping):
        return {k: _rounded(v, digits, path, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits, path, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def write_json(path: str | Path, obj: Any, digits: int = 6) -> None:
    """Standard JSON (RFC 8259) with floats rounded to `digits` so diffs in review show changes,
    not noise. A NaN is written as null, meaning "undefined"; an inf is refused."""
    path = Path(path)
    text = json.dumps(_rounded(obj, digits, path), indent=2, allow_nan=False) + "\n"
    _atomic(path, lambda f: f.write(text))


def write_text(path: str | Path, text: str) -> None:
    _atomic(Path(path), lambda f: f.write(text))


def write_csv(path: str | Path, columns: Mapping[str, Sequence[Any]], digits: int = 6) -> None:
    """A CSV from equal-length columns (the plot-data format DVC reads), written atomically.

    A NaN (or None) is an empty cell, "undefined", which plots skip; an inf is refused naming the
    column and row.
    """
    with replacing(path) as tmp:
        save_csv(tmp, columns, digits, where=Path(path))


def save_csv(
    target: str | Path, columns: Mapping[str, Sequence[Any]], digits: int = 6, where: Path | None = None
) -> None:
    """`write_csv`'s format into `target`, a temp file the caller renames (with others: predict's
    NPZ and CSV); `where` names the output in errors. Text that is not valid UTF-8 (a file name's
    undecodable bytes) is written with its bytes escaped; text that a spreadsheet would run as a
    formula is quoted (`text_cell`)."""
    path = where or Path(target)
    names = list(columns)
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"{path}: columns of unequal length {sorted(lengths)}")
    # A column whose every number is an integer (a seed, an epoch, a count) is written as integers:
    # "0", not "0.0"; a column with any float is written as floats throughout.
    integer = [all(_is_integer(v) for v in columns[n] if _is_number(v)) for n in names]
    rows = [
        [_cell(v, digits, path, name, i, whole) for name, v, whole in zip(names, row, integer)]
        for i, row in enumerate(zip(*(columns[n] for n in names)))
    ]
    with open(target, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(rows)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Arrays as an uncompressed NPZ (no pickled objects), written atomically."""
    with replacing(path) as tmp:
        save_npz(tmp, arrays)


def save_npz(target: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """`write_npz`'s format into `target`, a temp file the caller renames."""
    with open(target, "wb") as f:
        np.savez(f, **arrays)  # a file object: savez would append .npz to a bare temp name


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula
_ONLY_NUMBERS = re.compile(r"[-+0-9.eE/]*")  # 2, -1, 0.5/2: arithmetic on numbers, nothing to call


def text_cell(text: str) -> str:
    """A string cell as a spreadsheet must not run it: one that starts a formula (= + - @, tab,
    CR) gets a leading `'`, unless it is only numbers (a strength label such as -1 or -1/3)."""
    if text.startswith(FORMULA_STARTS) and not _ONLY_NUMBERS.fullmatch(text):
        return "'" + text
    return text


def _cell(v: Any, digits: int, path: Path, column: str, row: int, integer: bool) -> Any:
    if isinstance(v, (str, np.str_)):
        return text_cell(str(v))
    if not _is_number(v):
        return v
    if integer:
        return int(v)
    x = float(v)
    if math.isinf(x):
        raise EmosteerError(f"{path}: column '{column}': {x} is not finite at index {row}; refusing to write it")
    return "" if math.isnan(x) else round(x, digits)


def _is_integer(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
