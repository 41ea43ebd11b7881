"""The pooled results as the pipeline lays them out (metrics/pooled/<group>/<method>.json: each
grid's group named by it, `5x5`, then control and feedback), read for the report stage and the
`emosteer verdicts` command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emosteer.errors import EmosteerError
from emosteer.evaluation import report
from emosteer.jsonsafe import read_metrics


def read_pooled(directory: Path, grids: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{group: {method: pooled metrics}} from metrics/pooled/<group>/<method>.json, methods in LABELS
    order: the `grids` given (the run's, `jobs.grids`), or every grid folder found, fewest bins
    first; then control and feedback."""
    order = {name: i for i, name in enumerate(report.LABELS)}
    out = {}
    for which in (*(grid_folders(directory) if grids is None else grids), *report.AFTER_GRIDS):
        files = sorted((directory / which).glob("*.json"), key=lambda f: order.get(f.stem, len(order)))
        if not files and which in report.OPTIONAL:
            continue
        if not files:
            raise EmosteerError(f"{directory / which}: no pooled metrics (run its evaluate stage)")
        out[which] = {}
        for f in files:
            out[which][f.stem] = read_metrics(f)
    return out


def grid_folders(directory: Path) -> list[str]:
    """The grid groups in `directory`: every folder but control and feedback that holds pooled
    metrics, fewest bins first (each file records its grid's `bins`)."""
    found = []
    for folder in sorted(d for d in directory.iterdir() if d.is_dir()) if directory.is_dir() else []:
        files = sorted(folder.glob("*.json"))
        if folder.name not in report.AFTER_GRIDS and files:
            found.append((read_metrics(files[0]).get("bins", 0), folder.name))
    return [name for _, name in sorted(found)]
