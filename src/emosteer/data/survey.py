"""What a data source holds, from rating files, audio headers and labels, before any featurizing.

Clips found, rated, used and skipped (and why), sample rates, channels, durations, the ratings'
range, and one warning per clip whose features will be degraded: a sample rate below 2 x FMAX (its
top mel bands hold no signal) or a length below the window (`frames`; the rest is padding).
`data.drop` leaves those clips out. Audio is resampled to SAMPLE_RATE and stereo is averaged to
mono (`frontend.load_audio`); the survey says so.

One survey serves four readers: `check_params` (a data path whose survey fails is refused before any
stage removes an output), the data stage (featurizes exactly `Survey.clips` and writes
`Survey.facts` to metrics/data.json), `emosteer data check PATH` (prints it; no run) and the report
(its "Data" section).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from emosteer.constants import (DROP_REASONS, FMAX, FMIN, HOP_LENGTH, MAX_FRAMES, MIN_FRAMES, N_MELS,
                                SAMPLE_RATE, UNIT_RANGE)
from emosteer.data import emosoundscapes, features
from emosteer.data.facts import describe
from emosteer.data.frontend import AudioInfo, audio_info, frames_for_seconds
from emosteer.errors import EmosteerError, one_line

if TYPE_CHECKING:
    from emosteer.data.synth import SynthConfig

MIN_SAMPLE_RATE = 2 * FMAX  # below it the front end's top mel bands lie above the file's Nyquist
SOURCES = ("emo_soundscapes", "features_h5")  # what `emosteer data check` reads
PROGRESS_FROM = 200  # files: probing headers of fewer takes well under a second


def window_seconds(frames: int) -> float:
    """Audio a window of `frames` frames covers: (frames - 1) hops (601 frames: 6.00 s)."""
    return (frames - 1) * HOP_LENGTH / SAMPLE_RATE


def bands_above(sample_rate: int) -> int:
    """Mel bands (of the front end's N_MELS) whose centre lies above the file's Nyquist frequency:
    after resampling they hold only the resampler's residue, near the floor."""
    import librosa  # the front end's own dependency; imported here to keep the survey light

    centres = librosa.mel_frequencies(N_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    return int((centres > sample_rate / 2).sum())


@dataclass(frozen=True)
class Survey:
    """The clips to featurize (Emo-Soundscapes, after `drop`) and the facts of metrics/data.json."""

    facts: dict[str, Any]
    clips: list[emosoundscapes.Clip] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)  # files read (rating files, audio)
    names: list[str] = field(default_factory=list)  # the clips' names, as the features will hold them

    @property
    def warnings(self) -> list[str]:
        return list(self.facts["warnings"])


def survey(source: str, path: str | Path | None, frames: int,
           rating_range: tuple[float, float] = UNIT_RANGE, drop: Sequence[str] = (),
           synth: SynthConfig | None = None, progress: bool = False) -> Survey:
    """Survey one source as the data stage would read it (`frames`: the clip window)."""
    for i, reason in enumerate(drop):
        if reason not in DROP_REASONS:
            raise EmosteerError(f"data.drop: unknown reason {reason!r} at index {i}; expected {DROP_REASONS}")
    if source == "emo_soundscapes":
        return _emo_soundscapes(Path(_need(path, source)), frames, rating_range, tuple(drop), progress)
    if source == "features_h5":
        return _features_h5(Path(_need(path, source)), frames)
    if source == "synthetic":
        return _synthetic(synth, frames)
    raise EmosteerError(f"survey: unknown source {source!r}")


def _need(path: str | Path | None, source: str) -> str | Path:
    if path is None:
        raise EmosteerError(f"survey: source {source!r} needs a path")
    return path


def _facts(source: str, path: Path | None, frames: int, **rest: Any) -> dict[str, Any]:
    """The keys every source's facts carry, in one order (metrics/data.json)."""
    base: dict[str, Any] = {
        "source": source, "path": None if path is None else str(path), "n_clips": 0, "n_rated": 0,
        "skipped": {}, "skipped_files": {}, "sample_rates": {}, "channels": {},
        "duration_seconds": None, "rating_range": None, "rating_scale": list(UNIT_RANGE),
        "frames": frames, "window_seconds": window_seconds(frames), "resampled_to": SAMPLE_RATE,
        "mono": "channels averaged", "drop": [], "warnings": [],
    }
    base.update(rest)
    return base


def _range(values: Iterable[float]) -> list[float]:
    arr = np.asarray(list(values), dtype=np.float64)
    return [float(arr.min()), float(arr.max())]


def _durations(seconds: Sequence[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    return {"min": float(np.min(seconds)), "median": float(np.median(seconds)), "max": float(np.max(seconds))}


def _counts(values: Iterable[int]) -> dict[str, int]:
    """{value: count} with keys as strings (JSON), in increasing numeric order."""
    return {str(k): n for k, n in sorted(Counter(values).items())}


def _emo_soundscapes(root: Path, frames: int, scale: tuple[float, float], drop: tuple[str, ...],
                     progress: bool) -> Survey:
    inv = emosoundscapes.collect_clips(root, scale=scale, warn=False)  # skips are in the facts
    found = inv.clips
    bar = tqdm(found, desc="audio headers", unit="file", leave=False,
               disable=not progress or len(found) < PROGRESS_FROM)
    infos = {clip.name: audio_info(clip.path) for clip in bar}
    window = window_seconds(frames)
    flagged: dict[str, list[str]] = {reason: [] for reason in DROP_REASONS}
    warnings: list[str] = []
    for clip in found:
        info = infos[clip.name]
        for reason, message in _problems(clip, info, frames, window):
            flagged[reason].append(clip.name)
            tail = (f"dropped (data.drop: {reason})" if reason in drop
                    else f"set data.drop: [{reason}] to leave it out")
            warnings.append(f"{message}; {tail}")
    dropped = {name for reason in drop for name in flagged[reason]}
    kept = [clip for clip in found if clip.name not in dropped]
    if not kept:
        raise EmosteerError(f"{root}: no clip left: data.drop {list(drop)} drops all {len(found)} "
                            "clips with ratings and audio")
    skipped_files = {"missing_audio": list(inv.missing_audio), "missing_rating": list(inv.missing_rating),
                     **{reason: flagged[reason] if reason in drop else [] for reason in DROP_REASONS}}
    used = [infos[c.name] for c in kept]
    raw = {"valence": [_raw(c.valence, scale) for c in kept], "arousal": [_raw(c.arousal, scale) for c in kept]}
    facts = _facts(
        "emo_soundscapes", root, frames, n_clips=len(kept), n_rated=inv.n_rated,
        skipped={k: len(v) for k, v in skipped_files.items()}, skipped_files=skipped_files,
        sample_rates=_counts(i.sample_rate for i in used), channels=_counts(i.channels for i in used),
        duration_seconds=_durations([i.seconds for i in used]),
        rating_range={dim: _range(v) for dim, v in raw.items()}, rating_scale=list(scale),
        drop=list(drop), warnings=warnings)
    return Survey(facts, kept, list(inv.inputs), [c.name for c in kept])


def _raw(unit: float, scale: tuple[float, float]) -> float:
    """A [-1, 1] label back on the rating files' scale (exact for [-1, 1] itself)."""
    lo, hi = scale
    return unit if (lo, hi) == UNIT_RANGE else lo + (unit + 1.0) / 2.0 * (hi - lo)


def _problems(clip: emosoundscapes.Clip, info: AudioInfo, frames: int,
              window: float) -> list[tuple[str, str]]:
    """(reason, one-line message) for each way this clip's features will be degraded."""
    out = []
    if info.sample_rate < MIN_SAMPLE_RATE:
        out.append(("low_rate", f"{clip.path}: {info.sample_rate} Hz is below 2 x {FMAX:g} Hz: "
                                f"{bands_above(info.sample_rate)} of its {N_MELS} mel bands lie above "
                                f"its Nyquist frequency and hold no signal"))
    if frames_for_seconds(info.seconds) < frames:
        out.append(("short", f"{clip.path}: {info.seconds:.2f} s is shorter than the {window:.2f}-s "
                             f"window ({frames} frames): the rest is padding"))
    return out


def _features_h5(path: Path, frames: int) -> Survey:
    """A features file: its rows and labels (no audio to survey; it keeps its own frames)."""
    names, valence, arousal = features.read_labels(path)
    info = features.read_info(path)
    warnings = []
    if info.frames != frames:
        warnings.append(f"{path}: holds {info.frames} frames per clip; data.frames {frames} applies "
                        "to audio sources only, the file's own are used")
    facts = _facts("features_h5", path, info.frames, n_clips=len(names), n_rated=len(names),
                   rating_range={"valence": _range(valence), "arousal": _range(arousal)},
                   resampled_to=None, mono=None, frontend=info.attrs.get("frontend", "unknown"),
                   warnings=warnings)
    return Survey(facts, [], [path], names)


def _synthetic(cfg: SynthConfig | None, frames: int) -> Survey:
    """The embedded set: generated mono at SAMPLE_RATE; labels drawn without synthesizing audio."""
    from emosteer.data.synth import SynthConfig, sample_labels  # scipy: only the synthetic source needs it

    cfg = cfg or SynthConfig()
    valence, arousal = sample_labels(cfg)
    seconds = cfg.item_samples / SAMPLE_RATE
    warnings = []
    if frames_for_seconds(seconds) < frames:
        warnings.append(f"synthetic: every clip is {seconds:.2f} s, shorter than the "
                        f"{window_seconds(frames):.2f}-s window ({frames} frames): the rest is padding")
    facts = _facts("synthetic", None, frames, n_clips=cfg.n_items, n_rated=cfg.n_items,
                   sample_rates={str(SAMPLE_RATE): cfg.n_items}, channels={"1": cfg.n_items},
                   duration_seconds={"min": seconds, "median": seconds, "max": seconds},
                   rating_range={"valence": _range(valence), "arousal": _range(arousal)},
                   resampled_to=None, mono=None, warnings=warnings)
    return Survey(facts, [], [])


# --- command line --------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `emosteer data check PATH` to the CLI."""
    p = subparsers.add_parser("data", help="look at a data source before a run")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="what the data stage would use, skip and warn about (headers only, no run)",
        description="Survey an Emo-Soundscapes folder or a features HDF5 as the data stage would: "
                    "clips found, rated, used and skipped, sample rates, channels, durations, rating "
                    "range, and a warning per clip below 2 x 14 kHz or shorter than the window.")
    check.add_argument("path", type=Path, metavar="PATH")
    check.add_argument("--source", choices=SOURCES, default=None,
                       help="default: emo_soundscapes for a folder, features_h5 for a file")
    check.add_argument("--frames", type=int, default=None,
                       help="the window, as data.frames (default: 601, the clips' 6 s)")
    check.add_argument("--rating-range", type=rating_pair, default=UNIT_RANGE, metavar="LO,HI",
                       help="the rating files' scale, as data.rating_range (default -1,1)")
    check.add_argument("--drop", nargs="*", choices=DROP_REASONS, default=[],
                       help="leave these clips out, as data.drop")
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
    source = args.source or ("emo_soundscapes" if args.path.is_dir() else "features_h5")
    if not args.path.exists():
        raise EmosteerError(f"{args.path}: no such file or folder")
    frames = args.frames if args.frames is not None else frames_for_seconds(emosoundscapes.CLIP_SECONDS)
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise EmosteerError(f"--frames: must be in [{MIN_FRAMES}, {MAX_FRAMES}] (the model needs "
                            f">= {MIN_FRAMES}; at most 60 s, as data.frames), got {frames}")
    found = survey(source, args.path, frames, args.rating_range, args.drop, progress=True)
    print("\n".join(one_line(line) for line in describe(found.facts)))  # names escaped, as featurize does
