"""The rooms import downward only (docs/architecture.md): data imports none of model, steering and
evaluation; model may use data; steering may use model and data; evaluation may use all three.
Leaves (errors, constants, atomic, digest, grid, correlation, strength, h5safe, jsonsafe, runtime)
serve every room. The jobs layer above the rooms is the only room that reads params.yaml and the
file layout (`params`, `pipeline`); nothing in a room imports it, or the commands and the
orchestration above it (cli, predict, experiment, seeds, review, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_dvc_deps import SRC, imports_of

ROOMS = ("data", "model", "steering", "evaluation")
MAY_USE = {"data": set(), "model": {"data"}, "steering": {"data", "model"},
           "evaluation": {"data", "model", "steering"}, "jobs": {"data", "model", "steering", "evaluation"}}
LEAVES = {"errors", "constants", "atomic", "bootstrap", "digest", "grid", "correlation", "strength", "h5safe",
          "jsonsafe", "runtime", "__init__"}
SCHEMA = {"params", "pipeline", "schema"}


def _files(rooms) -> list[str]:
    return sorted(str(p.relative_to(SRC / "emosteer")) for room in rooms for p in (SRC / "emosteer" / room).rglob("*.py"))


def _upward(rel: str, src: Path = SRC) -> tuple[list[str], list[str]]:
    """The file's imports that go up or sideways, and those of params/pipeline."""
    room = rel.split("/")[0]
    wrong, schema = [], []
    for name in imports_of(src / "emosteer" / rel):
        parts = name.split(".")
        if len(parts) < 2 or parts[1] == room:
            continue
        top = parts[1]
        if top in SCHEMA:
            schema.append(name)
        elif top in MAY_USE and top not in MAY_USE[room]:
            wrong.append(name)
        elif top not in MAY_USE and top not in LEAVES:
            wrong.append(name)  # a command or the orchestration above the rooms
    return wrong, schema


@pytest.mark.parametrize("rel", _files(ROOMS))
def test_a_room_imports_downward_only_and_never_params(rel):
    wrong, schema = _upward(rel)
    assert wrong == [], f"{rel} imports upward or sideways: {wrong}"
    assert schema == [], f"{rel} imports {schema}: the jobs layer passes plain arguments instead"


@pytest.mark.parametrize("rel", _files(["jobs"]))
def test_jobs_use_the_rooms_the_leaves_and_the_schema_only(rel):
    wrong, _ = _upward(rel)
    assert wrong == [], f"{rel} imports a command or the orchestration above it: {wrong}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A room file that reads params, and one that imports upward, are both caught."""
    fake = tmp_path / "emosteer" / "data"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from emosteer.schema import params\nfrom emosteer.model import lrm\n")
    wrong, schema = _upward("data/bad.py", tmp_path)
    assert set(wrong) == {"emosteer.model", "emosteer.model.lrm"} and set(schema) == {"emosteer.schema", "emosteer.schema.params"}


def test_the_fast_suite_reaches_every_module():
    """`pytest -m "not slow"` is the inner loop: every library module and stage is imported by a
    test file that is not wholly slow (a file-level `pytestmark = pytest.mark.slow`), so an edit
    anywhere has a fast test that at least loads it."""
    from tests.test_dvc_deps import REPO, closure

    fast = [f for f in sorted((REPO / "tests").glob("test_*.py"))
            if "pytestmark = pytest.mark.slow" not in f.read_text()]
    reached = closure(*fast)  # one walk from every fast test file
    modules = [p for p in sorted((SRC / "emosteer").rglob("*.py")) + sorted((REPO / "stages").glob("*.py"))]
    missing = [str(p.relative_to(REPO)) for p in modules if p not in reached]
    assert missing == [], f"no fast test imports {missing}"
