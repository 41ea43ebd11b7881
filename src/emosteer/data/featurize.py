"""Every way data enters emosteer, behind one function and one CLI subcommand.

`build_features` is what both `emosteer featurize` and the pipeline's data stage call, so the CLI
and `dvc repro` produce the same file from the same arguments. Inputs are checked before anything
is written; the output goes to a temp file, is validated, and only then renamed into place.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from emosteer import __version__
from emosteer.atomic import refuse_overwrite
from emosteer.data import emosoundscapes, features, survey
from emosteer.data.facts import describe
from emosteer.constants import (
    DATA_SOURCES, DROP_REASONS, FMAX, FMIN, FRONTENDS, HOP_LENGTH, MAX_FRAMES, MIN_FRAMES, N_FFT, N_MELS,
    SAMPLE_RATE, UNIT_RANGE,
)
from emosteer.errors import EmosteerError, one_line
from emosteer.data.frontend import (
    check_flavour,
    clip_logmel,
    frames_for_samples,
    frames_for_seconds,
    logmel,
)
from emosteer.data.synth import SynthConfig, generate_clips

log = logging.getLogger(__name__)

DEFAULT_FRONTEND = "panns"  # keeps absolute level (an arousal cue) and is what PANNs' bn0 expects
EMO_SOUNDSCAPES_SECONDS = emosoundscapes.CLIP_SECONDS  # its default T is 601 frames
FRONTEND_ATTRS = ("frontend", "sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax")


def build_features(
    source: str,
    path: str | Path | None,
    out: str | Path,
    frontend: str | None,
    frames: int | None,
    synth_cfg: SynthConfig | None = None,
    progress: bool = True,
    *,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    surveyed: survey.Survey | None = None,
) -> features.FeaturesInfo:
    """Write the features HDF5 `out` from one source and return what it holds.

    source "synthetic" (path unused; synth_cfg or the defaults), "emo_soundscapes" (a raw folder)
    or "features_h5" (an existing file, validated and normalised to the schema). `frontend` and
    `frames` apply to the audio sources only: a features file keeps its own T and front end.
    frontend None means DEFAULT_FRONTEND; frames None means the natural length: one synthetic
    clip (or segment), or 6 s for Emo-Soundscapes. `rating_range` and `drop` apply to
    Emo-Soundscapes (`survey.survey`); `surveyed` is that survey if the caller already made it.
    """
    if source not in DATA_SOURCES:
        raise EmosteerError(f"featurize: unknown source {source!r}; expected one of {DATA_SOURCES}")
    if frames is not None and not 1 <= frames <= MAX_FRAMES:
        raise EmosteerError(f"featurize: frames must be in [1, {MAX_FRAMES}] ({MAX_FRAMES - 1} hops: "
                            f"{(MAX_FRAMES - 1) * HOP_LENGTH / SAMPLE_RATE:g} s of audio), got {frames}")
    out = Path(out)
    # One BLAS thread: the mel projection is a tiny matmul per clip, and a multi-threaded OpenBLAS
    # on a busy 2-core machine turned it from 0.1 ms into 20+ ms (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        if source == "features_h5":
            return _from_features_h5(_need_path(path, source), out, frontend, frames, progress)
        flavour = DEFAULT_FRONTEND if frontend is None else frontend
        check_flavour(flavour)
        if source == "synthetic":
            return _from_synthetic(synth_cfg or SynthConfig(), out, flavour, frames, progress)
        frames = frames or frames_for_seconds(EMO_SOUNDSCAPES_SECONDS)
        root = _need_path(path, source)
        found = surveyed
        if found is None:  # a caller that surveyed reports it; here the log does
            found = survey.survey(source, root, frames, rating_range, drop, progress=progress)
            for line in describe(found.facts):
                if line.startswith("warning: "):  # names its file
                    log.warning("%s", line.removeprefix("warning: "))
                elif line.startswith("skipped: ") and line != "skipped: none":
                    log.warning("%s: %s", root, line)
        return _from_emo_soundscapes(root, found, out, flavour, frames, progress)


def _need_path(path: str | Path | None, source: str) -> Path:
    if path is None:
        raise EmosteerError(f"featurize: source {source!r} needs a path")
    return Path(path)


def _frontend_attrs(flavour: str, frames: int, source: str) -> dict[str, Any]:
    """Attributes every audio-derived file carries: where it came from and how it was computed."""
    return {
        "source": source,
        "frontend": flavour,
        "frames": frames,
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_mels": N_MELS,
        "fmin": FMIN,
        "fmax": FMAX,
        "emosteer_version": __version__,
    }


def _progress(rows: Iterator[features.Row], n: int, desc: str, enabled: bool) -> Iterator[features.Row]:
    return iter(tqdm(rows, total=n, desc=desc, unit="clip", disable=not enabled, leave=False))


def _warm_up(flavour: str) -> None:
    """Pay the front end's one-off start-up cost (librosa's lazy imports and numba compiles, about
    2 s, measured) before the progress bar starts, so its first ETA extrapolates a normal clip."""
    logmel(np.zeros(N_FFT, dtype=np.float32), flavour, 1)


def _write(out: Path, n: int, frames: int, rows: Iterator[features.Row],
           attrs: dict[str, Any]) -> features.FeaturesInfo:
    """Refuse a frame count no model can read before writing anything."""
    if frames < MIN_FRAMES:
        raise EmosteerError(
            f"{out}: {frames} frames per clip, but the model needs >= {MIN_FRAMES} "
            "(four 2x2 pools); use longer clips or --frames"
        )
    return features.write_features(out, n, frames, rows, attrs)


def _from_synthetic(
    cfg: SynthConfig, out: Path, flavour: str, frames: int | None, progress: bool
) -> features.FeaturesInfo:
    """Generate and featurize the embedded set; the config is stored so it can be regenerated."""
    frames = frames or frames_for_samples(cfg.item_samples)
    _warm_up(flavour)
    rows = (
        (name, logmel(audio, flavour, frames), v, a)
        for name, audio, v, a in generate_clips(cfg)
    )
    attrs = _frontend_attrs(flavour, frames, "synthetic")
    attrs["synth_config"] = cfg.to_json()
    return _write(out, cfg.n_items, frames, _progress(rows, cfg.n_items, "synthesize", progress), attrs)


def _from_emo_soundscapes(
    root: Path, found: survey.Survey, out: Path, flavour: str, frames: int, progress: bool
) -> features.FeaturesInfo:
    """Decode, resample and featurize the surveyed clips, in Valence.csv order: of each clip only
    the audio its first `frames` frames read (`clip_logmel`)."""
    refuse_overwrite(out, found.inputs)
    _warm_up(flavour)
    rows = (
        (clip.name, clip_logmel(clip.path, flavour, frames),
         clip.valence, clip.arousal)
        for clip in found.clips
    )
    attrs = _frontend_attrs(flavour, frames, "emo_soundscapes")
    attrs["source_path"] = str(root)
    for reason, n in found.facts["skipped"].items():
        attrs[f"skipped_{reason}"] = n
    attrs["rating_scale"] = found.facts["rating_scale"]
    n = len(found.clips)
    return _write(out, n, frames, _progress(rows, n, "featurize", progress), attrs)


def _from_features_h5(
    src: Path, out: Path, flavour: str | None, frames: int | None, progress: bool
) -> features.FeaturesInfo:
    """Validate an existing file fully, then copy it block by block into the schema."""
    refuse_overwrite(out, [src])
    info = features.validate_features(src)
    if frames is not None and frames != info.frames:
        log.warning("%s: keeping the file's own %d frames (frames=%d applies to audio sources)",
                    src, info.frames, frames)
    own = info.attrs.get("frontend", "unknown")
    if flavour is not None and own != flavour:
        log.warning("%s: features were made with front end %r; frontend=%r applies to audio sources",
                    src, own, flavour)
    names, valence, arousal = features.read_labels(src)
    attrs: dict[str, Any] = {k: info.attrs[k] for k in FRONTEND_ATTRS if k in info.attrs}
    attrs.update(
        source="features_h5",
        frontend=own,
        frames=info.frames,
        emosteer_version=__version__,
        source_path=str(src),
        source_attrs=json.dumps(info.attrs, sort_keys=True, default=str),
    )
    return _write(out, info.n, info.frames,
                  _progress(_copied_rows(src, names, valence, arousal), info.n, "copy", progress), attrs)


def _copied_rows(
    src: Path, names: list[str], valence: np.ndarray, arousal: np.ndarray
) -> Iterator[features.Row]:
    """Rows of an existing file, read a block at a time."""
    i = 0
    for block in features.iter_feature_blocks(src):
        for x in block:
            yield names[i], x, float(valence[i]), float(arousal[i])
            i += 1


# --- command line ------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer featurize` to the CLI."""
    p = subparsers.add_parser(
        "featurize",
        help="build a features HDF5 from Emo-Soundscapes audio, a features file or the synthetic set",
        description=__doc__.splitlines()[0],
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
                   help=f"log-mel flavour for audio sources (default {DEFAULT_FRONTEND})")
    p.add_argument("--frames", type=int, default=None,
                   help="frames T for audio sources (default: the clip length; 601 for Emo-Soundscapes)")
    emo = p.add_argument_group("Emo-Soundscapes (with --emo-soundscapes)")
    emo.add_argument("--rating-range", type=survey.rating_pair, default=None, metavar="LO,HI",
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
    info = build_features(source, path, args.out, args.frontend, args.frames, cfg,
                          progress=not args.no_progress, rating_range=args.rating_range or UNIT_RANGE,
                          drop=tuple(args.drop or ()))
    print(one_line(f"{args.out}: {info.n} rows x {info.frames} frames x {N_MELS} mels "
                   f"({source}, front end {info.attrs.get('frontend')})"))  # the attribute is the file's
