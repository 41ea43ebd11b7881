"""The layers (docs/architecture.md), checked on every module of src/emosteer, the top level included.

From the bottom: the leaves (errors, constants, grid, ... : the loose top-level modules but
`pipeline`) import only each other; the domain rooms import downward only (data imports none of
model, steering and evaluation; model may use data; steering may use model and data; evaluation
all three); `schema` (params.yaml's schema) may use the rooms it validates for; `pipeline` (the
file layout and the writers) the schema. Only the jobs layer, the commands and the stages read
params.yaml or the file layout (import `schema` or `pipeline`); nothing below a command imports
one, and nothing below the jobs layer imports it. `api` (the notebook's entry) is a top-level entry
like the commands: it may use them all, and nothing imports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_dvc_deps import SRC, imports_of

ROOMS = ("data", "model", "steering", "evaluation")
LAYOUT = ("schema", "pipeline")  # params.yaml's schema and the pipeline's file layout
MAX_LOOSE = 12  # loose modules at the top level of src/emosteer (its __init__ and api not counted)
ENTRIES = ("api",)  # top-level entries beside the commands: above every layer


def leaves(src: Path = SRC) -> set[str]:
    """The top-level modules but the file layout: each a leaf every layer may use."""
    return {p.stem for p in (src / "emosteer").glob("*.py")} - {"pipeline", *ENTRIES}


def may_use(part: str, src: Path = SRC) -> set[str]:
    """The parts of emosteer that `part` (a package, or a top-level module) may import."""
    rooms = {
        "data": set(),
        "model": {"data"},
        "steering": {"data", "model"},
        "evaluation": {"data", "model", "steering"},
    }
    layers = {
        **rooms,
        "schema": {"data", "model"},
        "pipeline": {"schema"},
        "jobs": {*ROOMS, *LAYOUT},
        "commands": {*ROOMS, *LAYOUT, "jobs"},
        **{entry: {*ROOMS, *LAYOUT, "jobs", "commands"} for entry in ENTRIES},
    }
    return {part} | layers.get(part, set()) | leaves(src)


def _part(name: str, src: Path) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(rel: str, src: Path = SRC) -> list[str]:
    """The file's imports of emosteer that its layer may not make."""
    own = rel.split("/")[0].removesuffix(".py")
    allowed = may_use(own, src)
    return sorted(
        name for name in imports_of(src / "emosteer" / rel) if name != "emosteer" and _part(name, src) not in allowed
    )


def _files(src: Path = SRC) -> list[str]:
    return sorted(str(p.relative_to(src / "emosteer")) for p in (src / "emosteer").rglob("*.py"))


@pytest.mark.parametrize("rel", _files())
def test_every_module_imports_only_what_its_layer_may(rel):
    wrong = violations(rel)
    assert wrong == [], f"{rel} imports {wrong}: see docs/architecture.md, the layers"


@pytest.mark.parametrize("rel", _files())
def test_only_jobs_commands_and_the_layout_itself_read_params_or_the_file_layout(rel):
    own = rel.split("/")[0].removesuffix(".py")
    reads = sorted(n for n in imports_of(SRC / "emosteer" / rel) if _part(n, SRC) in LAYOUT)
    if own not in {"jobs", "commands", *LAYOUT, *ENTRIES}:
        assert reads == [], f"{rel} reads {reads}: the jobs layer passes plain arguments instead"


def test_the_top_level_holds_the_leaves_and_the_layout_only():
    loose = sorted(p.name for p in (SRC / "emosteer").glob("*.py") if p.name != "__init__.py" and p.stem not in ENTRIES)
    assert len(loose) <= MAX_LOOSE, loose
    packages = sorted(p.name for p in (SRC / "emosteer").iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(["commands", "jobs", "schema", *ROOMS])


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A room file that reads params and imports upward, and a leaf that imports a room, are caught."""
    fake = tmp_path / "emosteer" / "data"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(
        "from emosteer.schema import params\nfrom emosteer.model import lrm\nfrom emosteer.commands import cli\n"
    )
    (tmp_path / "emosteer" / "leafy.py").write_text(
        "from emosteer.steering import signals\nfrom emosteer import errors\n"
    )
    (tmp_path / "emosteer" / "errors.py").write_text("")
    assert violations("data/bad.py", tmp_path) == [
        "emosteer.commands",
        "emosteer.commands.cli",
        "emosteer.model",
        "emosteer.model.lrm",
        "emosteer.schema",
        "emosteer.schema.params",
    ]
    assert violations("leafy.py", tmp_path) == ["emosteer.steering", "emosteer.steering.signals"]


def test_the_fast_suite_reaches_every_module():
    """`pytest -m "not slow"` is the inner loop: every library module and stage is imported by a
    test file that is not wholly slow (a file-level `pytestmark = pytest.mark.slow`), so an edit
    anywhere has a fast test that at least loads it."""
    from tests.test_dvc_deps import REPO, closure

    fast = [
        f for f in sorted((REPO / "tests").glob("test_*.py")) if "pytestmark = pytest.mark.slow" not in f.read_text()
    ]
    reached = closure(*fast)  # one walk from every fast test file
    modules = [p for p in sorted((SRC / "emosteer").rglob("*.py")) + sorted((REPO / "stages").glob("*.py"))]
    missing = [str(p.relative_to(REPO)) for p in modules if p not in reached]
    assert missing == [], f"no fast test imports {missing}"
