"""Train the model on the train split (best epoch on dev), or adopt a trained checkpoint."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch

from emosteer import params, pipeline
from emosteer.data import features, split
from emosteer.model import checkpoints
from emosteer.model import train as training
from emosteer.model.lrm import EmotionLRM


def main(raw: dict[str, Any]) -> None:
    seed = params.seed(raw)
    mp = params.model(raw)
    tp = params.train(raw)
    names, valence, arousal = features.read_labels(pipeline.FEATURES)
    parts = split.read_split(pipeline.SPLIT, len(names))
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    if mp.trained_checkpoint:
        model = checkpoints.load_model(mp.trained_checkpoint)
        model.forward_passes = mp.forward_passes
        meta: dict[str, Any] = {"source": f"trained checkpoint {mp.trained_checkpoint}", "best_epoch": 0}
    else:
        torch.manual_seed(seed)
        model = EmotionLRM(forward_passes=mp.forward_passes, freeze_backbone=mp.freeze_backbone,
                           train_bn0=mp.train_bn0, train_fc1=mp.train_fc1)
        train_idx = np.asarray(parts["train"], dtype=np.int64)
        dev_idx = np.asarray(parts["dev"], dtype=np.int64)
        x_train = features.read_features(pipeline.FEATURES, train_idx)
        x_dev = features.read_features(pipeline.FEATURES, dev_idx)
        labels = np.stack([valence, arousal], axis=1).astype(np.float32)
        if mp.panns_checkpoint:
            checkpoints.load_panns_backbone(model, mp.panns_checkpoint)
            init = f"PANNs backbone {mp.panns_checkpoint}"
        else:
            training.calibrate_batchnorm(model, x_train, tp.batch_size)
            init = "random backbone, BatchNorm statistics from the training clips"
        cfg = training.TrainConfig(epochs=tp.epochs, batch_size=tp.batch_size,
                                   learning_rate=tp.learning_rate, mixup=tp.mixup,
                                   loss_passes=tp.loss_passes, seed=seed)
        result = training.train(model, x_train, labels[train_idx], x_dev, labels[dev_idx], cfg)
        history = result.history
        meta = {"source": f"trained here ({init})", "best_epoch": result.best_epoch}
    best = next((h for h in history if h["epoch"] == meta["best_epoch"]), {})
    meta.update({"seed": seed, "n_train": len(parts["train"]), "n_dev": len(parts["dev"]),
                 "forward_passes": mp.forward_passes, "epochs_run": len(history),
                 "dev_r_valence": best.get("dev_r_valence", float("nan")),
                 "dev_r_arousal": best.get("dev_r_arousal", float("nan"))})
    # The wall time is printed, not stored: in the checkpoint or the metrics it would make equal
    # runs differ, and a rerun in a fresh clone would leave dvc.lock modified for nothing.
    checkpoints.save_model(model, pipeline.MODEL, meta)
    pipeline.write_json(pipeline.METRICS / "train.json", meta, digits=4)
    columns = ("epoch", "train_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean")
    pipeline.write_csv(pipeline.PLOTS / "train_history.csv",
                       {c: [h[c] for h in history] for c in columns})
    print(f"train: {time.perf_counter() - started:.0f} s, best epoch {meta['best_epoch']}", file=sys.stderr)


if __name__ == "__main__":
    pipeline.run(main, "train")
