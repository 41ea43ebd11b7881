"""`emosteer predict`: run a trained checkpoint over a features HDF5, optionally steered.

    emosteer predict --checkpoint CKPT --features FILE.h5 --out OUT.npz [--forward-passes N]
        [--steering-json TABLE.json (--category NAME | --category-file FILE)]
        [--strength S] [--alpha A] [--first-pass | --no-first-pass] [--batch-size B]

FILE.h5 needs `feature` (N, T, 64) float and `audio_name` (N,); `feature` is read one batch at a
time and every batch is checked for NaN/inf before it reaches the model. OUT.npz (written
atomically) holds, in input order: audio_name (N,) str, valence, arousal (N,) float32 (final pass),
valence_128d, arousal_128d (N, 128) float32 (final pass). See docs/model.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emosteer.model.checkpoints import load_model
from emosteer.constants import REPORT_STRENGTH, STEER_DIM
from emosteer.atomic import replacing
from emosteer.errors import EmosteerError
from emosteer.data.features import open_h5
from emosteer.model.inference import predict
from emosteer.model.lrm import MIN_FRAMES

FEATURE = "feature"
AUDIO_NAME = "audio_name"
TABLE_SKIP = ("metadata", "generation_config")  # non-category entries of the original's JSON
SIGNAL_FIELDS = ("valence_128d", "arousal_128d")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand to the emosteer CLI."""
    p = subparsers.add_parser(
        "predict",
        help="predict valence/arousal (optionally steered) for every clip of a features HDF5",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT", help="ours or the original's trained model")
    p.add_argument("--features", required=True, type=Path, metavar="FILE.h5", help="features HDF5 (feature, audio_name)")
    p.add_argument("--out", required=True, type=Path, metavar="OUT.npz", help="output .npz")
    p.add_argument("--forward-passes", type=_positive_int, default=None, metavar="N",
                   help="number of passes (default: the checkpoint's, 2 for the original)")
    p.add_argument("--steering-json", type=Path, default=None, metavar="TABLE.json",
                   help="steering table in the original's format {category: {valence_128d, arousal_128d}}")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--category", default=None, metavar="NAME", help="steer every clip with this category")
    which.add_argument("--category-file", type=Path, default=None, metavar="FILE",
                       help="one category name per line, in input order")
    p.add_argument("--strength", type=float, default=REPORT_STRENGTH, metavar="S",
                   help=f"multiplies the steered ModBlocks' neg/pos scales (default {REPORT_STRENGTH})")
    p.add_argument("--alpha", type=float, default=1.0, metavar="A",
                   help="source = alpha*steer + (1-alpha)*own feedback (default 1)")
    p.add_argument("--first-pass", action=argparse.BooleanOptionalAction, default=True,
                   help="steer pass 1 too (default: yes, as the report did)")
    p.add_argument("--batch-size", type=_positive_int, default=32, metavar="B", help="clips per forward call")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Validate everything cheap first, then predict batch by batch and write OUT.npz."""
    steering = args.category is not None or args.category_file is not None
    if steering != (args.steering_json is not None):
        raise EmosteerError(
            "predict: --steering-json needs --category or --category-file, and they need it"
        )
    model = load_model(args.checkpoint)
    with open_h5(args.features) as f:
        features = _feature_dataset(f, args.features)
        n = features.shape[0]
        names = _audio_names(f, args.features, n)
        steer_v = steer_a = None
        if steering:
            table = load_steering_table(args.steering_json)
            categories = (
                [args.category] if args.category is not None
                else read_category_file(args.category_file, n, args.features)
            )
            steer_v, steer_a = _steer_arrays(table, categories, args)
        out = predict(
            model,
            _FiniteRows(features, args.features),
            batch_size=args.batch_size,
            steer_valence=steer_v,
            steer_arousal=steer_a,
            strength=args.strength,
            alpha=args.alpha,
            first_pass=args.first_pass,
            forward_passes=args.forward_passes,
        )
    write_npz(args.out, {"audio_name": np.array(names, dtype=str), **out})


def load_steering_table(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{category: (valence_128d, arousal_128d)} from the original's JSON; other entries skipped."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmosteerError(f"{path}: no such steering table") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmosteerError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise EmosteerError(f"{path}: expected a JSON object of categories, got {type(raw).__name__}")
    table = {}
    for name, entry in raw.items():
        if name in TABLE_SKIP or not isinstance(entry, dict):
            continue
        table[name] = tuple(_signal(entry, name, fld, path) for fld in SIGNAL_FIELDS)
    if not table:
        raise EmosteerError(f"{path}: no category entries")
    return table  # type: ignore[return-value]


def read_category_file(path: Path, n: int, features_path: Path) -> list[str]:
    """One category name per line (surrounding whitespace stripped); exactly n lines."""
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise EmosteerError(f"{path}: no such category file") from None
    if len(lines) != n:
        raise EmosteerError(f"{path}: {len(lines)} category lines, but {features_path} has {n} clips")
    return lines


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez to a temp file beside `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EmosteerError(f"{path}: output directory {path.parent} does not exist")
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: savez would append .npz to a bare temp name


class _FiniteRows:
    """A view of the `feature` dataset whose slices are checked for NaN/inf as they are read."""

    def __init__(self, ds: h5py.Dataset, path: Path) -> None:
        self.ds = ds
        self.path = path
        self.shape = ds.shape

    def __getitem__(self, rows: slice) -> np.ndarray:
        try:
            block = np.asarray(self.ds[rows], dtype=np.float32)
        except OSError as exc:
            raise EmosteerError(f"{self.path}: dataset '{FEATURE}': unreadable ({exc})") from None
        finite = np.isfinite(block).all(axis=(1, 2))
        if not finite.all():
            first = range(*rows.indices(self.shape[0]))[int(np.argmin(finite))]
            raise EmosteerError(f"{self.path}: dataset '{FEATURE}': NaN or inf at index {first}")
        return block


def _feature_dataset(f: h5py.File, path: Path) -> h5py.Dataset:
    ds = f.get(FEATURE)
    if not isinstance(ds, h5py.Dataset):
        raise EmosteerError(f"{path}: dataset '{FEATURE}': missing")
    if ds.ndim != 3 or ds.shape[2] != 64 or ds.shape[0] < 1:
        raise EmosteerError(f"{path}: dataset '{FEATURE}': shape {ds.shape}, expected (N>0, T, 64)")
    if ds.shape[1] < MIN_FRAMES:
        raise EmosteerError(
            f"{path}: dataset '{FEATURE}': {ds.shape[1]} frames, the model needs >= {MIN_FRAMES}"
        )
    if ds.dtype.kind != "f":
        raise EmosteerError(f"{path}: dataset '{FEATURE}': dtype {ds.dtype}, expected float")
    return ds


def _audio_names(f: h5py.File, path: Path, n: int) -> list[str]:
    ds = f.get(AUDIO_NAME)
    if not isinstance(ds, h5py.Dataset):
        raise EmosteerError(f"{path}: dataset '{AUDIO_NAME}': missing")
    if ds.shape != (n,):
        raise EmosteerError(
            f"{path}: dataset '{AUDIO_NAME}': shape {ds.shape}, expected ({n},) like '{FEATURE}'"
        )
    names = []
    for i, item in enumerate(ds[()]):
        try:
            names.append(item.decode("utf-8") if isinstance(item, bytes) else str(item))
        except UnicodeDecodeError:
            raise EmosteerError(f"{path}: dataset '{AUDIO_NAME}': not UTF-8 at index {i}") from None
    return names


def _signal(entry: dict[str, Any], name: str, fld: str, path: Path) -> np.ndarray:
    value = entry.get(fld)
    if not isinstance(value, list) or len(value) != STEER_DIM:
        got = f"length {len(value)}" if isinstance(value, list) else type(value).__name__
        raise EmosteerError(f"{path}: category {name!r} field '{fld}': expected {STEER_DIM} numbers, got {got}")
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise EmosteerError(f"{path}: category {name!r} field '{fld}': not all numbers") from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise EmosteerError(f"{path}: category {name!r} field '{fld}': not finite at index {bad[0]}")
    return arr


def _steer_arrays(
    table: dict[str, tuple[np.ndarray, np.ndarray]], categories: list[str], args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """(128,) vectors for --category, (N, 128) for --category-file; unknown names are errors."""
    for line, name in enumerate(categories, start=1):
        if name not in table:
            where = f"{args.category_file} line {line}" if args.category_file else "--category"
            raise EmosteerError(
                f"{where}: unknown category {name!r} (not in {args.steering_json}; "
                f"known: {', '.join(sorted(table)[:6])}{', ...' if len(table) > 6 else ''})"
            )
    if args.category is not None:
        return table[args.category]
    names = sorted(table)
    lookup = {name: i for i, name in enumerate(names)}
    rows = np.fromiter((lookup[c] for c in categories), dtype=np.int64, count=len(categories))
    valence = np.stack([table[nm][0] for nm in names])
    arousal = np.stack([table[nm][1] for nm in names])
    return valence[rows], arousal[rows]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
