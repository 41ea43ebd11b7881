"""Steered predictions on the validation split for one grid: `coarse` (9-bin) or `fine` (`grid`).

For every variant (oracle / predicted selection x categorical / idw / bilinear, and the shuffled
and global-mean controls) the strength is picked on the dev split from `steering.strengths`
(unless `steering.strength` is a number), then the variant is scored once on the validation split.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from emosteer import params, pipeline
from emosteer.data import features
from emosteer.evaluation import evaluate
from emosteer.model import activations, checkpoints, inference
from emosteer.data import split
from emosteer.steering import signals
from emosteer.errors import EmosteerError


def clips_of(acts: activations.Activations, idx: np.ndarray) -> evaluate.Clips:
    return evaluate.Clips(valence=acts.valence[idx], arousal=acts.arousal[idx],
                          pred_valence=acts.pred_valence[idx], pred_arousal=acts.pred_arousal[idx],
                          features=features.read_features(pipeline.FEATURES, idx))


def main(raw: dict[str, Any], which: str) -> None:
    seed = params.seed(raw)
    size = params.steering(raw).coarse_grid if which == "coarse" else params.grid(raw)
    steer = params.steering(raw)
    ev = params.evaluate(raw)
    acts = activations.read(pipeline.ACTIVATIONS)
    parts = split.read_split(pipeline.SPLIT, len(acts.names))
    table = signals.read_h5(pipeline.SIGNALS / f"{which}.h5")
    if table.grid.size != size:
        raise EmosteerError(
            f"{pipeline.SIGNALS / f'{which}.h5'}: grid {table.grid.size} != params {size}; rerun bin_and_aggregate")
    model = checkpoints.load_model(pipeline.MODEL)
    model.forward_passes = acts.forward_passes

    def predict(x: np.ndarray, sv: np.ndarray, sa: np.ndarray, strength: float):
        out = inference.predict(model, x, batch_size=ev.batch_size, steer_valence=sv,
                                steer_arousal=sa, strength=strength, alpha=steer.alpha,
                                first_pass=steer.first_pass)
        return out["valence"], out["arousal"]

    dev = clips_of(acts, np.asarray(parts["dev"], dtype=np.int64))
    val_idx = np.asarray(parts["val"], dtype=np.int64)
    val = clips_of(acts, val_idx)
    curves: dict[str, list[float]] = {}
    predictions: dict[str, Any] = {"audio_name": [acts.names[i] for i in val_idx],
                                   "true_valence": val.valence, "true_arousal": val.arousal}
    for variant in evaluate.variants(ev.bilinear):
        curves[variant.name] = evaluate.strength_curve(
            predict, dev, evaluate.steering_signals(variant, table, dev, seed), steer.strengths)
        if steer.strength == "dev":
            strength, chosen_on = evaluate.pick_strength(steer.strengths, curves[variant.name]), "dev"
        else:
            strength, chosen_on = float(steer.strength), "params"
        v, a = predict(val.features, *evaluate.steering_signals(variant, table, val, seed), strength)
        metrics = {"method": variant.name, "selection": variant.selection,
                   "uses_true_labels": variant.uses_true_labels, "grid": size, "bins": size * size,
                   "strength": strength, "strength_chosen_on": chosen_on, "n": int(len(val_idx))}
        metrics.update(evaluate.score(val, v, a, n_boot=ev.n_boot, seed=seed))
        pipeline.write_json(pipeline.METRICS / which / f"{variant.name}.json", metrics)
        predictions[f"{variant.name}_valence"] = v
        predictions[f"{variant.name}_arousal"] = a
    pipeline.write_csv(pipeline.PLOTS / "strength" / f"{which}.csv",
                       {"strength": list(steer.strengths), **curves})
    pipeline.write_csv(pipeline.PLOTS / "predictions" / f"{which}.csv", predictions)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("coarse", "fine"))
    which = parser.parse_args().which
    pipeline.run(lambda raw: main(raw, which), f"evaluate_{'9bin' if which == 'coarse' else '25bin'}")
