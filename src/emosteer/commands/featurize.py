"""`emosteer featurize`: a features HDF5 from Emo-Soundscapes audio, a features file or the
synthetic set, through the same `data.sources.build_features` as the pipeline's data stage."""

from __future__ import annotations

import argparse
from pathlib import Path

from emosteer.commands.data_check import rating_pair
from emosteer.constants import DROP_REASONS, FRONTENDS, N_MELS, UNIT_RANGE
from emosteer.data import featurize, sources
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError, one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer featurize` to the CLI."""
    p = subparsers.add_parser(
        "featurize",
        help="build a features HDF5 from Emo-Soundscapes audio, a features file or the synthetic set",
        description="Build a features HDF5 from one data source, as the data stage does.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    for source in sources.SOURCES.values():  # one flag per data source: --<its name>
        flag = "--" + source.name.replace("_", "-")
        if source.path is None:
            src.add_argument(flag, action="store_true", help=f"source {source.name}: {source.what}")
        else:
            src.add_argument(
                flag,
                metavar="DIR" if source.path == "folder" else "FILE",
                type=Path,
                help=f"source {source.name}: {source.what}",
            )
    syn = p.add_argument_group("synthetic set (with --synthetic)")
    syn.add_argument("--n-clips", type=int, default=None, help=f"default {SynthConfig.n_clips}")
    syn.add_argument("--clip-seconds", type=float, default=None, help=f"default {SynthConfig.clip_seconds}")
    syn.add_argument("--seed", type=int, default=None, help=f"default {SynthConfig.seed}")
    syn.add_argument(
        "--segments",
        type=int,
        default=None,
        help="cut each clip into this many segments <clip>_seg<i> (default 0: whole clips)",
    )
    syn.add_argument(
        "--rank-labels",
        action="store_true",
        default=None,
        help="map labels to their ranks on [-1, 1], as Emo-Soundscapes ratings are",
    )
    p.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default=None,
        help=f"log-mel flavour for audio sources (default {featurize.DEFAULT_FRONTEND})",
    )
    p.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames T for audio sources (default: the clip length; 601 for Emo-Soundscapes)",
    )
    emo = p.add_argument_group("Emo-Soundscapes (with --emo-soundscapes)")
    emo.add_argument(
        "--rating-range",
        type=rating_pair,
        default=None,
        metavar="LO,HI",
        help="the rating files' scale, mapped onto [-1, 1] (default -1,1)",
    )
    emo.add_argument(
        "--drop",
        nargs="*",
        choices=DROP_REASONS,
        default=None,
        help="leave out clips below 2 x 14 kHz (low_rate) or shorter than the window (short)",
    )
    p.add_argument("--out", type=Path, required=True, help="features HDF5 to write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _synth_config(args: argparse.Namespace) -> SynthConfig | None:
    """SynthConfig from the CLI options; the options are refused without --synthetic."""
    given = {
        "n_clips": args.n_clips,
        "clip_seconds": args.clip_seconds,
        "seed": args.seed,
        "segments": args.segments,
        "rank_labels": args.rank_labels,
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
    source = next(s for s in sources.SOURCES.values() if getattr(args, s.name) not in (None, False))
    path = getattr(args, source.name) if source.path is not None else None
    options = {"rating_range": args.rating_range, "drop": args.drop}  # a source's own (its entry's options)
    given = [k for k, v in options.items() if v is not None and k not in source.options]
    if given:
        owners = [f"--{s.name.replace('_', '-')}" for s in sources.SOURCES.values() if set(given) <= set(s.options)]
        raise EmosteerError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: only with {', '.join(owners)}")
    info = sources.build_features(
        source.name,
        path,
        args.out,
        args.frontend,
        args.frames,
        cfg,
        progress=not args.no_progress,
        rating_range=args.rating_range or UNIT_RANGE,
        drop=tuple(args.drop or ()),
    )
    print(
        one_line(
            f"{args.out}: {info.n} rows x {info.frames} frames x {N_MELS} mels "
            f"({source.name}, front end {info.attrs.get('frontend')})"
        )
    )  # the attribute is the file's
