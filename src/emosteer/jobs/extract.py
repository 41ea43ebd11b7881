"""One seed's unsteered sweep over every clip (predictions and the 128-d that signals use, and the
one-pass twin's predictions where the train stage trained one), and the seed's trained model as the
later stages load it."""

from __future__ import annotations

from emosteer.data import features
from emosteer.model import activations, checkpoints, inference
from emosteer.model.lrm import EmotionLRM
from emosteer.pipeline import FEATURES, SeedPaths
from emosteer.runtime import resolve_device
from emosteer.schema.base import Stage
from emosteer.schema.evaluate import Evaluate
from emosteer.schema.model import Model


class ExtractParams(Stage):
    """What extract_activations reads of params.yaml: the model's passes and evaluate.batch_size."""

    model: Model
    evaluate: Evaluate


def load_seed_model(paths: SeedPaths, forward_passes: int, device: str) -> EmotionLRM:
    """The seed's trained model, with the passes it was trained with (refused if params differ)."""
    model = checkpoints.load_model(paths.model, forward_passes, " (rerun train, or set it to match)")
    return model.to(resolve_device(device))


def extract_seed(seed: int, p: ExtractParams) -> None:
    """One batched unsteered sweep over every clip: predictions and the 128-d that signals use."""
    paths = SeedPaths(seed)
    model = load_seed_model(paths, p.model.forward_passes, p.device)
    names, valence, arousal = features.read_labels(FEATURES)
    act_pass = activations.activations_pass_for(model.forward_passes)
    twin = None
    with features.open_h5(FEATURES) as f:
        out = inference.predict(
            model,
            f["feature"],
            batch_size=p.evaluate.batch_size,
            activations_pass=act_pass,
            device=resolve_device(p.device),
            amp=p.amp,
        )
        if model.forward_passes > 1 and paths.model_one_pass.exists():
            one_pass = checkpoints.load_model(paths.model_one_pass, 1, " (rerun train)")
            twin = inference.predict(
                one_pass.to(resolve_device(p.device)),
                f["feature"],
                batch_size=p.evaluate.batch_size,
                device=resolve_device(p.device),
                amp=p.amp,
            )
    activations.write(
        paths.activations,
        activations.Activations(
            names=names,
            valence=valence,
            arousal=arousal,
            pred_valence=out["valence"],
            pred_arousal=out["arousal"],
            valence_128d=out["valence_128d"],
            arousal_128d=out["arousal_128d"],
            forward_passes=model.forward_passes,
            activations_pass=act_pass,
            pass1_valence=out["valence_pass1"],
            pass1_arousal=out["arousal_pass1"],
            one_pass_valence=None if twin is None else twin["valence"],
            one_pass_arousal=None if twin is None else twin["arousal"],
        ),
    )
