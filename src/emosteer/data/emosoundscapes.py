"""A raw Emo-Soundscapes folder: audio anywhere below a root plus Valence.csv and Arousal.csv.

The rating files have no header and two columns, file name and rating (ORIGINAL.md §g); they are
merged by file name. Rows come out in Valence.csv order, filtered to clips that have both ratings
and an audio file -- the original's row order, which its split depends on. Ratings are on [-1, 1],
or on another scale [lo, hi] given by the caller (`data.rating_range`), mapped linearly onto
[-1, 1]; a rating outside the scale is an error that says which scale the file's ratings look like.

Clips lacking a rating or audio are counted and the first few named in a warning, then skipped
(the published set has a few such mismatches). Problems that would silently pick the wrong audio
or rating -- the same file name twice, a malformed rating -- are errors naming the file.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emosteer.constants import UNIT_RANGE
from emosteer.errors import EmosteerError

log = logging.getLogger(__name__)

VALENCE_CSV = "Valence.csv"
AROUSAL_CSV = "Arousal.csv"
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au", ".wma"}
)
CLIP_SECONDS = 6.0  # the dataset's clip length: its natural window is 601 frames
NAMED_IN_WARNING = 5  # how many skipped clips a warning names
# Rating scales met in affective ratings (SAM 1-9, Likert 1-5 / 1-7, 0-1, 0-10, 0-100, [-1, 1]):
# a file whose ratings leave the expected scale is told the smallest of these that holds them.
KNOWN_SCALES = (
    (-1.0, 1.0),
    (0.0, 1.0),
    (1.0, 5.0),
    (1.0, 7.0),
    (1.0, 9.0),
    (0.0, 10.0),
    (1.0, 10.0),
    (0.0, 100.0),
    (-100.0, 100.0),
)


@dataclass(frozen=True)
class Clip:
    """One rated clip: `name` as written in the rating files (the features' audio_name)."""

    name: str
    path: Path
    valence: float
    arousal: float


@dataclass(frozen=True)
class Inventory:
    """The clips to featurize and what was skipped (names, in file order)."""

    clips: list[Clip]
    missing_audio: list[str] = field(default_factory=list)  # rated in both files, no audio found
    missing_rating: list[str] = field(default_factory=list)  # audio or one rating, not both ratings
    inputs: list[Path] = field(default_factory=list)  # both rating files and every audio file seen
    scale: tuple[float, float] = UNIT_RANGE  # the rating files' scale, mapped onto [-1, 1]
    n_rated: int = 0  # clips with both ratings (with or without audio)


def find_rating_files(root: Path) -> tuple[Path, Path]:
    """Valence.csv and Arousal.csv anywhere below `root` (exactly one of each)."""
    found = []
    for wanted in (VALENCE_CSV, AROUSAL_CSV):
        hits = sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower() == wanted.lower())
        if not hits:
            raise EmosteerError(f"{root}: no {wanted} below this folder")
        if len(hits) > 1:
            raise EmosteerError(f"{root}: {wanted} found twice: {hits[0]} and {hits[1]}")
        found.append(hits[0])
    return found[0], found[1]


def rating_rows(path: Path) -> list[tuple[int, str, str]]:
    """(row index, file name, rating text) of every non-blank row: exactly two fields each. A row
    of three (`s00.wav,-0,1`: a decimal comma) is refused naming the line, never read as the name
    `s00.wav,-0`; a name holding a comma is written in quotes ("a,b.wav",0.5), as CSV does."""
    out = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for i, row in enumerate(reader):
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != 2:
                    raise EmosteerError(
                        f"{path}: line {reader.line_num}: expected 2 fields (FileName,Rating), got {len(row)}"
                        + (
                            " (a decimal comma? write the rating with a point, or quote a name that holds a comma)"
                            if len(row) > 2
                            else ""
                        )
                    )
                out.append((i, row[0].strip(), row[1].strip()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmosteerError(f"{path}: unreadable rating file ({exc})") from exc
    return out


def read_ratings(path: Path, scale: tuple[float, float] = UNIT_RANGE) -> dict[str, float]:
    """{file name: rating} in file order, as written (on `scale`); no header, two fields per row
    (`rating_rows`). `to_unit` maps a rating onto [-1, 1]."""
    ratings: dict[str, float] = {}
    first_row: dict[str, int] = {}
    for i, name, text in rating_rows(path):
        rating = _rating(path, text, i, header=not ratings)
        if not name:
            raise EmosteerError(f"{path}: field 'FileName': empty at index {i}")
        if name in ratings:
            raise EmosteerError(
                f"{path}: field 'FileName': duplicate {name!r} at index {i} (first at index {first_row[name]})"
            )
        ratings[name] = rating
        first_row[name] = i
    if not ratings:
        raise EmosteerError(f"{path}: no ratings")
    _check_scale(path, ratings, first_row, scale)
    return ratings


def _rating(path: Path, text: str, row: int, header: bool) -> float:
    """Parse one rating; must be a finite number (the scale is checked over the whole file)."""
    try:
        value = float(text)
    except ValueError as exc:
        if header:
            raise EmosteerError(
                f"{path}: field 'Rating': {text!r} is not a number at index {row}: a header row? "
                "The rating files have none (FileName,Rating on every line); delete that line"
            ) from exc
        raise EmosteerError(
            f"{path}: field 'Rating': {text!r} is not a number at index {row} (the file has no header)"
        ) from exc
    if not math.isfinite(value):
        raise EmosteerError(f"{path}: field 'Rating': {text} is not finite at index {row}")
    return value


def _check_scale(path: Path, ratings: dict[str, float], row: dict[str, int], scale: tuple[float, float]) -> None:
    """Every rating inside `scale`; else one line naming the first outside, the span of the file's
    ratings and the known scale that holds them (the param that maps it: data.rating_range)."""
    lo, hi = scale
    bad = next((name for name, v in ratings.items() if not lo <= v <= hi), None)
    if bad is None:
        return
    low, high = min(ratings.values()), max(ratings.values())
    fits = [s for s in KNOWN_SCALES if s[0] <= low and high <= s[1]]
    if fits:
        a, b = min(fits, key=lambda s: s[1] - s[0])
        hint = f"they look like a {a:g} to {b:g} scale: set data.rating_range: [{a:g}, {b:g}] to map it onto [-1, 1]"
    else:
        hint = "set data.rating_range: [lo, hi] to the ends of their scale to map it onto [-1, 1]"
    raise EmosteerError(
        f"{path}: field 'Rating': {ratings[bad]:g} outside [{lo:g}, {hi:g}] at index {row[bad]}; "
        f"the file's ratings span [{low:g}, {high:g}]: {hint}"
    )


def to_unit(value: float, scale: tuple[float, float]) -> float:
    """A rating on `scale` = [lo, hi] mapped linearly onto [-1, 1] ([-1, 1] itself unchanged)."""
    lo, hi = scale
    if (lo, hi) == UNIT_RANGE:
        return float(value)
    return min(1.0, max(-1.0, -1.0 + 2.0 * (value - lo) / (hi - lo)))  # the ends exactly, not ±1 ± ulp


def index_audio(root: Path) -> dict[str, Path]:
    """{basename: path} of every audio file below `root`; a basename seen twice is an error."""
    found: dict[str, Path] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        if path.name in found:
            raise EmosteerError(f"{path}: duplicate audio file name, also at {found[path.name]}")
        found[path.name] = path
    return found


def _matcher(audio: dict[str, Path]) -> dict[str, list[Path]]:
    """Lower-case stem -> files, for names whose extension or case differs from the audio's."""
    by_stem: dict[str, list[Path]] = {}
    for name, path in audio.items():
        by_stem.setdefault(Path(name).stem.lower(), []).append(path)
    return by_stem


def _find(name: str, audio: dict[str, Path], by_stem: dict[str, list[Path]]) -> Path | None:
    """Exact basename first; else a unique case-insensitive, extension-free match."""
    hits = _candidates(name, audio, by_stem)
    if len(hits) > 1:
        raise EmosteerError(f"{hits[0]}: rating name {name!r} matches two audio files, also {hits[1]}")
    return hits[0] if hits else None


def _candidates(name: str, audio: dict[str, Path], by_stem: dict[str, list[Path]]) -> list[Path]:
    base = Path(name).name
    return [audio[base]] if base in audio else by_stem.get(Path(base).stem.lower(), [])


def collect_clips(
    root: str | Path,
    valence_csv: str | Path | None = None,
    arousal_csv: str | Path | None = None,
    scale: tuple[float, float] = UNIT_RANGE,
    warn: bool = True,
) -> Inventory:
    """Merge ratings and audio below `root`; skip clips lacking either (and log a warning, unless
    the caller reports them itself: `warn=False`). Ratings on `scale` come out on [-1, 1]."""
    root = Path(root)
    if not root.is_dir():
        raise EmosteerError(f"{root}: not a folder")
    if valence_csv is None or arousal_csv is None:
        found_v, found_a = find_rating_files(root)
        valence_csv = valence_csv or found_v
        arousal_csv = arousal_csv or found_a
    valence = read_ratings(Path(valence_csv), scale)
    arousal = read_ratings(Path(arousal_csv), scale)
    audio = index_audio(root)
    by_stem = _matcher(audio)
    clips: list[Clip] = []
    missing_audio: list[str] = []
    used: set[Path] = set()
    for name, v in valence.items():
        if name not in arousal:
            continue
        path = _find(name, audio, by_stem)
        if path is None:
            missing_audio.append(name)
            continue
        if path in used:
            raise EmosteerError(f"{path}: matched by two rating rows (second: {name!r})")
        used.add(path)
        clips.append(Clip(name=name, path=path, valence=to_unit(v, scale), arousal=to_unit(arousal[name], scale)))
    one_rating = [n for n in valence if n not in arousal] + [n for n in arousal if n not in valence]
    # audio of a one-rating clip is that clip, already counted once above
    half_rated = {p for n in one_rating for p in _candidates(n, audio, by_stem)}
    no_rating = [p.name for p in audio.values() if p not in used and p not in half_rated]
    inputs = [Path(valence_csv), Path(arousal_csv), *audio.values()]
    n_rated = sum(name in arousal for name in valence)
    inventory = Inventory(clips, missing_audio, one_rating + no_rating, inputs, scale, n_rated)
    if warn:
        _warn(inventory, root)
    if not clips:
        raise EmosteerError(f"{root}: no clip has both ratings and an audio file")
    return inventory


def _warn(inv: Inventory, root: Path) -> None:
    """One warning per kind of skipped clip: the count and the first few names."""
    for what, names in (
        ("rated clips have no audio file", inv.missing_audio),
        ("clips lack a valence or arousal rating", inv.missing_rating),
    ):
        if names:
            log.warning("%s: %d %s, skipped (first: %s)", root, len(names), what, _first(names))


def _first(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:NAMED_IN_WARNING])
    return shown + (", ..." if len(names) > NAMED_IN_WARNING else "")
