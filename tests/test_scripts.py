"""The scripts and benches outside the package (scripts/, bench/) use names the library still has.

They run on clusters and by hand, not in the fast suite, so a renamed or moved function would
surface there first (scripts/slurm/pool_table.py called report.read_pooled after it moved to
jobs.results). This reads each file's `emosteer` imports and the attributes it takes from them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(p for d in ("scripts", "bench") for p in (REPO / d).rglob("*.py"))


def _used_names(path: Path) -> list[tuple[str, str]]:
    """(module, name) pairs the file takes from emosteer: imported names and `alias.attr` uses."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    used: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emosteer"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if importlib.util.find_spec(node.module) and _is_module(full):
                    aliases[a.asname or a.name] = full
                else:
                    used.append((node.module, a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("emosteer"):
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.append((aliases[node.value.id], node.attr))
    return used


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_emosteer_name_a_script_uses_exists(path: Path) -> None:
    missing = [
        f"{module}.{name}" for module, name in _used_names(path) if not hasattr(importlib.import_module(module), name)
    ]
    assert missing == [], f"{path.relative_to(REPO)} uses {missing}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "old.py"
    bad.write_text(
        "from emosteer.evaluation import report\nreport.read_pooled('x')\n"
        "from emosteer.model.train import TrainConfig\n"
    )
    missing = [f"{m}.{n}" for m, n in _used_names(bad) if not hasattr(importlib.import_module(m), n)]
    assert sorted(missing) == ["emosteer.evaluation.report.read_pooled", "emosteer.model.train.TrainConfig"]
