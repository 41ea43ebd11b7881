"""What a training budget buys: wall time of the train stage's work and the validation Pearson r.

Trains EmotionLRM as the pipeline's train stage does (the split, model and training settings of
params.yaml, BatchNorm calibration, last epoch kept), with epochs, batch size, learning rate and
seed overridable, on a features file; then scores the unsteered model on the validation split.
This is how the default training budget in params.yaml was chosen; one line per run, so settings
can be compared side by side.

    python bench/train_budget.py data/features.h5 --epochs 5 --batch-size 8 --lr 0.003 --seed 0

The training knobs params.yaml may not carry yet (cache_first_pass, head_epochs, lr_schedule,
warmup_steps) are flags here; without them, today's eager training.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from emosteer.constants import COARSE_GRID
from emosteer.correlation import pearson
from emosteer.data import features, split
from emosteer.model import train as training
from emosteer.model.config import settings
from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM
from emosteer.runtime import set_threads
from emosteer.schema import params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    ap.add_argument("--params", default=params.PARAMS_FILE, help="params.yaml to read (default: ./params.yaml)")
    ap.add_argument("--epochs", type=int, help="default: train.epochs")
    ap.add_argument("--batch-size", type=int, help="default: train.batch_size")
    ap.add_argument("--lr", type=float, help="default: train.learning_rate")
    ap.add_argument("--seed", type=int, help="default: the first of seeds")
    ap.add_argument("--frozen-bn0", action="store_true", help="do not train bn0's affine")
    ap.add_argument("--cache-first-pass", action="store_true", help="pass 1 once per clip (needs --frozen-bn0)")
    ap.add_argument("--head-epochs", type=int, default=0)
    ap.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--lrm-zero-init", action="store_true", help="zero the ModBlocks' output layers first")
    ap.add_argument("--threads", type=int, default=0, help="torch/BLAS threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        set_threads(args.threads)
    p = params.load(args.params)
    sp, mp, tp = p.split, p.model, p.train
    seed = p.seeds[0] if args.seed is None else args.seed
    epochs = tp.epochs if args.epochs is None else args.epochs
    batch_size = tp.batch_size if args.batch_size is None else args.batch_size
    lr = tp.learning_rate if args.lr is None else args.lr

    names, valence, arousal = features.read_labels(args.features)
    parts = split.make_split(
        names,
        valence,
        arousal,
        val_fraction=sp.val_fraction,
        dev_fraction=sp.dev_fraction,
        seed=seed,
        mode=sp.mode,
        stratify_grid=COARSE_GRID if sp.stratify else None,
    )
    labels = np.stack([valence, arousal], axis=1).astype(np.float32)
    idx = {k: np.asarray(parts[k], dtype=np.int64) for k in ("train", "dev", "val")}
    x = {k: features.read_features(args.features, idx[k]) for k in idx}

    torch.manual_seed(seed)
    model = EmotionLRM(
        forward_passes=mp.forward_passes,
        freeze_backbone=mp.freeze_backbone,
        train_bn0=mp.train_bn0 and not args.frozen_bn0,
        train_fc1=mp.train_fc1,
    )
    started = time.perf_counter()
    training.calibrate_batchnorm(model, x["train"], batch_size)
    cfg = settings(
        **{
            **tp.model_dump(),
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": lr,
            "amsgrad": True,
            "cache_first_pass": args.cache_first_pass,
            "head_epochs": args.head_epochs,
            "lr_schedule": args.lr_schedule,
            "warmup_steps": args.warmup_steps,
            "lrm_zero_init": args.lrm_zero_init,
        }
    )
    result = training.train(model, x["train"], labels[idx["train"]], x["dev"], labels[idx["dev"]], cfg, seed=seed)
    seconds = time.perf_counter() - started
    pred = predict(model, x["val"], batch_size=32)
    r_v = pearson(labels[idx["val"], 0], pred["valence"])
    r_a = pearson(labels[idx["val"], 1], pred["arousal"])
    dev = " ".join(f"{h['dev_r_mean']:.2f}" for h in result.history)
    print(
        f"{args.features} T={x['train'].shape[1]} n_train={len(idx['train'])} "
        f"epochs={epochs} batch={batch_size} lr={lr} seed={seed} "
        f"bn0={'trained' if model.train_bn0 else 'frozen'} cache={args.cache_first_pass} "
        f"head_epochs={args.head_epochs} sched={args.lr_schedule} warmup={args.warmup_steps} zero_lrm={args.lrm_zero_init} "  # noqa: E501 (a message: one line, so a user can grep for it)
        f"threads={torch.get_num_threads()}: "
        f"val r {r_v:.3f} / {r_a:.3f}, train {seconds:.0f} s, dev mean r per epoch [{dev}]",
        flush=True,
    )


if __name__ == "__main__":
    main()
