"""What every pipeline stage shares: the file layout, error handling and atomic writers.

A stage is `pipeline.run(main)`: `main` gets the validated params (emosteer.params.Params); bad input
(EmosteerError) becomes one line on stderr and exit code 2. Every output is written to a temporary
name and renamed, so an interrupted stage never leaves a file that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from emosteer import params
from emosteer.atomic import replacing
from emosteer.errors import EmosteerError

FEATURES = Path("data/features.h5")
PARAMS_OK = Path("data/params.ok")
METRICS = Path("metrics")
POOLED = METRICS / "pooled"
PLOTS = Path("plots")
REPORT = Path("reports/report.md")
HEADLINE = METRICS / "headline.json"
TRAIN_HISTORY = PLOTS / "train_history.csv"
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
    def train_metrics(self) -> Path:
        return METRICS / "seeds" / "train" / f"s{self.seed}.json"

    @property
    def activations(self) -> Path:
        return Path(f"data/activations/s{self.seed}.h5")

    def signals(self, which: str, suffix: str) -> Path:
        return Path(f"data/signals/{which}/s{self.seed}.{suffix}")


def run(main: Callable[[params.Params], None], name: str | None = None) -> None:
    """Run one stage's `main(params)`; exit 2 with one line on bad input."""
    name = name or Path(sys.argv[0]).stem
    try:
        main(params.load(params.PARAMS_FILE))
    except EmosteerError as exc:
        print(f"emosteer stage {name}: error: {exc}", file=sys.stderr)
        sys.exit(2)


def _atomic(path: Path, write: Callable[[Any], None], newline: str | None = None) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline=newline) as f:
        write(f)


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, np.generic):  # numpy scalars (float32, int64, bool_) as plain Python
        value = value.item()
    if isinstance(value, float):
        return value if not math.isfinite(value) else round(value, digits)
    if isinstance(value, Mapping):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


def write_json(path: str | Path, obj: Any, digits: int = 6) -> None:
    """JSON with floats rounded to `digits` so diffs in review show changes, not noise."""
    _atomic(Path(path), lambda f: f.write(json.dumps(_rounded(obj, digits), indent=2) + "\n"))


def write_text(path: str | Path, text: str) -> None:
    _atomic(Path(path), lambda f: f.write(text))


def write_csv(path: str | Path, columns: Mapping[str, Sequence[Any]], digits: int = 6) -> None:
    """A CSV from equal-length columns (the plot-data format DVC reads)."""
    names = list(columns)
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"{path}: columns of unequal length {sorted(lengths)}")

    def write(f: Any) -> None:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(columns[n] for n in names)):
            w.writerow([_rounded(float(v), digits) if _is_number(v) else v for v in row])

    _atomic(Path(path), write, newline="")


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EmosteerError(f"{path}: file not found (run the stage that writes it)") from None
    except json.JSONDecodeError as exc:
        raise EmosteerError(f"{path}: not valid JSON (line {exc.lineno})") from None
