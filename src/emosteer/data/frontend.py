"""Audio loading and the two log-mel front ends, as named constants and small pure functions.

Both flavours share one mel power spectrogram (librosa defaults: Hann window, centred frames,
constant padding, Slaney mel, power 2) with the report's numbers from `emosteer.constants`; they
differ only in how power becomes decibels and in how short clips are padded:

- ``original``: ``power_to_db(ref=np.max)`` per clip (amin 1e-10, top_db 80), so every clip peaks at
  0 dB and lies in [-80, 0]. Short clips get **zeros appended** -- 0 dB, the clip maximum -- exactly
  as the original extractor did (ORIGINAL.md §g); long clips are cut to T frames after the dB step,
  so the reference is the maximum over the whole clip, again as the original did.
- ``panns``: ``10 * log10(max(power, 1e-10))``, reference 1.0, no top_db -- what a PANNs checkpoint's
  bn0 was fitted to, and it keeps absolute level (an arousal cue). Short clips are padded with the
  floor value -100 dB, which is what digital silence gives, so padding looks like silence rather
  than like the loudest sound in the clip.
"""

from __future__ import annotations

import logging
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from emosteer.constants import FMAX, FMIN, FRONTENDS, HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE
from emosteer.errors import EmosteerError

POWER = 2.0  # power spectrogram, librosa's default and the original's
AMIN = 1e-10  # power floor of both flavours (librosa's default amin, PANNs' amin)
ORIGINAL_TOP_DB = 80.0  # librosa's default top_db, which the original kept
ORIGINAL_PAD_DB = 0.0  # the original appended zeros: 0 dB, the per-clip maximum
PANNS_PAD_DB = -100.0  # 10*log10(AMIN): digital silence (float32 rounding gives -100.00001)
UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put in a RIFF/FORM size they never knew

log = logging.getLogger(__name__)


def frames_for_samples(n_samples: int) -> int:
    """Number of centred STFT frames librosa returns for `n_samples` samples (1 s -> 101)."""
    return 1 + int(n_samples) // HOP_LENGTH


def frames_for_seconds(seconds: float) -> int:
    """Frames of a clip of `seconds` at SAMPLE_RATE; the natural T for a fixed clip length."""
    return frames_for_samples(int(round(seconds * SAMPLE_RATE)))


def load_audio(path: str | Path) -> np.ndarray:
    """Decode any audio file to float32 mono at SAMPLE_RATE.

    soundfile first (wav, flac, ogg, mp3 with a recent libsndfile); librosa/audioread as the
    fallback for containers libsndfile cannot open (m4a, aac...). Channels are averaged, as
    librosa.to_mono does; resampling uses librosa.resample (soxr_hq, librosa.load's default), so
    the result matches ``librosa.load(path, sr=SAMPLE_RATE)``.
    """
    path = Path(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        y = data.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError):
        y, sr = _load_with_librosa(path)
    _warn_if_truncated(path, y.size)
    if y.size == 0:
        raise EmosteerError(f"{path}: audio: no samples")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise EmosteerError(f"{path}: audio: non-finite sample at index {bad[0]}")
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(y, dtype=np.float32)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, before decoding: rate, channels, length."""

    sample_rate: int
    channels: int
    seconds: float


def audio_info(path: str | Path) -> AudioInfo:
    """Sample rate, channels and duration from the header (soundfile), or from librosa's
    audioread fallback for containers libsndfile cannot open; unreadable is an error naming the file."""
    path = Path(path)
    try:
        info = sf.info(str(path))
        return AudioInfo(int(info.samplerate), int(info.channels),
                         info.frames / info.samplerate if info.samplerate else 0.0)
    except (sf.LibsndfileError, RuntimeError):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import audioread  # librosa's own dependency; only needed on this fallback path

        try:
            with audioread.audio_open(str(path)) as f:
                return AudioInfo(int(f.samplerate), int(f.channels), float(f.duration))
        except (audioread.exceptions.DecodeError, EOFError, OSError, RuntimeError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}: no decoder reads it"
            raise EmosteerError(f"{path}: audio: unreadable ({detail})") from exc


def _load_with_librosa(path: Path) -> tuple[np.ndarray, int]:
    """librosa's audioread path, for formats soundfile cannot decode; failures name the file."""
    with warnings.catch_warnings():  # librosa's and audioread's notes would surround our one line
        warnings.simplefilter("ignore")
        import audioread  # librosa's own dependency; only needed on this fallback path

        try:
            y, sr = librosa.load(str(path), sr=None, mono=True, dtype=np.float32)
        except (audioread.exceptions.DecodeError, EOFError, OSError, RuntimeError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}: no decoder reads it"
            raise EmosteerError(f"{path}: audio: unreadable ({detail})") from exc
    return y, int(sr)


def _warn_if_truncated(path: Path, samples: int) -> None:
    """Warn when a WAV (RIFF) or AIFF (FORM) file is shorter than its header says: decoders read
    the samples that are there without a word, so a cut download would pass unnoticed."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
        size = path.stat().st_size
    except OSError:
        return
    if len(head) < 12:
        return
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        declared = struct.unpack("<I", head[4:8])[0]
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        declared = struct.unpack(">I", head[4:8])[0]
    else:
        return
    if declared not in UNKNOWN_SIZES and size < declared + 8:
        log.warning("%s: audio: truncated file (%d of the %d bytes its header declares); "
                    "using the %d samples present", path, size, declared + 8, samples)


def mel_power(y: np.ndarray) -> np.ndarray:
    """(N_MELS, frames) mel power spectrogram with the report's parameters and librosa defaults."""
    return librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32),
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        n_mels=N_MELS,
        fmin=FMIN,
        fmax=FMAX,
        power=POWER,
    )


def to_db(power: np.ndarray, flavour: str) -> np.ndarray:
    """Power -> dB for one flavour (see the module docstring for why the two differ)."""
    check_flavour(flavour)
    if flavour == "original":
        return librosa.power_to_db(power, ref=np.max, amin=AMIN, top_db=ORIGINAL_TOP_DB)
    return librosa.power_to_db(power, ref=1.0, amin=AMIN, top_db=None)


def pad_value(flavour: str) -> float:
    """dB value appended to clips shorter than T frames.

    For ``panns`` it is computed the way silence is, in float32, so a padded frame is bit-identical
    to a frame of digital silence (about PANNS_PAD_DB).
    """
    check_flavour(flavour)
    if flavour == "original":
        return ORIGINAL_PAD_DB
    return float(to_db(np.zeros((1, 1), dtype=np.float32), flavour)[0, 0])


def pad_or_cut(spec: np.ndarray, frames: int, fill: float) -> np.ndarray:
    """(t, n_mels) -> (frames, n_mels): keep the first `frames` rows, or append rows of `fill`."""
    if frames < 1:
        raise EmosteerError(f"frames: must be >= 1, got {frames}")
    if spec.shape[0] >= frames:
        return spec[:frames]
    pad = np.full((frames - spec.shape[0], spec.shape[1]), fill, dtype=spec.dtype)
    return np.concatenate([spec, pad], axis=0)


def logmel(y: np.ndarray, flavour: str, frames: int) -> np.ndarray:
    """Waveform at SAMPLE_RATE -> (frames, N_MELS) float32 log-mel in the given flavour."""
    db = to_db(mel_power(y), flavour).T
    return np.ascontiguousarray(pad_or_cut(db, frames, pad_value(flavour)), dtype=np.float32)


def check_flavour(flavour: str) -> None:
    """Reject an unknown front-end name before any work is done."""
    if flavour not in FRONTENDS:
        raise EmosteerError(f"frontend: unknown flavour {flavour!r}; expected one of {FRONTENDS}")


def window_seconds(frames: int) -> float:
    """The audio one window of `frames` frames covers: (frames - 1) hops (a centred STFT)."""
    return (frames - 1) * HOP_LENGTH / SAMPLE_RATE


@dataclass(frozen=True)
class Windows:
    """One file's windows: their log-mels, start times, and whether a second window fits."""

    specs: list[np.ndarray]  # (frames, N_MELS) each
    start_seconds: list[float]
    second_fits: bool


def windows(y: np.ndarray, flavour: str, frames: int, hop_seconds: float) -> Windows:
    """Every window of `frames` frames starting at 0, S, 2S, ... (S = hop_seconds) that fits in
    the 32 kHz mono `y`; a file shorter than one window gives one window at 0, padded as featurize
    pads a short clip."""
    win = (frames - 1) * HOP_LENGTH  # samples whose centred STFT has exactly `frames` frames
    hop = max(1, int(round(hop_seconds * SAMPLE_RATE)))
    starts = range(0, max(y.size - win, 0) + 1, hop)
    return Windows(specs=[logmel(y[s : s + win], flavour, frames) for s in starts],
                   start_seconds=[s / SAMPLE_RATE for s in starts], second_fits=y.size >= win + hop)
