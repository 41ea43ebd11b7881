"""The import graph of src/emosteer as docs/architecture.md draws it, in numbers.

    python scripts/import_graph.py [REPO]      (default: this checkout)

A node is a top-level module of src/emosteer (`grid.py`) or one of its packages (`data/`), and
`stages/`; an edge is an `import` of one node by another (module level or inside a function, read
with ast). Printed: modules (.py files), nodes, edges, layers (the longest chain of imports, leaves
at layer 1), cycles (groups of nodes that import each other round), imports that run back up (an
edge to a node at the same or a higher layer: only a cycle has them), the nodes that read params.yaml
or the pipeline's file layout (import `params`, `schema` or `pipeline`) outside the jobs layer, the
commands and the stages (docs/architecture.md: none), and the loose modules at the top level of
src/emosteer (its package's __init__.py not counted).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def node_of(name: str, src: Path) -> str | None:
    """`emosteer.data.split` -> `data/`, `emosteer.grid` -> `grid`, `stages.x` -> `stages/`."""
    parts = name.split(".")
    if parts[0] == "stages":
        return "stages/"
    if parts[0] != "emosteer" or len(parts) < 2:
        return None
    if (src / "emosteer" / parts[1]).is_dir():
        return parts[1] + "/"
    return parts[1] if (src / "emosteer" / f"{parts[1]}.py").is_file() else None


def imported(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def graph(repo: Path) -> tuple[dict[str, set[str]], int]:
    src = repo / "src"
    files = {
        f: node_of("emosteer." + ".".join(f.relative_to(src / "emosteer").with_suffix("").parts), src)
        for f in sorted((src / "emosteer").rglob("*.py"))
        if f.name != "__init__.py" or f.parent != src / "emosteer"
    }
    files.update({f: "stages/" for f in sorted((repo / "stages").glob("*.py"))})
    edges: dict[str, set[str]] = {n: set() for n in files.values() if n}
    for f, n in files.items():
        for name in imported(f):
            target = node_of(name, src)
            if n and target and target != n:
                edges[n].add(target)
    modules = sum(1 for f in files if f.is_relative_to(src))
    return edges, modules


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layers(edges: dict[str, set[str]]) -> dict[str, int]:
    """Layer 1: imports no other node; else 1 + the highest layer it imports (cycles cut)."""
    memo: dict[str, int] = {}

    def layer(v: str, path: frozenset[str]) -> int:
        if v not in memo:
            below = [layer(w, path | {v}) for w in edges[v] if w not in path | {v}]
            memo[v] = 1 + max(below, default=0)
        return memo[v]

    return {v: layer(v, frozenset()) for v in sorted(edges)}


def main(repo: Path) -> None:
    edges, modules = graph(repo)
    level = layers(edges)
    up = [(a, b) for a in edges for b in edges[a] if level[b] >= level[a]]
    layout = {"params", "schema/", "pipeline"}
    entries = {"jobs/", "commands/", "stages/", "api"}  # api: the notebook's entry, a command's peer
    readers = sorted(v for v in edges if edges[v] & layout and v not in layout | entries)
    loose = sorted(f.name for f in (repo / "src" / "emosteer").glob("*.py") if f.name != "__init__.py")
    print(f"modules: {modules} .py files under src/emosteer")
    print(f"nodes: {len(edges)} (top-level modules and packages of src/emosteer, and stages/)")
    print(f"edges: {sum(map(len, edges.values()))}")
    print(f"layers: {max(level.values())}")
    for k in range(max(level.values()), 0, -1):
        print(f"  {k}: {' '.join(v for v in sorted(level) if level[v] == k)}")
    print(f"cycles: {len(cycles(edges))} {cycles(edges) or ''}".rstrip())
    print(f"imports running back up a layer: {len(up)} {sorted(up) or ''}".rstrip())
    outside = "read params or the file layout outside jobs, commands, stages and api"
    print(f"{outside}: {len(readers)} {readers or ''}".rstrip())
    print(f"loose top-level modules: {len(loose)} ({' '.join(loose)})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
