"""The pooled results as the pipeline lays them out (metrics/pooled/<grid>/<method>.json), read for
the report stage and the `emosteer verdicts` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emosteer.errors import EmosteerError
from emosteer.evaluation import report
from emosteer.jsonsafe import read_metrics


def read_pooled(directory: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{grid: {method: pooled metrics}} from metrics/pooled/<grid>/<method>.json, in LABELS order."""
    order = {name: i for i, name in enumerate(report.LABELS)}
    out = {}
    for which in report.GRIDS:
        files = sorted((directory / which).glob("*.json"), key=lambda f: order.get(f.stem, len(order)))
        if not files and which in report.OPTIONAL:
            continue
        if not files:
            raise EmosteerError(f"{directory / which}: no pooled metrics (run its evaluate stage)")
        out[which] = {}
        for f in files:
            out[which][f.stem] = read_metrics(f)
    return out
