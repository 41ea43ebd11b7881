"""Unsteered predictions on the validation split: the reference every steered variant is scored against."""

from __future__ import annotations

from typing import Any

import numpy as np

from emosteer import pipeline
from emosteer.data import split
from emosteer.evaluation import evaluate
from emosteer.model import activations


def main(raw: dict[str, Any]) -> None:
    acts = activations.read(pipeline.ACTIVATIONS)
    val = np.asarray(split.read_split(pipeline.SPLIT, len(acts.names))["val"], dtype=np.int64)
    y_v, y_a = acts.valence[val], acts.arousal[val]
    p_v, p_a = acts.pred_valence[val], acts.pred_arousal[val]
    metrics = {"method": "baseline", "selection": "none", "grid": 0, "bins": 0,
               "forward_passes": acts.forward_passes, "n": int(len(val))}
    metrics.update(evaluate.baseline_metrics(y_v, y_a, p_v, p_a))
    pipeline.write_json(pipeline.METRICS / "baseline" / "baseline.json", metrics)
    pipeline.write_csv(pipeline.PLOTS / "predictions" / "baseline.csv",
                       {"audio_name": [acts.names[i] for i in val], "true_valence": y_v,
                        "true_arousal": y_a, "baseline_valence": p_v, "baseline_arousal": p_a})


if __name__ == "__main__":
    pipeline.run(main, "evaluate_baseline")
