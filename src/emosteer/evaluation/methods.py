"""The steering methods: one entry each, from which selection, evaluation, the report's labels, the
cost estimate and `emosteer predict`'s choices derive.

Every choice the original left implicit is a named method here:
- selection `oracle` bins each clip by its TRUE label (the report's protocol: an upper bound that
  uses the answer); `predicted` bins it by the model's own unsteered prediction (deployable);
- an interpolation says how that point picks the 128-d: `categorical` takes its bin's signal,
  `idw` and `bilinear` blend the signals of the bins around it (`INTERPOLATIONS`);
- controls: `shuffled` steers with a seeded permutation of the (oracle) bin assignment, and
  `global_mean` with the mean signal of all training clips, so a gain can be told from a generic
  modulation effect;
- a fusion twin of each oracle and predicted method moves the unsteered prediction toward the
  method's target instead of steering (`fuses`; `evaluation.fusion`).

An entry gives its per-clip signals (`Method.signals`) and, for a method that selects by a point,
the point of the valence-arousal square that its signal stands for (`Method.target`: the bin's
centre, or the IDW- or bilinear-weighted centre). A method that moves the unsteered prediction
toward that point instead of steering (a "fusion twin") is one more entry beside the one it twins.
docs/architecture.md, "How to add a steering method".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from emosteer.errors import EmosteerError
from emosteer.steering import selection
from emosteer.steering.signals import SignalTable

Steer = tuple[np.ndarray, np.ndarray]  # (n, 128) valence and arousal steering vectors


@dataclass(frozen=True)
class Clips:
    """The clips of one split part: labels, unsteered predictions and their features."""

    valence: np.ndarray
    arousal: np.ndarray
    pred_valence: np.ndarray
    pred_arousal: np.ndarray
    features: np.ndarray  # (n, T, 64)


@dataclass(frozen=True)
class Interpolation:
    """How a point (v, a) of [-1, 1]^2 picks a 128-d signal from a grid's table, and the point of the
    square that signal stands for (the same weights over the bin centres as over the bins' means)."""

    name: str  # categorical | idw | bilinear: the method names' second half
    label: str  # the report's: "IDW interpolation"
    signals: Callable[[SignalTable, np.ndarray, np.ndarray], Steer]
    target: Callable[[SignalTable, np.ndarray, np.ndarray], np.ndarray]  # (n, 2)
    option: str | None = None  # a switch of params' `evaluate` section that must be on, or None


INTERPOLATIONS = {
    i.name: i
    for i in (
        Interpolation("categorical", "categorical", selection.categorical, selection.categorical_target),
        Interpolation("idw", "IDW interpolation", selection.idw, selection.idw_target),
        Interpolation(
            "bilinear", "bilinear interpolation", selection.bilinear, selection.bilinear_target, option="bilinear"
        ),
    )
}


@dataclass(frozen=True)
class Method:
    """One steering method: its name in files (metrics/pooled/<grid>/<name>.json, plot columns),
    its row label, and how it makes each clip's steering signals.

    `make(method, table, clips, seed)` is a module-level function (a method travels to the seed
    pool's worker processes). `per_grid` False: the method is the same on every grid and runs once
    per run (the baseline stage's); `in_table` False: not a verdict row of its own."""

    name: str
    label: str
    selection: str  # oracle | predicted | control
    kind: str  # categorical | idw | bilinear | shuffled | global_mean
    make: Callable[[Method, SignalTable, Clips, int], Steer]
    interpolation: Interpolation | None = None  # the point's pick, for oracle and predicted
    per_grid: bool = True
    in_table: bool = True
    fuses: bool = False  # a fusion twin: no network pass, the unsteered prediction moved to `target`

    @property
    def uses_true_labels(self) -> bool:
        return self.selection == "oracle" or self.kind == "shuffled"

    @property
    def option(self) -> str | None:
        return self.interpolation.option if self.interpolation is not None else None

    def signals(self, table: SignalTable, clips: Clips, seed: int) -> Steer:
        """Per-clip (valence, arousal) steering vectors, each (n, 128)."""
        return self.make(self, table, clips, seed)

    def point(self, clips: Clips) -> tuple[np.ndarray, np.ndarray]:
        """The (valence, arousal) that picks each clip's bin: its labels (oracle) or its unsteered
        prediction clipped to [-1, 1] (predicted)."""
        if self.uses_true_labels:
            return clips.valence, clips.arousal
        return selection.clip_unit(clips.pred_valence), selection.clip_unit(clips.pred_arousal)

    def target(self, table: SignalTable, clips: Clips) -> np.ndarray | None:
        """(n, 2): the point each clip is steered toward (the bin's centre, or the IDW- or
        bilinear-weighted centre), for a method that selects by a point; None for the controls."""
        if self.selection not in ("oracle", "predicted") or self.interpolation is None:
            return None
        return self.interpolation.target(table, *self.point(clips))


def _at_point(m: Method, table: SignalTable, clips: Clips, seed: int) -> Steer:
    return m.interpolation.signals(table, *m.point(clips))  # type: ignore[union-attr]


def _shuffled(m: Method, table: SignalTable, clips: Clips, seed: int) -> Steer:
    return selection.shuffled(table, *m.point(clips), seed=seed)


def _global_mean(m: Method, table: SignalTable, clips: Clips, seed: int) -> Steer:
    return selection.global_mean(table, len(clips.valence))


def _fuses(m: Method, table: SignalTable, clips: Clips, seed: int) -> Steer:
    raise EmosteerError(f"{m.name} is a fusion twin: it moves predictions (`evaluation.fusion`), it does not steer")


SELECTIONS = ("oracle", "predicted")  # the point-selecting methods: each with every interpolation
FUSION = "_fusion"  # a fusion twin's name: its variant's, and this

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        *(
            Method(f"{sel}_{i.name}", f"{sel}, {i.label}", sel, i.name, _at_point, i)
            for sel in SELECTIONS
            for i in INTERPOLATIONS.values()
        ),
        Method("control_shuffled", "control: shuffled bins", "control", "shuffled", _shuffled),
        Method("control_global_mean", "control: global mean", "control", "global_mean", _global_mean, per_grid=False),
        *(
            Method(
                f"{sel}_{i.name}{FUSION}",
                f"{sel}, {i.label}: fusion twin",
                sel,
                i.name,
                _fuses,
                i,
                in_table=False,
                fuses=True,
            )
            for sel in SELECTIONS
            for i in INTERPOLATIONS.values()
        ),
    )
}

GLOBAL_MEAN = METHODS["control_global_mean"]
ORACLE = METHODS["oracle_categorical"]  # the break-even curve's q = 1 end: steering with the true bin
PREDICTED = METHODS["predicted_categorical"]  # its q = 0 end (at the oracle's strength): the model's bin


def table(switches: Mapping[str, Any]) -> tuple[Method, ...]:
    """The methods of the verdict table a run evaluates, in table order: every entry in the table
    whose option is on in `switches` (params' `evaluate` section, e.g. {"bilinear": False})."""
    return tuple(m for m in METHODS.values() if m.in_table and (m.option is None or switches.get(m.option)))


def per_grid(switches: Mapping[str, Any]) -> tuple[Method, ...]:
    """The table's methods that each grid's evaluate stage runs (the global mean is the baseline
    stage's: it does not depend on the grid)."""
    return tuple(m for m in table(switches) if m.per_grid)


def twin(m: Method, selection_: str) -> Method | None:
    """The entry that selects by `selection_` with the same interpolation as `m` (e.g. the oracle
    beside a predicted method), if there is one."""
    return next(
        (
            o
            for o in METHODS.values()
            if o.in_table
            and o.selection == selection_
            and o.interpolation is not None
            and o.interpolation is m.interpolation
        ),
        None,
    )


def fusion_twin(m: Method) -> Method | None:
    """The fusion twin of a steering method that selects by a point (docs/statistics.md, "Fusion
    twins"): the entry that moves the unsteered prediction toward the same target, no network."""
    return METHODS.get(m.name + FUSION) if m.selection in SELECTIONS and not m.fuses else None
