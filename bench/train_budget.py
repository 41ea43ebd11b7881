"""What a training budget buys: wall time of the train stage's work and the validation Pearson r.

Trains EmotionLRM exactly as the pipeline's train stage does (same split, BatchNorm calibration,
best epoch on dev), for one (epochs, batch size, learning rate, seed) setting on a features file,
then scores the unsteered 2-pass model on the validation split. This is how the default training
budget in params.yaml was chosen; one line per run, so settings can be compared side by side.

    python bench/train_budget.py data/features.h5 --epochs 5 --batch-size 8 --lr 0.003 --seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from emosteer import features, split
from emosteer import train as training
from emosteer.constants import COARSE_GRID
from emosteer.inference import predict
from emosteer.model import EmotionLRM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frozen-bn0", action="store_true", help="do not train bn0's affine")
    args = ap.parse_args()

    names, valence, arousal = features.read_labels(args.features)
    parts = split.make_split(names, valence, arousal, val_fraction=0.3, dev_fraction=0.15,
                             seed=args.seed, mode="group", stratify_grid=COARSE_GRID)
    labels = np.stack([valence, arousal], axis=1).astype(np.float32)
    idx = {k: np.asarray(parts[k], dtype=np.int64) for k in ("train", "dev", "val")}
    x = {k: features.read_features(args.features, idx[k]) for k in idx}

    torch.manual_seed(args.seed)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=not args.frozen_bn0,
                       train_fc1=True)
    started = time.perf_counter()
    training.calibrate_batchnorm(model, x["train"], args.batch_size)
    cfg = training.TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                               learning_rate=args.lr, mixup=False, seed=args.seed, progress=False)
    result = training.train(model, x["train"], labels[idx["train"]], x["dev"], labels[idx["dev"]], cfg)
    seconds = time.perf_counter() - started
    pred = predict(model, x["val"], batch_size=32, forward_passes=2)
    r_v = np.corrcoef(pred["valence"], labels[idx["val"], 0])[0, 1]
    r_a = np.corrcoef(pred["arousal"], labels[idx["val"], 1])[0, 1]
    dev = " ".join(f"{h['dev_r_mean']:.2f}" for h in result.history)
    print(f"{args.features} T={x['train'].shape[1]} n_train={len(idx['train'])} "
          f"epochs={args.epochs} batch={args.batch_size} lr={args.lr} seed={args.seed} "
          f"bn0={'frozen' if args.frozen_bn0 else 'trained'}: best epoch {result.best_epoch}, "
          f"val r {r_v:.3f} / {r_a:.3f}, train {seconds:.0f} s, dev mean r per epoch [{dev}]",
          flush=True)


if __name__ == "__main__":
    main()
