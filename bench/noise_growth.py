"""How far training carries a float-rounding difference: the same seed trained with 1 and 2 threads.

The thread count changes the order of float reductions (as another CPU's kernels do), so the two
runs start from inputs that differ by rounding only. This trains both the way the train stage does
(params.yaml's split and settings for one seed, BatchNorm calibration, the cached pass 1, head
epochs) and prints, after chosen head epochs and after the full training, the largest difference
between the two runs' validation predictions, next to the predictions' sd and both runs' val r.

    python bench/noise_growth.py data/features.h5 --seed 0            # params.yaml's recipe
    python bench/noise_growth.py data/features.h5 --seed 0 --trained-heads --report-heads 1 5 60

With params.yaml's `train.heads: ridge` it reports after the closed-form read-out and after the
full training. `--trained-heads` measures the gradient-trained heads instead (Adam, the defaults
before the ridge read-out: lr 0.003, 60 head epochs, dropout on), stepped head epoch by head epoch,
with variants to see whether a change of optimiser tames the growth: `--eps 1e-4` (Adam's
epsilon), `--sgd [--lr 0.001]` (SGD with momentum 0.9), `--no-dropout`.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from emosteer.correlation import pearson
from emosteer.data import features, split
from emosteer.model import readout
from emosteer.model import train as training
from emosteer.model.config import settings
from emosteer.model.lrm import EmotionLRM
from emosteer.runtime import set_threads
from emosteer.schema import params

TRAINED_LR = 0.003  # Adam's learning rate in the gradient-trained-heads defaults


class Run:
    """One seed's training at one thread count, stepped phase by phase."""

    def __init__(self, args: argparse.Namespace, p: params.Params, data: dict, threads: int) -> None:
        set_threads(threads)
        tp = p.train
        torch.manual_seed(args.seed)
        self.model = EmotionLRM(
            forward_passes=p.model.forward_passes,
            freeze_backbone=True,
            train_bn0=False,
            train_fc1=p.model.train_fc1,
            spec_augment=False,
        )
        if args.no_dropout:
            self.model.embed_dropout = 0.0
            self.model.block_dropout = 0.0
        self.data = data
        training.calibrate_batchnorm(self.model, data["x_train"], tp.batch_size)
        # The train stage's settings; head epochs are stepped here one at a time.
        self.cfg = settings(**{**tp.model_dump(), "mixup": False, "cache_first_pass": True, "head_epochs": 0})
        if args.trained_heads:
            self.cfg = settings(
                **{**self.cfg.model_dump(), "heads": "trained", "optimizer": "adam", "learning_rate": TRAINED_LR}
            )
        self.seed = args.seed
        self.run = training._Run(self.model, self.cfg, torch.device("cpu"), "off", len(data["x_train"]))
        trainable = [q for q in self.model.parameters() if q.requires_grad]
        if args.sgd:
            self.run.optimizer = torch.optim.SGD(trainable, lr=args.lr or tp.learning_rate, momentum=0.9)
        elif args.eps is not None:
            self.run.optimizer = torch.optim.Adam(trainable, lr=tp.learning_rate, amsgrad=tp.amsgrad, eps=args.eps)
        self.cache = self.run.first_pass_cache(data["x_train"])
        self.cache_val = self.run.first_pass_cache(data["x_val"])
        self.y = torch.as_tensor(data["y_train"])
        self.rngs = (np.random.RandomState(args.seed), np.random.RandomState(args.seed + 1))
        self.torch_rng = torch.Generator().manual_seed(args.seed)
        self.threads = threads

    def heads_epoch(self) -> None:
        set_threads(self.threads)
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.torch_rng.get_state())
            self.run.epoch(self.data["x_train"], self.y, *self.rngs, "heads", self.cache, heads_only=True)
            self.torch_rng.set_state(torch.get_rng_state())

    def ridge_training(self) -> None:
        """The train stage's recipe in one call: closed-form read-out, then the LRM."""
        set_threads(self.threads)
        training.train(
            self.model,
            self.data["x_train"],
            self.data["y_train"],
            self.data["x_train"][:8],
            self.data["y_train"][:8],
            self.cfg,
            seed=self.seed,
        )

    def full_training(self) -> None:
        set_threads(self.threads)
        self.run.start_schedule()
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.torch_rng.get_state())
            for _ in range(self.cfg.epochs):
                self.run.epoch(self.data["x_train"], self.y, *self.rngs, "epoch", self.cache, heads_only=False)

    def predict_val(self, full: bool) -> np.ndarray:
        set_threads(self.threads)
        self.model.eval()
        with torch.no_grad():
            if full:
                out = self.model(torch.as_tensor(self.data["x_val"]))
            else:
                out = self.model._heads(self.cache_val)
        self.model.train()
        return np.stack([out["valence"].numpy(), out["arousal"].numpy()], axis=1)


def compare(label: str, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> None:
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        print(f"{label:>22}: training diverged (non-finite predictions)", flush=True)
        return
    r = [f"{pearson(y[:, d], pred[:, d]):.3f}" for pred in (a, b) for d in (0, 1)]
    print(
        f"{label:>22}: max |diff| {np.abs(a - b).max():.2e}  (pred sd {a.std():.3f})  "
        f"val r 1 thread {r[0]}/{r[1]}, 2 threads {r[2]}/{r[3]}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    ap.add_argument("--params", default=params.PARAMS_FILE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--report-heads",
        type=int,
        nargs="+",
        default=[1, 5, 60],
        help="head epochs after which to compare (the last also sets how many run)",
    )
    ap.add_argument("--eps", type=float, help="Adam's epsilon (default: torch's 1e-8)")
    ap.add_argument("--sgd", action="store_true", help="SGD with momentum 0.9 instead of Adam")
    ap.add_argument("--lr", type=float, help="SGD's learning rate (default: train.learning_rate)")
    ap.add_argument("--no-dropout", action="store_true")
    ap.add_argument("--heads-only", action="store_true", help="stop after the head epochs")
    ap.add_argument(
        "--trained-heads",
        action="store_true",
        help="gradient-trained heads (Adam) instead of params.yaml's ridge read-out",
    )
    args = ap.parse_args()
    p = params.load(args.params)
    names, valence, arousal = features.read_labels(args.features)
    parts = split.make_split(
        names,
        valence,
        arousal,
        val_fraction=p.split.val_fraction,
        dev_fraction=p.split.dev_fraction,
        seed=args.seed,
        mode=p.split.mode,
        stratify_grid=p.steering.grids[0] if p.split.stratify else None,
    )
    labels = np.stack([valence, arousal], axis=1).astype(np.float32)
    data = {
        "x_train": features.read_features(args.features, np.asarray(parts["train"])),
        "y_train": labels[parts["train"]],
        "x_val": features.read_features(args.features, np.asarray(parts["val"])),
        "y_val": labels[parts["val"]],
    }
    runs = [Run(args, p, data, threads) for threads in (1, 2)]
    feats = [r.cache_val.numpy() for r in runs]
    print(
        f"{'pass-1 features':>22}: max |diff| {np.abs(feats[0] - feats[1]).max():.2e}  "
        f"(max |value| {np.abs(feats[0]).max():.1f})",
        flush=True,
    )
    if not args.trained_heads and p.train.heads == "ridge":
        for r in runs:
            set_threads(r.threads)
            readout.fit_readout(r.model, r.cache, data["y_train"], p.train.ridge_lambda)
        compare("after the ridge read-out", *(r.predict_val(False) for r in runs), data["y_val"])
        for r in runs:
            r.ridge_training()
        compare(f"after {p.train.epochs} LRM epochs", *(r.predict_val(True) for r in runs), data["y_val"])
        return
    for epoch in range(1, max(args.report_heads) + 1):
        for r in runs:
            r.heads_epoch()
        if epoch in args.report_heads:
            compare(f"after {epoch} head epochs", *(r.predict_val(False) for r in runs), data["y_val"])
    if args.heads_only:
        return
    for r in runs:
        r.full_training()
    compare(f"after {p.train.epochs} full epochs", *(r.predict_val(True) for r in runs), data["y_val"])


if __name__ == "__main__":
    main()
