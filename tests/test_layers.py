"""The rooms import downward only (docs/architecture.md): data imports none of model, steering and
evaluation; model may use data; steering may use model and data; evaluation may use all three.
Leaves (errors, constants, atomic, grid, correlation, strength, h5safe, jsonsafe, runtime) serve
every room. Nothing in a room imports the commands and the orchestration above it (cli, predict,
experiment, seeds, review, ...). The rooms that still read params and the file layout are listed
by name: the jobs layer that takes this over is the open part of the layers issue, and the list
may only shrink."""

from __future__ import annotations

import pytest

from tests.test_dvc_deps import SRC, imports_of

ROOMS = ("data", "model", "steering", "evaluation")
MAY_USE = {"data": set(), "model": {"data"}, "steering": {"data", "model"},
           "evaluation": {"data", "model", "steering"}}
LEAVES = {"errors", "constants", "atomic", "grid", "correlation", "strength", "h5safe", "jsonsafe",
          "runtime", "__init__"}
SCHEMA = {"params", "pipeline"}
# room files that import params or pipeline today (the jobs layer will take these over)
READS_PARAMS_TODAY = {"model/fit.py", "steering/tables.py", "evaluation/report.py"}


def _room_files() -> list[str]:
    return sorted(str(p.relative_to(SRC / "emosteer")) for room in ROOMS for p in (SRC / "emosteer" / room).rglob("*.py"))


@pytest.mark.parametrize("rel", _room_files())
def test_a_room_imports_downward_only(rel):
    room = rel.split("/")[0]
    wrong, schema = [], []
    for name in imports_of(SRC / "emosteer" / rel):
        parts = name.split(".")
        if len(parts) < 2 or parts[1] == room:
            continue
        top = parts[1]
        if top in ROOMS and top not in MAY_USE[room]:
            wrong.append(name)
        elif top in SCHEMA:
            schema.append(name)
        elif top not in ROOMS and top not in LEAVES:
            wrong.append(name)  # a command or the orchestration above the rooms
    assert wrong == [], f"{rel} imports upward or sideways: {wrong}"
    if rel not in READS_PARAMS_TODAY:
        assert schema == [], f"{rel} imports {schema}: pass plain arguments instead"


def test_the_list_of_rooms_reading_params_only_shrinks():
    reading = {rel for rel in _room_files()
               if any(n.split(".")[1:2] and n.split(".")[1] in SCHEMA for n in imports_of(SRC / "emosteer" / rel))}
    assert reading <= READS_PARAMS_TODAY, reading - READS_PARAMS_TODAY
    assert reading == READS_PARAMS_TODAY, f"no longer reading params: {READS_PARAMS_TODAY - reading}; shrink the list"
