"""One batched unsteered sweep over every clip: predictions and the 128-d activations signals use."""

from __future__ import annotations

from typing import Any

import h5py

from emosteer import params, pipeline
from emosteer.data import features
from emosteer.model import activations, checkpoints, inference


def main(raw: dict[str, Any]) -> None:
    batch_size = params.evaluate(raw).batch_size
    model = checkpoints.load_model(pipeline.MODEL)
    names, valence, arousal = features.read_labels(pipeline.FEATURES)
    act_pass = activations.activations_pass_for(model.forward_passes)
    with h5py.File(pipeline.FEATURES, "r") as f:
        out = inference.predict(model, f["feature"], batch_size=batch_size,
                                activations_pass=act_pass, progress=True)
    activations.write(pipeline.ACTIVATIONS, activations.Activations(
        names=names, valence=valence, arousal=arousal, pred_valence=out["valence"],
        pred_arousal=out["arousal"], valence_128d=out["valence_128d"],
        arousal_128d=out["arousal_128d"], forward_passes=model.forward_passes,
        activations_pass=act_pass))


if __name__ == "__main__":
    pipeline.run(main, "extract_activations")
