"""dvc.yaml lists, for every stage, exactly the library files the stage's module imports.

A dep missing from dvc.yaml serves stale results (edit grid.py, and `dvc repro` keeps the old
evaluate metrics); an extra one reruns a stage for nothing. The import closure is computed from
the source with `ast`, following `emosteer` imports (module-level and inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def module_file(name: str) -> Path | None:
    """The file of an emosteer module (or package __init__), or None if it is not one."""
    base = (SRC if name.startswith("emosteer") else REPO) / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """Modules named by the file's import statements (`from pkg import mod` counts mod if it is one)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(
                f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}") is not None
            )
    return {m for m in out if m == "emosteer" or m.startswith(("emosteer.", "stages."))}


def closure(*paths: Path) -> set[Path]:
    """Every emosteer/stages file the files import, directly or not (package __init__s included)."""
    seen: set[Path] = set()
    todo = list(paths)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for name in imports_of(f):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                target = module_file(".".join(parts[:i]))
                if target is not None:
                    todo.append(target)
    return seen


def stage_module(cmd: str) -> Path:
    module = cmd.split("python -m ", 1)[1].split()[0]
    return REPO / Path(*module.split(".")).with_suffix(".py")


def code_deps(stage: dict) -> set[Path]:
    return {REPO / d for d in stage.get("deps", []) if str(d).endswith(".py")}


STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_are_exactly_its_imports(name):
    stage = STAGES[name]
    expected = closure(stage_module(stage["cmd"]))
    listed = code_deps(stage)
    missing = sorted(str(p.relative_to(REPO)) for p in expected - listed)
    extra = sorted(str(p.relative_to(REPO)) for p in listed - expected)
    assert not missing, f"{name}: imports but does not depend on {missing}"
    assert not extra, f"{name}: depends on files it does not import {extra}"


def test_closure_sees_a_function_level_import(tmp_path):
    """The checker itself can fail: an import inside a function is found."""
    f = SRC / "emosteer" / "commands" / "signals.py"
    assert SRC / "emosteer" / "steering" / "signals.py" in closure(f)  # in register


# Stages that train, extract and bin must not depend on what only evaluation uses: an edit to a
# statistic or a steering policy reruns the evaluate stages, never a model (issue: layers).
UPSTREAM_MAY_NOT_LIST = {
    "train": ("evaluation/", "steering/"),
    "extract_activations": ("evaluation/", "steering/"),
    "bin_and_aggregate": ("evaluation/",),
    "prepare_split": ("evaluation/", "steering/", "model/"),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_MAY_NOT_LIST))
def test_upstream_stages_do_not_depend_on_evaluation_code(name):
    rooms = UPSTREAM_MAY_NOT_LIST[name]
    listed = [d for d in STAGES[name]["deps"] if d.startswith("src/emosteer/")]
    assert listed, f"{name} lists no library file"
    wrong = [d for d in listed if d.removeprefix("src/emosteer/").startswith(rooms)]
    assert wrong == [], f"{name} depends on {wrong}"


# A new param of a later stage must not rerun an earlier one: these stages validate only the
# params.yaml sections they read (emosteer.schema), so their deps list those section files and
# neither the whole schema (schema/params.py) nor the rest. model.py holds `model` and `train`;
# extract_activations reads evaluate.batch_size, prepare_split steering.grids (its first: the strata).
SECTIONS_READ = {
    "data": {"data"},
    "prepare_split": {"data", "split", "steering"},
    "train": {"data", "model"},
    "extract_activations": {"model", "evaluate"},
    "bin_and_aggregate": {"steering"},
}


@pytest.mark.parametrize("name", sorted(SECTIONS_READ))
def test_upstream_stages_list_only_the_schema_sections_they_read(name):
    deps = STAGES[name]["deps"]
    sections = {
        d.removeprefix("src/emosteer/schema/").removesuffix(".py") for d in deps if d.startswith("src/emosteer/schema/")
    } - {"__init__", "base"}
    assert sections == SECTIONS_READ[name]
    assert "src/emosteer/schema/params.py" not in deps
