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
    """Train the seed's model on its train part (dev loss and r recorded per epoch; the epoch kept
    as `train.patience` says), and beside it the one-pass twin; or adopt a trained checkpoint."""
    paths = SeedPaths(seed)
    names, valence, arousal = features.read_labels(FEATURES)
    parts = split.read_parts(paths.split, len(names))
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    mp, tp = p.model, p.train
    twin: dict[str, Any] | None = None
    if mp.trained_checkpoint:
        model = checkpoints.load_model(mp.trained_checkpoint, mp.forward_passes)
        meta: dict[str, Any] = {"source": f"trained checkpoint {mp.trained_checkpoint}", "ignored_params": "train.*"}
    else:
        torch.manual_seed(seed)
        device = resolve_device(p.device)
        model = _build(mp, mp.forward_passes)
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
        # The one-pass twin starts from this model's weights: same split, initialisation, budget;
        # with a frozen backbone both read the same pass 1, computed once.
        one_pass, cached = None, None
        if mp.forward_passes > 1:
            one_pass = _build(mp, 1)
            one_pass.load_state_dict(model.state_dict())
            if tp.closed_form or tp.cache_first_pass:
                cached = training.first_pass(model, x_train, x_dev, tp.batch_size, device, p.amp)
        # bars only when seeds run one after another (workers would interleave them)
        progress = min(p.workers, len(p.seeds)) <= 1

        def fit(m: EmotionLRM, keep_start: bool) -> training.TrainResult:
            return training.train(
                m,
                x_train,
                labels[train_idx],
                x_dev,
                labels[dev_idx],
                tp,
                seed=seed,
                progress=progress,
                device=device,
                amp=p.amp,
                cached=cached,
                keep_start=keep_start,
            )

        # The model's LRM at its start is no feedback: it keeps a trained epoch. The twin's start is
        # a model (the closed-form read-out), which its fine-tuning must beat on dev to replace.
        result = fit(model, keep_start=False)
        history = result.history
        meta = {"source": f"trained here ({init})", "heads": tp.heads, "optimizer": tp.optimizer, **_kept(result)}
        if one_pass is not None:
            twin_result = fit(one_pass, keep_start=True)
            twin = {
                "forward_passes": 1,
                **_kept(twin_result),
                **_kept_r(twin_result.history, twin_result.kept_epoch),
                "history": twin_result.history,
            }
            checkpoints.save_model(
                one_pass,
                paths.model_one_pass,
                {
                    "source": f"one-pass twin of {paths.model}, trained here ({init})",
                    "heads": tp.heads,
                    "optimizer": tp.optimizer,
                    "seed": seed,
                    "forward_passes": 1,
                    "frontend": p.data.frontend,
                    "frames": p.data.frames,
                    **_kept(twin_result),
                },
            )
    # frontend and frames: what `emosteer predict --audio` must compute to feed this model.
    meta.update(
        {
            "seed": seed,
            "n_train": len(parts["train"]),
            "n_dev": len(parts["dev"]),
            "forward_passes": mp.forward_passes,
            "epochs_run": sum(h["epoch"] > 0 for h in history),
            "frontend": p.data.frontend,
            "frames": p.data.frames,
            **_kept_r(history, meta.get("kept_epoch")),
        }
    )
    checkpoints.save_model(model, paths.model, meta)
    facts = {**meta, **checkpoint_facts(p), "machine": machine_facts(p.threads)}
    if twin is not None:
        facts["one_pass"] = {k: v for k, v in twin.items() if k != "history"}
    write_json(paths.train_metrics, facts, digits=4)
    # The wall time is printed, not stored: stored, it would make equal runs differ in bytes.
    log.info(
        f"seed {seed}: {time.perf_counter() - started:.0f} s, {meta['epochs_run']} epochs, "
        f"kept epoch {meta.get('kept_epoch', '-')}"
    )
    return {**meta, "history": history, "one_pass": twin}


def _build(mp: Model, forward_passes: int) -> EmotionLRM:
    return EmotionLRM(
        forward_passes=forward_passes,
        freeze_backbone=mp.freeze_backbone,
        train_bn0=mp.train_bn0,
        train_fc1=mp.train_fc1,
        spec_augment=mp.spec_augment,
    )


def _kept(result: training.TrainResult) -> dict[str, Any]:
    """Which epoch's weights the model kept and why training ended."""
    return {"kept_epoch": result.kept_epoch, "stopped": result.stopped}


def _kept_r(history: list[dict[str, float]], kept_epoch: int | None) -> dict[str, float]:
    """Dev r of the kept weights: the kept epoch's row (nan without training)."""
    row = next((h for h in history if h["epoch"] == kept_epoch), {})
    return {
        "dev_r_valence": row.get("dev_r_valence", float("nan")),
        "dev_r_arousal": row.get("dev_r_arousal", float("nan")),
    }


def checkpoint_facts(p: TrainParams) -> dict[str, str | None]:
    """The checkpoint a seed's model came from and the sha256 of its bytes (null: none given; a
    trained checkpoint wins over a PANNs one, which it then ignores)."""
    mp = p.model
    kind = "trained_checkpoint" if mp.trained_checkpoint else "panns_checkpoint"
    path = getattr(mp, kind)
    return {kind: path, f"{kind}_sha256": file_sha256(path) if path else None}


HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_r_valence", "dev_r_arousal", "dev_r_mean")


def history_columns(results: list[dict[str, Any]], one_pass: bool = False) -> dict[str, list[Any]]:
    """Training curves of every seed, long format (seed, epoch, losses, dev r, whether the model
    kept that epoch's weights) for one plot file: the models', or with `one_pass` their one-pass
    twins'. Epoch 0 (the start, scored with `train.patience`) has no training loss."""
    cols: dict[str, list[Any]] = {"seed": [], **{c: [] for c in HISTORY_COLUMNS}, "kept": []}
    for meta in results:
        run = meta["one_pass"] if one_pass else meta
        if run is None:
            continue
        rows, kept = run["history"], run.get("kept_epoch")
        for h in rows:
            cols["seed"].append(meta["seed"])
            for c in HISTORY_COLUMNS:
                cols[c].append(h[c])
            cols["kept"].append(int(h["epoch"] == kept))
    return cols
