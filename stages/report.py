"""Write reports/report.md and the Δr-with-CI plot data from the evaluate stages' outputs."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from emosteer import params, pipeline
from emosteer.evaluation import report
from emosteer.errors import EmosteerError


def read_group(directory: Path) -> dict[str, dict[str, Any]]:
    """{method name: metrics} of one evaluate stage, in the order the stage evaluated them."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise EmosteerError(f"{directory}: no metrics files (run its evaluate stage)")
    methods = {f.stem: pipeline.read_json(f) for f in files}
    order = {name: i for i, name in enumerate(report.LABELS)}
    return dict(sorted(methods.items(), key=lambda kv: order.get(kv[0], len(order))))


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise EmosteerError(f"{path}: no rows")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "audio_name"}


def main(raw: dict[str, Any]) -> None:
    seed = params.seed(raw)
    n_boot = params.evaluate(raw).n_boot
    train = pipeline.read_json(pipeline.METRICS / "train.json")
    baseline = pipeline.read_json(pipeline.METRICS / "baseline" / "baseline.json")
    groups = {which: read_group(pipeline.METRICS / which) for which in ("coarse", "fine")}
    controls = {}
    for which, methods in groups.items():
        preds = read_predictions(pipeline.PLOTS / "predictions" / f"{which}.csv")
        controls[which] = {name: report.against_controls(preds, name, n_boot, seed)
                           for name, m in methods.items() if m["selection"] != "control"}
    pipeline.write_csv(pipeline.PLOTS / "delta_r.csv", report.delta_rows(groups))
    text = report.render(train, baseline, groups, controls)
    pipeline.write_text(pipeline.REPORT, text)


if __name__ == "__main__":
    pipeline.run(main, "report")
