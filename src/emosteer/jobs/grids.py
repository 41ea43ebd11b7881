"""The grids a run evaluates, from params in one place.

A grid is G x G bins over [-1, 1] (`emosteer.grid.Grid`). A run evaluates `grid` (5: the report's
25 bins; `dvc exp run -S grid=7` for 49) and every grid of `steering.grids` (3: its 9 bins), each
in its own evaluate stage. The first of `steering.grids` is also the coarse grid: the strata of a
stratified split, the table the baseline stage steers with (the global mean is the same on every
grid) and the steerability probe's grid.

Everything per grid is named by it: `<G>x<G>` in every path (data/signals/3x3/,
metrics/pooled/5x5/, plots/predictions/5x5.csv) -- the one name dvc.yaml can write too, as
`${grid}x${grid}`, since DVC's templating has no arithmetic -- and `<G*G>-bin` in the report's
rows. The design card's stage names stay: evaluate_9bin evaluates `steering.grids[0]`,
evaluate_25bin evaluates `grid` whatever its size, and the report says so when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.schema.base import PARAMS_FILE, Stage, load
from emosteer.schema.steering import Steering

# The design card's stages and the param each evaluates (its bins at the card's default).
CARD_STAGES = {"steering.grids[0]": ("evaluate_9bin", 9), "grid": ("evaluate_25bin", 25)}
COARSE = "steering.grids[0]"


@dataclass(frozen=True)
class RunGrid:
    """One grid a run evaluates: its bins per axis and the param that sets it."""

    size: int
    param: str  # grid | steering.grids[i]

    @property
    def name(self) -> str:
        """`5x5`: the grid's folder and file name in every output path."""
        return f"{self.size}x{self.size}"

    @property
    def bins(self) -> int:
        return self.size * self.size

    @property
    def label(self) -> str:
        """`25-bin`: the report's row label."""
        return f"{self.bins}-bin"

    @property
    def stage(self) -> str:
        """The dvc.yaml stage that evaluates it: the design card's name for `grid` and
        `steering.grids[0]`, evaluate_<bins>bin for a grid added after them."""
        return stage_of(self.param) if self.param in CARD_STAGES else f"evaluate_{self.bins}bin"

    @property
    def grid(self) -> Grid:
        return Grid(self.size)


def grids(p: Any) -> tuple[RunGrid, ...]:
    """Every grid of the run (params' `grid` and `steering.grids`), fewest bins first. `p`: any
    schema with both (the whole Params, or a stage's sections)."""
    found = [RunGrid(size, f"steering.grids[{i}]") for i, size in enumerate(p.steering.grids)]
    found.append(RunGrid(p.grid, "grid"))
    sizes = [g.size for g in found]
    for g in found:
        if sizes.count(g.size) > 1:
            raise EmosteerError(
                f"params.yaml: {g.param} = {g.size} is evaluated twice (grid and steering.grids "
                "must all differ: a grid's outputs are named by it)"
            )
    return tuple(sorted(found, key=lambda g: g.size))


def coarse(p: Any) -> RunGrid:
    """steering.grids[0]: the split's strata, the baseline's table, the steerability probe's grid."""
    return next(g for g in grids(p) if g.param == COARSE)


def by_param(p: Any, param: str) -> RunGrid:
    """The run's grid that `param` sets (`grid`, `steering.grids[1]`): an evaluate stage's argument."""
    for g in grids(p):
        if g.param == param:
            return g
    raise EmosteerError(
        f"params.yaml: {param} names no grid of this run (grid: {p.grid}, steering.grids: {list(p.steering.grids)})"
    )


def stage_of(param: str) -> str:
    """The evaluate stage's name for `param`, known before params are read (its one-line errors
    carry it): the design card's for `grid` and steering.grids[0]."""
    return CARD_STAGES[param][0] if param in CARD_STAGES else f"evaluate {param}"


def renamed(p: Any) -> list[str]:
    """One sentence per design-card stage whose grid is not the card's: evaluate_25bin under
    `-S grid=7` evaluates 49 bins (the report says so beside its rows)."""
    out = []
    for g in grids(p):
        if g.param in CARD_STAGES and CARD_STAGES[g.param][1] != g.bins:
            out.append(
                f"The stage {g.stage} keeps the design card's name; it evaluated `{g.param}` = "
                f"{g.size}: the {g.name} grid, {g.bins} bins."
            )
    return out


class GridParams(Stage):
    """What the grids are read from: the top level (`grid`) and the steering section."""

    steering: Steering


def names_in(params_file: Path | str = PARAMS_FILE) -> list[str] | None:
    """The grid names (`3x3`, `5x5`) a params file sets, fewest bins first, or None if there is no
    such file (a reader of metrics/pooled/ then takes every grid folder it finds)."""
    if not Path(params_file).is_file():
        return None
    return [g.name for g in grids(load(GridParams, params_file))]
