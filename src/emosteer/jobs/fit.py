"""One seed's model: train it on its train part, or adopt a trained checkpoint.

Each job is a module-level `job(seed, params)` so `seeds.SeedPool` can run it in a worker process:
it reads the seed's files (`pipeline.SeedPaths`), hands arrays and settings to `emosteer.model`,
and writes what comes back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from emosteer.data import features, split
from emosteer.digest import file_sha256
from emosteer.model import checkpoints
from emosteer.model import train as training
from emosteer.model.lrm import EmotionLRM
from emosteer.pipeline import FEATURES, SeedPaths, write_json
from emosteer.runtime import machine_facts, resolve_device
from emosteer.schema.base import Stage
from emosteer.schema.data import Data
from emosteer.schema.model import Model, Train

log = logging.getLogger(__name__)


class TrainParams(Stage):
    """What train reads of params.yaml (its DVC deps are these section files, not the rest)."""

    data: Data
    model: Model
    train: Train


def train_seed(seed: int, p: TrainParams) -> dict[str, Any]:
    """Train the seed's model on its train part (dev r recorded per epoch; the last epoch's weights
    are kept), or adopt a trained checkpoint."""
    paths = SeedPaths(seed)
    names, valence, arousal = features.read_labels(FEATURES)
    parts = split.read_parts(paths.split, len(names))
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    mp, tp = p.model, p.train
    if mp.trained_checkpoint:
        model = checkpoints.load_model(mp.trained_checkpoint, mp.forward_passes)
        meta: dict[str, Any] = {"source": f"trained checkpoint {mp.trained_checkpoint}",
                                "ignored_params": "train.*"}
    else:
        torch.manual_seed(seed)
        device = resolve_device(p.device)
        model = EmotionLRM(forward_passes=mp.forward_passes, freeze_backbone=mp.freeze_backbone,
                           train_bn0=mp.train_bn0, train_fc1=mp.train_fc1,
                           spec_augment=mp.spec_augment)
        train_idx, dev_idx = parts["train"], parts["dev"]
        x_train = features.read_features(FEATURES, train_idx)
        x_dev = features.read_features(FEATURES, dev_idx)
        labels = np.stack([valence, arousal], axis=1).astype(np.float32)
        if mp.panns_checkpoint:
            checkpoints.load_panns_backbone(model, mp.panns_checkpoint)
            init = f"PANNs backbone {mp.panns_checkpoint}"
        else:
            training.calibrate_batchnorm(model, x_train, tp.batch_size, device=device)
            init = "random backbone, BatchNorm statistics from the training clips"
        # bars only when seeds run one after another (workers would interleave them)
        result = training.train(model, x_train, labels[train_idx], x_dev, labels[dev_idx], tp,
                                seed=seed, progress=min(p.workers, len(p.seeds)) <= 1,
                                device=device, amp=p.amp)
        history = result.history
        meta = {"source": f"trained here ({init})", "heads": tp.heads, "optimizer": tp.optimizer}
    last = history[-1] if history else {}
    # frontend and frames: what `emosteer predict --audio` must compute to feed this model.
    meta.update({"seed": seed, "n_train": len(parts["train"]), "n_dev": len(parts["dev"]),
                 "forward_passes": mp.forward_passes, "epochs_run": len(history),
                 "frontend": p.data.frontend, "frames": p.data.frames,
                 "dev_r_valence": last.get("dev_r_valence", float("nan")),
                 "dev_r_arousal": last.get("dev_r_arousal", float("nan"))})
    checkpoints.save_model(model, paths.model, meta)
    write_json(paths.train_metrics, {**meta, **checkpoint_facts(p), "machine": machine_facts(p.threads)},
               digits=4)
    # The wall time is printed, not stored: stored, it would make equal runs differ in bytes.
    log.info(f"seed {seed}: {time.perf_counter() - started:.0f} s, {len(history)} epochs")
    return {**meta, "history": history}


def checkpoint_facts(p: TrainParams) -> dict[str, str | None]:
    """The checkpoint a seed's model came from and the sha256 of its bytes (null: none given; a
    trained checkpoint wins over a PANNs one, which it then ignores)."""
    mp = p.model
    kind = "trained_checkpoint" if mp.trained_checkpoint else "panns_checkpoint"
    path = getattr(mp, kind)
    return {kind: path, f"{kind}_sha256": file_sha256(path) if path else None}


HISTORY_COLUMNS = ("epoch", "train_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean")


def history_columns(results: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Training curves of every seed, long format (seed, epoch, loss, dev r) for one plot file."""
    cols: dict[str, list[Any]] = {"seed": [], **{c: [] for c in HISTORY_COLUMNS}}
    for meta in results:
        for h in meta["history"]:
            cols["seed"].append(meta["seed"])
            for c in HISTORY_COLUMNS:
                cols[c].append(h[c])
    return cols
