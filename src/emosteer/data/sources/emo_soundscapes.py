"""A raw Emo-Soundscapes folder (emosteer.data.emosoundscapes): audio anywhere below it, Valence.csv
and Arousal.csv; its ratings mapped from data.rating_range onto [-1, 1], the clips data.drop
names left out, and the rest decoded, resampled and featurized."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from emosteer.atomic import refuse_overwrite
from emosteer.constants import DROP_REASONS, FMAX, FMIN, N_MELS, UNIT_RANGE
from emosteer.data import emosoundscapes, features
from emosteer.data.facts import describe
from emosteer.data.featurize import (
    DEFAULT_FRONTEND,
    EMO_SOUNDSCAPES_SECONDS,
    _frontend_attrs,
    _need_path,
    _progress,
    _warm_up,
    _write,
    log,
)
from emosteer.data.frontend import AudioInfo, audio_info, check_flavour, clip_logmel, frames_for_seconds
from emosteer.data.sources.base import Source
from emosteer.data.survey import PROGRESS_FROM, Survey, _counts, _durations, _facts, _range, check_drop, window_seconds
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError

MIN_SAMPLE_RATE = 2 * FMAX  # below it the front end's top mel bands lie above the file's Nyquist


def survey(
    path: Path | None,
    frames: int,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    synth: SynthConfig | None = None,
    progress: bool = False,
) -> Survey:
    if path is None:
        raise EmosteerError("survey: source 'emo_soundscapes' needs a path")
    return _survey(Path(path), frames, rating_range, tuple(drop), progress)


def bands_above(sample_rate: int) -> int:
    """Mel bands (of the front end's N_MELS) whose centre lies above the file's Nyquist frequency:
    after resampling they hold only the resampler's residue, near the floor."""
    import librosa  # the front end's own dependency; imported here to keep the survey light

    centres = librosa.mel_frequencies(N_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    return int((centres > sample_rate / 2).sum())


def _survey(root: Path, frames: int, scale: tuple[float, float], drop: tuple[str, ...], progress: bool) -> Survey:
    inv = emosoundscapes.collect_clips(root, scale=scale, warn=False)  # skips are in the facts
    found = inv.clips
    bar = tqdm(
        found, desc="audio headers", unit="file", leave=False, disable=not progress or len(found) < PROGRESS_FROM
    )
    infos = {clip.name: audio_info(clip.path) for clip in bar}
    window = window_seconds(frames)
    flagged: dict[str, list[str]] = {reason: [] for reason in DROP_REASONS}
    warnings: list[str] = []
    for clip in found:
        info = infos[clip.name]
        for reason, message in _problems(clip, info, frames, window):
            flagged[reason].append(clip.name)
            tail = f"dropped (data.drop: {reason})" if reason in drop else f"set data.drop: [{reason}] to leave it out"
            warnings.append(f"{message}; {tail}")
    dropped = {name for reason in drop for name in flagged[reason]}
    kept = [clip for clip in found if clip.name not in dropped]
    if not kept:
        raise EmosteerError(
            f"{root}: no clip left: data.drop {list(drop)} drops all {len(found)} clips with ratings and audio"
        )
    skipped_files = {
        "missing_audio": list(inv.missing_audio),
        "missing_rating": list(inv.missing_rating),
        **{reason: flagged[reason] if reason in drop else [] for reason in DROP_REASONS},
    }
    used = [infos[c.name] for c in kept]
    raw = {"valence": [_raw(c.valence, scale) for c in kept], "arousal": [_raw(c.arousal, scale) for c in kept]}
    facts = _facts(
        "emo_soundscapes",
        root,
        frames,
        n_clips=len(kept),
        n_rated=inv.n_rated,
        skipped={k: len(v) for k, v in skipped_files.items()},
        skipped_files=skipped_files,
        sample_rates=_counts(i.sample_rate for i in used),
        channels=_counts(i.channels for i in used),
        duration_seconds=_durations([i.seconds for i in used]),
        rating_range={dim: _range(v) for dim, v in raw.items()},
        rating_scale=list(scale),
        drop=list(drop),
        warnings=warnings,
    )
    return Survey(facts, kept, list(inv.inputs), [c.name for c in kept])


MIXED_FOLDER = "mixed"  # Emo-Soundscapes keeps its mixes in 613_MixedSounds/, its sources in 600_Sounds/


def mixed_clips(root: Path, clips: list[emosoundscapes.Clip]) -> list[emosoundscapes.Clip]:
    """The clips in a folder below `root` whose name holds "mixed" (any case): Emo-Soundscapes'
    613_MixedSounds, mixes made from other clips of the set (docs/data.md, data.groups)."""
    root = Path(root)
    return [c for c in clips if any(MIXED_FOLDER in part.lower() for part in c.path.relative_to(root).parts[:-1])]


def _raw(unit: float, scale: tuple[float, float]) -> float:
    """A [-1, 1] label back on the rating files' scale (exact for [-1, 1] itself)."""
    lo, hi = scale
    return unit if (lo, hi) == UNIT_RANGE else lo + (unit + 1.0) / 2.0 * (hi - lo)


def _problems(clip: emosoundscapes.Clip, info: AudioInfo, frames: int, window: float) -> list[tuple[str, str]]:
    """(reason, one-line message) for each way this clip's features will be degraded."""
    out = []
    if info.sample_rate < MIN_SAMPLE_RATE:
        out.append(
            (
                "low_rate",
                f"{clip.path}: {info.sample_rate} Hz is below 2 x {FMAX:g} Hz: "
                f"{bands_above(info.sample_rate)} of its {N_MELS} mel bands lie above "
                f"its Nyquist frequency and hold no signal",
            )
        )
    if frames_for_seconds(info.seconds) < frames:
        out.append(
            (
                "short",
                f"{clip.path}: {info.seconds:.2f} s is shorter than the {window:.2f}-s "
                f"window ({frames} frames): the rest is padding",
            )
        )
    return out


def featurize(
    path: Path | None,
    out: Path,
    frontend: str | None,
    frames: int | None,
    synth: SynthConfig | None = None,
    progress: bool = True,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    surveyed: Survey | None = None,
) -> features.FeaturesInfo:
    """Featurize the surveyed clips (surveyed here if the caller has not: the log names the skips)."""
    flavour = DEFAULT_FRONTEND if frontend is None else frontend
    check_flavour(flavour)
    frames = frames or frames_for_seconds(EMO_SOUNDSCAPES_SECONDS)
    root = _need_path(path, "emo_soundscapes")
    found = surveyed
    if found is None:  # a caller that surveyed reports it; here the log does
        check_drop(drop)
        found = _survey(root, frames, rating_range, tuple(drop), progress)
        for line in describe(found.facts):
            if line.startswith("warning: "):  # names its file
                log.warning("%s", line.removeprefix("warning: "))
            elif line.startswith("skipped: ") and line != "skipped: none":
                log.warning("%s: %s", root, line)
    return _featurize(root, found, out, flavour, frames, progress)


def _featurize(
    root: Path, found: survey.Survey, out: Path, flavour: str, frames: int, progress: bool
) -> features.FeaturesInfo:
    """Decode, resample and featurize the surveyed clips, in Valence.csv order: of each clip only
    the audio its first `frames` frames read (`clip_logmel`)."""
    refuse_overwrite(out, found.inputs)
    _warm_up(flavour)
    rows = ((clip.name, clip_logmel(clip.path, flavour, frames), clip.valence, clip.arousal) for clip in found.clips)
    attrs = _frontend_attrs(flavour, frames, "emo_soundscapes")
    attrs["source_path"] = str(root)
    for reason, n in found.facts["skipped"].items():
        attrs[f"skipped_{reason}"] = n
    attrs["rating_scale"] = found.facts["rating_scale"]
    n = len(found.clips)
    return _write(out, n, frames, _progress(rows, n, "featurize", progress), attrs)


def clips(path: Path | None, frames: int, synth: SynthConfig | None) -> tuple[int, int, str]:
    """Names rated in both rating files, at data.frames (before any audio is read)."""
    return rated_clips(Path(path)), frames, f"rated in both rating files below {path}"


def rated_clips(root: Path) -> int:
    """Names listed in both Valence.csv and Arousal.csv (a rated clip without audio still counts)."""
    if not root.is_dir():
        raise EmosteerError(f"{root}: not a folder")
    names = [
        {name for _, name, _ in emosoundscapes.rating_rows(path)} for path in emosoundscapes.find_rating_files(root)
    ]
    return len(names[0] & names[1])


SOURCE = Source(
    "emo_soundscapes",
    "folder",
    "an Emo-Soundscapes folder (Valence.csv, Arousal.csv, audio)",
    survey,
    featurize,
    clips,
    options=("rating_range", "drop"),
    mixed=mixed_clips,
)
