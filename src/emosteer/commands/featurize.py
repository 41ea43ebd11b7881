"""`emosteer featurize`: a features HDF5 from Emo-Soundscapes audio, a features file or the
synthetic set, through the same `data.featurize.build_features` as the pipeline's data stage."""

from __future__ import annotations

import argparse
from pathlib import Path

from emosteer.commands.data_check import rating_pair
from emosteer.constants import DROP_REASONS, FRONTENDS, N_MELS, UNIT_RANGE
from emosteer.data import featurize
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError, one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer featurize` to the CLI."""
    p = subparsers.add_parser(
        "featurize",
        help="build a features HDF5 from Emo-Soundscapes audio, a features file or the synthetic set",
        description=featurize.__doc__.splitlines()[0],
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--emo-soundscapes", metavar="DIR", type=Path,
                     help="raw folder: audio anywhere below it, Valence.csv and Arousal.csv")
    src.add_argument("--features-h5", metavar="FILE", type=Path,
                     help="existing features HDF5 (e.g. the original's emotion_features.h5)")
    src.add_argument("--synthetic", action="store_true", help="the embedded synthetic set")
    syn = p.add_argument_group("synthetic set (with --synthetic)")
    syn.add_argument("--n-clips", type=int, default=None, help=f"default {SynthConfig.n_clips}")
    syn.add_argument("--clip-seconds", type=float, default=None, help=f"default {SynthConfig.clip_seconds}")
    syn.add_argument("--seed", type=int, default=None, help=f"default {SynthConfig.seed}")
    syn.add_argument("--segments", type=int, default=None,
                     help="cut each clip into this many segments <clip>_seg<i> (default 0: whole clips)")
    syn.add_argument("--rank-labels", action="store_true", default=None,
                     help="map labels to their ranks on [-1, 1], as Emo-Soundscapes ratings are")
    p.add_argument("--frontend", choices=FRONTENDS, default=None,
                   help=f"log-mel flavour for audio sources (default {featurize.DEFAULT_FRONTEND})")
    p.add_argument("--frames", type=int, default=None,
                   help="frames T for audio sources (default: the clip length; 601 for Emo-Soundscapes)")
    emo = p.add_argument_group("Emo-Soundscapes (with --emo-soundscapes)")
    emo.add_argument("--rating-range", type=rating_pair, default=None, metavar="LO,HI",
                     help="the rating files' scale, mapped onto [-1, 1] (default -1,1)")
    emo.add_argument("--drop", nargs="*", choices=DROP_REASONS, default=None,
                     help="leave out clips below 2 x 14 kHz (low_rate) or shorter than the window (short)")
    p.add_argument("--out", type=Path, required=True, help="features HDF5 to write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _synth_config(args: argparse.Namespace) -> SynthConfig | None:
    """SynthConfig from the CLI options; the options are refused without --synthetic."""
    given = {
        "n_clips": args.n_clips, "clip_seconds": args.clip_seconds, "seed": args.seed,
        "segments": args.segments, "rank_labels": args.rank_labels,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if not args.synthetic:
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise EmosteerError(f"{flags}: only with --synthetic")
        return None
    return SynthConfig(**given)


def run(args: argparse.Namespace) -> None:
    """`emosteer featurize`: build, validate, and print one summary line."""
    cfg = _synth_config(args)
    if args.synthetic:
        source, path = "synthetic", None
    elif args.features_h5 is not None:
        source, path = "features_h5", args.features_h5
    else:
        source, path = "emo_soundscapes", args.emo_soundscapes
    emo = {"rating_range": args.rating_range, "drop": args.drop}
    given = [f"--{k.replace('_', '-')}" for k, v in emo.items() if v is not None]
    if given and source != "emo_soundscapes":
        raise EmosteerError(f"{', '.join(given)}: only with --emo-soundscapes")
    info = featurize.build_features(source, path, args.out, args.frontend, args.frames, cfg,
                                    progress=not args.no_progress, rating_range=args.rating_range or UNIT_RANGE,
                                    drop=tuple(args.drop or ()))
    print(one_line(f"{args.out}: {info.n} rows x {info.frames} frames x {N_MELS} mels "
                   f"({source}, front end {info.attrs.get('frontend')})"))  # the attribute is the file's
