"""`emosteer predict`: run a trained checkpoint over a features HDF5 or over audio files, optionally steered.

    emosteer predict --checkpoint CKPT (--features FILE.h5 | --audio PATH [PATH ...]) --out OUT.npz
        [--csv OUT.csv] [--forward-passes N] [--batch-size B]
        [--frontend panns|original] [--frames N|whole] [--hop-seconds S]          (audio only)
        [--steering-json TABLE.json (--category NAME | --category-file FILE | --target V,A [--interpolation I])]
        [--strength S|NEG,POS] [--alpha A] [--first-pass | --no-first-pass]

--features reads a features HDF5 through the library's readers (emosteer.data.features: structure,
labels and names checked first, every block of `feature` checked for NaN/inf as it is read).
--audio takes files or folders (searched recursively for audio files), decodes any format and
sample rate the front end reads, and computes log-mels with `--frontend` over the first `--frames`
frames (`whole` = the whole file), or over windows of `--frames` frames every `--hop-seconds`
seconds (one row per window, with its start time and the window's length in seconds; a stderr line
states the window, and names the files too short for a second window). Both default to what the checkpoint records it
was trained on (`emosteer` training writes data.frontend and data.frames into its meta); a flag that
differs from the record is used, with a warning. A checkpoint without the record (the original's, or
an older one of ours) defaults to panns and 101 frames (1 s), the pipeline's defaults. --features
warns the same way when the file's own record (the `frontend` attribute and the frames that
`emosteer featurize` writes) differs from the checkpoint's.

--strength is one number (negative reverses the modulation) or NEG,POS: separate factors for the
steered ModBlocks' neg and pos scales (write --strength=-1,3 when NEG is negative).

OUT.npz holds, in row order: audio_name (N,) str, valence, arousal (N,) float32 (final pass),
valence_128d, arousal_128d (N, 128) float32 (final pass), and start_seconds, window_seconds (N,)
with --hop-seconds. The CSV (always for --audio, default OUT with suffix .csv; with --features only
if --csv is given) has the columns audio_name, [start_seconds, window_seconds,] valence, arousal.
Both are written to temp files and renamed together (a failure renames neither), and only when
every prediction is finite; no output may be one of the inputs. See docs/model.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from emosteer import pipeline
from emosteer.atomic import refuse_overwrite, replacing_all
from emosteer.constants import (
    AMPS,
    DEVICES,
    FRONTENDS,
    HOP_LENGTH,
    MAX_BATCH,
    MAX_FORWARD_PASSES,
    MAX_FRAMES,
    MIN_FRAMES,
    REPORT_STRENGTH,
    SAMPLE_RATE,
)
from emosteer.data import features as features_h5
from emosteer.data.frontend import (
    FileWindows,
    audio_info,
    check_flavour,
    clip_logmel,
    frames_for_samples,
    load_audio,
    logmel,
    window_count,
    window_seconds,
)
from emosteer.digest import file_sha256
from emosteer.errors import EmosteerError
from emosteer.evaluation import methods
from emosteer.model.checkpoints import load_checkpoint
from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM
from emosteer.runtime import check_amp, resolve_device, set_threads
from emosteer.schema import params
from emosteer.steering import signals

log = logging.getLogger(__name__)

DEFAULT_FRONTEND = "panns"
DEFAULT_FRAMES = 101  # 1 s at 32 kHz with hop 320
WHOLE = "whole"
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au", ".wma", ".webm"}
)
OUTPUT_KEYS = ("valence", "arousal", "valence_128d", "arousal_128d")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand to the emosteer CLI."""
    p = subparsers.add_parser(
        "predict",
        help="predict valence/arousal (optionally steered) for a features HDF5 or for audio files",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--checkpoint", required=True, type=Path, metavar="CKPT", help="ours or the original's trained model"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", type=Path, metavar="FILE.h5", help="features HDF5 (emosteer featurize's schema)")
    source.add_argument(
        "--audio",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="audio files or folders (searched recursively); no ratings needed",
    )
    p.add_argument("--out", required=True, type=Path, metavar="OUT.npz", help="output .npz")
    p.add_argument(
        "--csv",
        type=Path,
        default=None,
        metavar="OUT.csv",
        help="also write audio_name,[start_seconds,]valence,arousal (default for --audio: OUT.csv)",
    )
    p.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default=None,
        help=f"log-mel front end for --audio (default: the checkpoint's record, else {DEFAULT_FRONTEND})",
    )
    p.add_argument(
        "--frames",
        type=_frames,
        default=None,
        metavar="N|whole",
        help="frames per row for --audio (default: the checkpoint's record, else "
        f"{DEFAULT_FRAMES}; 'whole' = whole file)",
    )
    p.add_argument(
        "--hop-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="--audio: one row per window of --frames frames, a window every S seconds",
    )
    p.add_argument(
        "--max-windows",
        type=_bounded(MAX_WINDOWS),
        default=DEFAULT_MAX_WINDOWS,
        metavar="N",
        help=f"--hop-seconds: refuse a run that cuts more windows than this (default {DEFAULT_MAX_WINDOWS:,}; "
        "each is an output row of about 1 KB)",
    )
    p.add_argument(
        "--forward-passes",
        type=_bounded(MAX_FORWARD_PASSES),
        default=None,
        metavar="N",
        help="number of passes (default: the checkpoint's, 2 for the original)",
    )
    p.add_argument(
        "--steering-json",
        type=Path,
        default=None,
        metavar="TABLE.json",
        help="steering table in the original's format {category: {valence_128d, arousal_128d}}",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--category", default=None, metavar="NAME", help="steer every row with this category")
    which.add_argument(
        "--category-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="--features: one category name per line, in input order",
    )
    which.add_argument(
        "--target",
        type=_target,
        default=None,
        metavar="V,A",
        help="steer toward (valence, arousal), by --interpolation over the table's bins "
        "(write --target=-0.5,0.2 when V is negative)",
    )
    p.add_argument(
        "--interpolation",
        choices=list(methods.INTERPOLATIONS),
        default=None,
        help="how --target picks its signal: a steering method's interpolation (default idw: "
        "the inverse-distance blend of the populated bins)",
    )
    p.add_argument(
        "--strength",
        type=_strength,
        default=REPORT_STRENGTH,
        metavar="S|NEG,POS",
        help="multiplies the steered ModBlocks' neg/pos scales: one finite number (negative "
        "reverses the modulation) or NEG,POS for each scale apart (write --strength=-1,3 "
        f"when NEG is negative; default {REPORT_STRENGTH})",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        metavar="A",
        help="source = alpha*steer + (1-alpha)*own feedback, in [0, 1] (default 1)",
    )
    p.add_argument(
        "--first-pass",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="steer pass 1 too (default: yes, as the report did)",
    )
    p.add_argument(
        "--batch-size",
        type=_bounded(MAX_BATCH),
        default=32,
        metavar="B",
        help=f"rows per forward call (at most {MAX_BATCH})",
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto (CUDA where present, else CPU), cpu or cuda (default auto)",
    )
    p.add_argument("--amp", choices=AMPS, default="off", help="mixed precision on CUDA (default off)")
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="torch/BLAS threads on the CPU (default: torch's own choice)",
    )
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Rows:
    """What is predicted: one name (and start time) per row, and the log-mel blocks in row order.
    Audio rows are cut as the blocks are drawn: `names` and `start_seconds` are complete once
    `blocks` is exhausted."""

    names: list[str]
    blocks: Iterable[np.ndarray]  # (b, T, 64) float32 blocks whose rows add up to len(names)
    start_seconds: list[float] | None = None
    window_seconds: float | None = None  # with --hop-seconds: the audio one window covers


def run(args: argparse.Namespace) -> None:
    """Validate everything cheap first, then predict block by block and write the outputs."""
    strength, alpha, audio = check_request(args)
    csv_out = args.csv if args.csv is not None or audio is None else args.out.with_suffix(".csv")
    inputs = [args.checkpoint, args.steering_json, args.category_file, args.features, *(audio or [])]
    outputs = [args.out] + ([csv_out] if csv_out is not None else [])
    for out in outputs:
        refuse_overwrite(out, inputs)
        _check_output_path(out)  # all outputs, before any is written: nothing partial
    if csv_out is not None and csv_out.resolve() == args.out.resolve():
        raise EmosteerError(f"{csv_out}: --csv and --out are the same file")
    rows, out = predictions(args, strength, alpha, audio)
    arrays = {"audio_name": np.array(rows.names, dtype=str), **out}
    if rows.start_seconds is not None:
        arrays["start_seconds"] = np.array(rows.start_seconds, dtype=np.float64)
        arrays["window_seconds"] = np.full(len(rows.names), rows.window_seconds)
    with replacing_all(outputs) as temps:  # both written, then both renamed: never one alone
        pipeline.save_npz(temps[0], arrays)
        if csv_out is not None:
            pipeline.save_csv(temps[1], csv_columns(rows, out), where=csv_out)


def check_request(args: argparse.Namespace) -> tuple[Any, float, list[Path] | None]:
    """The cheap checks of the flags, before anything is loaded: the strength and alpha (params.yaml's
    limits), the steering flags together, the audio files found (None without --audio)."""
    strength = params.check_value(params.Strength, args.strength, "--strength")  # params.yaml's limits
    alpha = params.check_value(params.Alpha, args.alpha, "--alpha")
    if _steering(args) != (args.steering_json is not None):
        raise EmosteerError("predict: --steering-json needs --category, --category-file or --target, and they need it")
    if args.interpolation is not None and args.target is None:
        raise EmosteerError("predict: --interpolation applies to --target only")
    audio = _audio_files(args.audio) if args.audio is not None else None
    _check_source_options(args)
    return strength, alpha, audio


def _steering(args: argparse.Namespace) -> bool:
    return any(x is not None for x in (args.category, args.category_file, args.target))


def predictions(
    args: argparse.Namespace,
    strength: Any,
    alpha: float,
    audio: list[Path] | None,
    waves: list[tuple[str, np.ndarray]] | None = None,
) -> tuple[Rows, dict[str, np.ndarray]]:
    """The rows and their predictions (OUTPUT_KEYS), every one finite: what `run` writes, and what
    emosteer.api returns. `waves` ((name, waveform at SAMPLE_RATE) pairs, for the notebook API)
    take the place of --audio's files and are cut the same way (no --hop-seconds)."""
    if args.threads is not None:
        set_threads(params.check_value(params.Threads, args.threads, "--threads"))
    check_amp(resolve_device(args.device), args.amp)  # cuda without CUDA, amp on the CPU: refused first
    model, meta = load_checkpoint(args.checkpoint)
    if waves is not None:
        frontend, frames = audio_front_end(args, meta)
        rows = wave_rows(waves, frontend, frames)
    elif audio is not None:
        frontend, frames = audio_front_end(args, meta)
        check_audio_sizes(audio, frames, args.hop_seconds, args.max_windows)
        rows = _audio_rows(audio, frontend, frames, args.hop_seconds, args.max_windows)
    else:
        features_front_end(args.features, args.checkpoint, meta)
        rows = _feature_rows(args.features)
    steer_v = steer_a = None
    if _steering(args):
        steer_v, steer_a = steering_vectors(args, len(rows.names))
    out = _predict_rows(model, rows, steer_v, steer_a, strength, alpha, args)
    check_finite(out, rows.names)
    return rows, out


# --- inputs -----------------------------------------------------------------------------------


def _check_source_options(args: argparse.Namespace) -> None:
    """Audio-only options need --audio; --category-file needs --features (one line per row)."""
    if args.features is not None:
        for flag, value in (
            ("--frontend", args.frontend),
            ("--frames", args.frames),
            ("--hop-seconds", args.hop_seconds),
        ):
            if value is not None:
                raise EmosteerError(f"predict: {flag} applies to --audio only (a features file has its front end)")
    elif args.category_file is not None:
        raise EmosteerError("predict: --category-file needs --features (its lines follow the file's rows)")
    if args.hop_seconds is not None and args.frames == WHOLE:
        raise EmosteerError("predict: --hop-seconds needs a window length: --frames N, not 'whole'")


def audio_front_end(args: argparse.Namespace, meta: dict) -> tuple[str, int | str]:
    """--audio's front end and frames: the flags where given, else the checkpoint's record
    (meta `frontend`, `frames`), else the pipeline's defaults. A flag that differs from the record
    wins, with one stderr line each: the model was trained on the recorded log-mels."""
    recorded = {"frontend": meta.get("frontend"), "frames": meta.get("frames")}
    where = f"{args.checkpoint}: meta"
    if recorded["frontend"] is not None and recorded["frontend"] not in FRONTENDS:
        raise EmosteerError(f"{where} 'frontend' is {recorded['frontend']!r}, expected one of {', '.join(FRONTENDS)}")
    frames = recorded["frames"]
    if frames is not None and (type(frames) is not int or frames < MIN_FRAMES):
        raise EmosteerError(f"{where} 'frames' is {frames!r}, expected an integer >= {MIN_FRAMES}")
    chosen = {}
    for key, flag, given, default in (
        ("frontend", "--frontend", args.frontend, DEFAULT_FRONTEND),
        ("frames", "--frames", args.frames, DEFAULT_FRAMES),
    ):
        if given is None:
            chosen[key] = default if recorded[key] is None else recorded[key]
            continue
        if recorded[key] is not None and given != recorded[key]:
            log.warning(
                f"{flag} {given} differs from the {recorded[key]} that {args.checkpoint} was trained on; using {given}"
            )
        chosen[key] = given
    return chosen["frontend"], chosen["frames"]


def features_front_end(path: Path, checkpoint: Path, meta: dict) -> None:
    """One stderr line for each front-end fact (log-mel flavour, frames per row) that the features
    file and the checkpoint both record and that differ: the model sees log-mels it was not
    trained on. A file or checkpoint without the record (e.g. the original's) says nothing."""
    info = features_h5.read_info(path)  # the values are checked as predict reads them
    for key, had in (("frontend", info.attrs.get("frontend")), ("frames", info.frames)):
        trained = meta.get(key)
        if had is not None and trained is not None and had != trained:
            log.warning(f"{path} holds {key} {had}, {checkpoint} was trained on {trained}; predicting anyway")


def _audio_files(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for audio suffixes (sorted); each file once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
            )
            if not inside:
                raise EmosteerError(f"{path}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise EmosteerError(f"{path}: no such audio file or folder")
    seen: dict[Path, Path] = {}
    for path in found:
        key = path.resolve()
        if key in seen:
            raise EmosteerError(f"{path}: given twice (also as {seen[key]})")
        seen[key] = path
    return found


def wave_rows(waves: list[tuple[str, np.ndarray]], flavour: str, frames: int | str) -> Rows:
    """One row per waveform (mono, at SAMPLE_RATE), cut as --audio cuts a file: its first `frames`
    frames, padded as featurize pads, or 'whole' (at most MAX_FRAMES frames)."""
    check_flavour(flavour)
    specs = []
    for name, y in waves:
        if frames == WHOLE:
            _check_whole(Path(name), y.size)
            specs.append(logmel(y, flavour, max(frames_for_samples(y.size), MIN_FRAMES)))
        else:
            specs.append(logmel(y, flavour, frames))
    blocks = [spec[None] for spec in specs] if frames == WHOLE else _stacked(iter(specs))
    return Rows(names=[name for name, _ in waves], blocks=blocks)


def _feature_rows(path: Path) -> Rows:
    """Names after the library's structural checks; `feature` blocks checked for NaN/inf as read."""
    names, _, _ = features_h5.read_labels(path)

    def blocks() -> Iterator[np.ndarray]:
        for block in features_h5.iter_feature_blocks(path):
            _check_frames(block.shape[1], f"{path}: dataset 'feature'")
            yield block

    return Rows(names=names, blocks=blocks())


WINDOWS_PER_BLOCK = 256  # windows cut and predicted at a time: about 7 MB of log-mels at 101 frames
DEFAULT_MAX_WINDOWS = 100_000  # rows one run cuts with --hop-seconds (each about 1 KB of output)
MAX_WINDOWS = 10_000_000  # the most --max-windows raises it to
WHOLE_SAMPLES = MAX_FRAMES * HOP_LENGTH  # --frames whole: a file of this many samples makes MAX_FRAMES + 1


def check_audio_sizes(files: list[Path], frames: int | str, hop_seconds: float | None, max_windows: int) -> None:
    """From the headers, before any decoding: with --frames whole no file longer than a window may
    be (MAX_FRAMES frames, 60 s), with --hop-seconds the windows of all files together at most
    `max_windows`; each is one line naming the cap and the flag."""
    if frames != WHOLE and hop_seconds is None:
        return  # the first `frames` frames of each file: bounded by --frames
    total = 0
    for path in files:
        samples = round(audio_info(path).seconds * SAMPLE_RATE)
        if frames == WHOLE:
            _check_whole(path, samples)
        else:
            total += window_count(samples, frames, hop_seconds)
            if total > max_windows:
                _too_many_windows(total, files, path, hop_seconds, max_windows, header=True)


def _check_whole(path: Path, samples: int) -> None:
    if samples >= WHOLE_SAMPLES:
        raise EmosteerError(
            f"{path}: {samples / SAMPLE_RATE:.1f} s of audio; --frames whole makes one window of the whole file, "
            f"at most {MAX_FRAMES} frames ({(MAX_FRAMES - 1) * HOP_LENGTH / SAMPLE_RATE:g} s): use --frames N "
            "--hop-seconds S for a longer file"
        )


def _too_many_windows(total: int, files: list[Path], path: Path, hop_seconds: float, cap: int, header: bool) -> None:
    raise EmosteerError(
        f"predict: --hop-seconds {hop_seconds:g} cuts {'at least ' if not header else ''}{total:,} windows "
        f"from {len(files)} file{'s' if len(files) != 1 else ''} (reaching it at {path}), more than --max-windows "
        f"{cap:,}; raise --max-windows (at most {MAX_WINDOWS:,}; each window is a row, about 1 KB of "
        "output) or use a longer --hop-seconds"
    )


def _audio_rows(
    files: list[Path],
    flavour: str,
    frames: int | str,
    hop_seconds: float | None,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> Rows:
    """Each file's rows, decoded a block at a time as the model asks for them (nothing is
    decoded before the first model call, and no file is held whole).

    `frames` N: the first N frames of each file (padded like featurize pads a short clip; only
    the audio they read is decoded, `clip_logmel`), or with `hop_seconds` every window of N frames
    starting at 0, S, 2S, ... that fits in the file (a file shorter than one window gives one padded
    window), at most `max_windows` in all. 'whole': one row per file, its whole length (at most
    MAX_FRAMES frames).
    """
    check_flavour(flavour)
    names: list[str] = []
    if hop_seconds is None:

        def per_file() -> Iterator[np.ndarray]:
            for path in tqdm(files, desc="audio", unit="file", disable=len(files) < 20, leave=False):
                names.append(str(path))
                if frames == WHOLE:
                    y = load_audio(path, limit=WHOLE_SAMPLES)
                    _check_whole(path, y.size)
                    yield logmel(y, flavour, max(frames_for_samples(y.size), MIN_FRAMES))[None]
                else:
                    yield clip_logmel(path, flavour, frames)

        blocks = per_file() if frames == WHOLE else _stacked(per_file())
        return Rows(names=names, blocks=blocks)
    starts: list[float] = []
    window = window_seconds(frames)

    def windowed() -> Iterator[np.ndarray]:
        single: list[tuple[Path, float]] = []  # files too short for a second window
        bar = tqdm(desc="windows", unit="window", disable=not sys.stderr.isatty(), leave=False)
        for path in files:
            cut = FileWindows(path, flavour, frames, hop_seconds)
            for start, spec in cut:
                if len(names) >= max_windows:
                    _too_many_windows(len(names) + 1, files, path, hop_seconds, max_windows, header=False)
                names.append(str(path))
                starts.append(start / SAMPLE_RATE)
                bar.update()
                yield spec
            if cut.count < 2:
                single.append((path, cut.samples / SAMPLE_RATE))
        bar.close()
        _say_windows(len(files), len(names), frames, window, hop_seconds, single)

    return Rows(names=names, blocks=_stacked(windowed()), start_seconds=starts, window_seconds=window)


def _stacked(specs: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """(T, 64) log-mels as (b, T, 64) blocks of up to WINDOWS_PER_BLOCK."""
    block: list[np.ndarray] = []
    for spec in specs:
        block.append(spec)
        if len(block) == WINDOWS_PER_BLOCK:
            yield np.stack(block)
            block = []
    if block:
        yield np.stack(block)


def _say_windows(
    n_files: int, n_rows: int, frames: int, window: float, hop: float, single: list[tuple[Path, float]]
) -> None:
    """One stderr line stating the window in seconds, and one naming the files that a window plus
    a hop does not fit (one row at 0 s; shorter than the window: padded, as featurize pads)."""
    log.info(
        f"windows of {frames} frames = {window:.2f} s of audio, one every {hop:g} s: {n_rows} rows from {n_files} files"
    )
    if single:
        path, seconds = single[0]
        more = f" and {len(single) - 1} more" if len(single) > 1 else ""
        log.info(
            f"note: {len(single)} of {n_files} files give one window only, at 0 s: "
            f"a second needs {window + hop:.2f} s (window {window:.2f} + hop {hop:g}); first: "
            f"{path} ({seconds:.2f} s{', padded' if seconds < window else ''}){more}; "
            "use a shorter --hop-seconds or --frames"
        )


def _check_frames(frames: int, where: str) -> None:
    if frames < MIN_FRAMES:
        raise EmosteerError(f"{where}: {frames} frames, the model needs >= {MIN_FRAMES}")


def read_category_file(path: Path, n: int, features_path: Path) -> list[str]:
    """One category name per line (surrounding whitespace stripped); exactly n lines."""
    path = Path(path)
    if not path.is_file():
        raise EmosteerError(f"{path}: no such category file")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise EmosteerError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    lines = [line.strip() for line in text.splitlines()]
    if len(lines) != n:
        raise EmosteerError(f"{path}: {len(lines)} category lines, but {features_path} has {n} clips")
    return lines


def steering_vectors(args: argparse.Namespace, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(128,) x2 for --category/--target, (n, 128) x2 for --category-file; warns on a model mismatch."""
    warn_model_mismatch(args.steering_json, args.checkpoint)
    if args.target is not None:
        table = signals.read_json(args.steering_json)
        pick = methods.INTERPOLATIONS[args.interpolation or "idw"].signals
        v, a = pick(table, np.array([args.target[0]]), np.array([args.target[1]]))
        return v[0], a[0]
    table = signals.read_categories(args.steering_json)
    categories = (
        [args.category] if args.category is not None else read_category_file(args.category_file, n, args.features)
    )
    for line, name in enumerate(categories, start=1):
        if name not in table:
            where = f"{args.category_file} line {line}" if args.category_file else "--category"
            raise EmosteerError(
                f"{where}: unknown category {name!r} (not in {args.steering_json}; "
                f"known: {', '.join(map(repr, sorted(table)[:6]))}{', ...' if len(table) > 6 else ''})"
            )
    if args.category is not None:
        return table[args.category]
    names = sorted(table)
    lookup = {name: i for i, name in enumerate(names)}
    rows = np.fromiter((lookup[c] for c in categories), dtype=np.int64, count=len(categories))
    valence = np.stack([table[nm][0] for nm in names])
    arousal = np.stack([table[nm][1] for nm in names])
    return valence[rows], arousal[rows]


def warn_model_mismatch(table_path: Path, checkpoint: Path) -> bool:
    """One stderr line when the table records a model sha256 other than the checkpoint's."""
    meta = signals.read_metadata(table_path)
    recorded = meta.get("model_sha256") if meta else None
    if not isinstance(recorded, str):
        return False
    actual = file_sha256(checkpoint)
    if actual == recorded:
        return False
    log.warning(
        f"{table_path} was built with model sha256 {recorded[:12]}..., but {checkpoint} "
        f"is {actual[:12]}...: its signals may not fit this model"
    )
    return True


# --- prediction and outputs -------------------------------------------------------------------


def _predict_rows(
    model: EmotionLRM,
    rows: Rows,
    steer_v: np.ndarray | None,
    steer_a: np.ndarray | None,
    strength: float,
    alpha: float,
    args: argparse.Namespace,
) -> dict[str, np.ndarray]:
    """inference.predict over each block, per-row steering sliced to the block; outputs joined."""
    parts: list[dict[str, np.ndarray]] = []
    start = 0
    for block in rows.blocks:
        stop = start + len(block)
        parts.append(
            predict(
                model,
                block,
                batch_size=args.batch_size,
                steer_valence=_block_rows(steer_v, start, stop),
                steer_arousal=_block_rows(steer_a, start, stop),
                strength=strength,
                alpha=alpha,
                first_pass=args.first_pass,
                forward_passes=args.forward_passes,
                progress=sys.stderr.isatty() and args.audio is None,
                device=resolve_device(args.device),
                amp=args.amp,
            )
        )
        start = stop
    return {key: np.concatenate([p[key] for p in parts]) for key in OUTPUT_KEYS}


def _block_rows(steer: np.ndarray | None, start: int, stop: int) -> np.ndarray | None:
    """One signal for every row (None or (128,)) as it is; per-row signals (n, 128) sliced to a block."""
    return steer if steer is None or steer.ndim == 1 else steer[start:stop]


def check_finite(out: dict[str, np.ndarray], names: list[str]) -> None:
    """Refuse to write NaN/inf: one line naming the first row with a non-finite output."""
    ok = np.ones(len(names), dtype=bool)
    for key in OUTPUT_KEYS:
        arr = out[key]
        ok &= np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    if not ok.all():
        i = int(np.argmin(ok))
        bad = [k for k in OUTPUT_KEYS if not np.isfinite(out[k][i]).all()]
        raise EmosteerError(
            f"predict: non-finite {', '.join(bad)} for {names[i]!r} (row {i}); nothing written "
            "(a checkpoint with NaN/inf weights?)"
        )


def _check_output_path(path: Path) -> None:
    if path.is_dir():
        raise EmosteerError(f"{path}: is a folder, expected an output file path")
    if not path.parent.is_dir():
        raise EmosteerError(f"{path}: output directory {path.parent} does not exist")


def csv_columns(rows: Rows, out: dict[str, np.ndarray]) -> dict[str, Any]:
    """audio_name,[start_seconds,window_seconds,]valence,arousal per row: the CSV beside the NPZ,
    in the pipeline's CSV format (pipeline.save_csv: floats rounded to 6 digits)."""
    columns: dict[str, Any] = {"audio_name": rows.names}
    if rows.start_seconds is not None:
        columns["start_seconds"] = np.array(rows.start_seconds, dtype=np.float64)
        columns["window_seconds"] = [rows.window_seconds] * len(rows.names)
    return {**columns, "valence": out["valence"], "arousal": out["arousal"]}


# --- argument types ---------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _bounded(limit: int) -> Callable[[str], int]:
    """An argument type: an integer in [1, limit]."""

    def parse(text: str) -> int:
        value = _positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"at most {limit}, got {value}")
        return value

    return parse


def _frames(text: str) -> int | str:
    if text == WHOLE:
        return WHOLE
    value = _positive_int(text)
    if not MIN_FRAMES <= value <= MAX_FRAMES:
        raise argparse.ArgumentTypeError(
            f"the model needs >= {MIN_FRAMES} frames, and a window is at most {MAX_FRAMES} (60 s); got {value}"
        )
    return value


def _strength(text: str) -> float | list[float]:
    """`2`, `-1` or NEG,POS such as `-1,3`: numbers only; the limits are params.Strength's (run)."""
    parts = text.split(",")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"expected S or NEG,POS, got {text!r}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or NEG,POS, got {text!r}") from None
    return numbers[0] if len(numbers) == 1 else numbers


def _target(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        v, a = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected V,A (two numbers), got {text!r}") from None
    if not (-1.0 <= v <= 1.0 and -1.0 <= a <= 1.0):
        raise argparse.ArgumentTypeError(f"V and A must be in [-1, 1], got {text!r}")
    return v, a
