"""`emosteer data check PATH`: what the data stage would use, skip and warn about in a source,
from its rating files and audio headers (`data.sources.survey`), before any run."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emosteer.constants import DROP_REASONS, MAX_FRAMES, MIN_FRAMES, UNIT_RANGE
from emosteer.data import emosoundscapes, sources
from emosteer.data.facts import describe
from emosteer.data.frontend import frames_for_seconds
from emosteer.data.split import read_groups
from emosteer.errors import EmosteerError, one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer data check PATH` to the CLI."""
    p = subparsers.add_parser("data", help="look at a data source before a run")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check",
        help="what the data stage would use, skip and warn about (headers only, no run)",
        description="Survey an Emo-Soundscapes folder or a features HDF5 as the data stage would: "
        "clips found, rated, used and skipped, sample rates, channels, durations, rating "
        "range, and a warning per clip below 2 x 14 kHz or shorter than the window.",
    )
    check.add_argument("path", type=Path, metavar="PATH")
    check.add_argument(
        "--source",
        choices=[s.name for s in sources.SOURCES.values() if s.path],
        help="default: the first source that reads a folder (emo_soundscapes) or a file (features_h5), as PATH is",
    )
    check.add_argument(
        "--frames", type=int, default=None, help="the window, as data.frames (default: 601, the clips' 6 s)"
    )
    check.add_argument(
        "--rating-range",
        type=rating_pair,
        default=UNIT_RANGE,
        metavar="LO,HI",
        help="the rating files' scale, as data.rating_range (default -1,1)",
    )
    check.add_argument(
        "--drop", nargs="*", choices=DROP_REASONS, default=[], help="leave these clips out, as data.drop"
    )
    check.add_argument(
        "--groups",
        type=Path,
        default=None,
        metavar="CSV",
        help="the groups table, as data.groups (clip,group: a mix with its sources); without "
        "it, mixed clips get a warning",
    )
    check.set_defaults(func=run_check)


def rating_pair(text: str) -> tuple[float, float]:
    """--rating-range LO,HI: two finite numbers, LO < HI."""
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers), got {text!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise argparse.ArgumentTypeError(f"expected finite LO < HI, got {text!r}")
    return lo, hi


def run_check(args: argparse.Namespace) -> None:
    kind = "folder" if args.path.is_dir() else "file"
    source = args.source or next(s.name for s in sources.SOURCES.values() if s.path == kind)
    if not args.path.exists():
        raise EmosteerError(f"{args.path}: no such file or folder")
    frames = args.frames if args.frames is not None else frames_for_seconds(emosoundscapes.CLIP_SECONDS)
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise EmosteerError(
            f"--frames: must be in [{MIN_FRAMES}, {MAX_FRAMES}] (the model needs "
            f">= {MIN_FRAMES}; at most 60 s, as data.frames), got {frames}"
        )
    groups = read_groups(args.groups) if args.groups is not None else None  # its format, checked first
    found = sources.survey(source, args.path, frames, args.rating_range, args.drop, progress=True)
    lines = describe(found.facts)
    mixed = sources.SOURCES[source].mixed
    if mixed is not None and groups is None:
        lines += _mixed_warning(args.path, mixed(args.path, found.clips))
    print("\n".join(one_line(line) for line in lines))  # names escaped, as featurize does


def _mixed_warning(root: Path, mixed: list) -> list[str]:
    """One line when mixed clips are used and no groups table keeps them with their sources."""
    if not mixed:
        return []
    names = sorted(c.name for c in mixed)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return [
        f"warning: {root}: {len(mixed)} mixed clips ({mixed[0].path.parent.name}/: {shown}) and no groups "
        "table: a mix and its sources can land on both sides of the split; set data.groups (--groups "
        "here; docs/data.md, data.groups)"
    ]
