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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


BLOCK_SECONDS = 30.0  # audio decoded at a time: 30 s of 48 kHz stereo is 11 MB of float32
RESAMPLE_QUALITY = "soxr_hq"  # librosa.load's default res_type, what load_audio always matched


def load_audio(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Decode any audio file to float32 mono at SAMPLE_RATE (the first `limit` samples of it, when
    given: only as much of the file is decoded as they need).

    soundfile first (wav, flac, ogg, mp3 with a recent libsndfile); audioread as the fallback for
    containers libsndfile cannot open (m4a, aac...). Channels are averaged, as librosa.to_mono does;
    resampling is soxr's HQ stream (librosa.resample's soxr_hq, fed a block at a time: the same
    samples, bit for bit), so the result matches ``librosa.load(path, sr=SAMPLE_RATE)``.
    """
    blocks = list(audio_blocks(path, limit))
    return np.ascontiguousarray(np.concatenate(blocks) if blocks else np.zeros(0), dtype=np.float32)


def audio_blocks(path: str | Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """`load_audio`'s samples as float32 blocks of about BLOCK_SECONDS, decoded, mixed and
    resampled a block at a time, so that a file of any length costs a few blocks of memory; with
    `limit`, they stop after `limit` samples. A file without samples, or a non-finite sample
    (named by its index in the file), is an error naming the file."""
    path = Path(path)
    rate, source = _decoded(path)
    given = 0
    for block in _resampled(_checked(path, source), rate):
        if limit is not None and given + block.size >= limit:
            yield block[: limit - given]
            source.close()
            return
        given += block.size
        yield block


def _checked(path: Path, source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Mono source blocks, each checked finite; an empty file is refused once it ends."""
    seen = 0
    for block in source:
        bad = np.flatnonzero(~np.isfinite(block))
        if bad.size:
            raise EmosteerError(f"{path}: audio: non-finite sample at index {seen + int(bad[0])}")
        seen += block.size
        yield block
    if seen == 0:
        raise EmosteerError(f"{path}: audio: no samples")


def _resampled(blocks: Iterator[np.ndarray], rate: int) -> Iterator[np.ndarray]:
    """Blocks at `rate` as blocks at SAMPLE_RATE: soxr's stream (equal to its one-shot resample),
    the length fixed to ceil(n x SAMPLE_RATE / rate) as librosa.resample fixes it. The last output
    block is held back until the input ends, to be cut or padded."""
    if rate == SAMPLE_RATE:
        yield from blocks
        return
    import soxr  # librosa's resampler

    stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    n_in = n_out = 0
    held = np.zeros(0, dtype=np.float32)
    for block in blocks:
        n_in += block.size
        out = stream.resample_chunk(block, last=False)
        if out.size:
            if held.size:
                yield held
                n_out += held.size
            held = out
    last = np.concatenate([held, stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)])
    want = int(np.ceil(n_in * (float(SAMPLE_RATE) / rate))) - n_out  # librosa's n_samples, less what went
    if want > last.size:
        last = np.concatenate([last, np.zeros(want - last.size, dtype=np.float32)])
    if want >= 0:
        yield last[:want]


def _decoded(path: Path) -> tuple[int, Any]:
    """(sample rate, generator of float32 mono blocks) from soundfile, else from audioread."""
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return _audioread_blocks(path)
    return int(f.samplerate), _soundfile_blocks(path, f)


def _soundfile_blocks(path: Path, f: sf.SoundFile) -> Iterator[np.ndarray]:
    with f:
        per_block = max(1, int(BLOCK_SECONDS * f.samplerate))
        seen, ended = 0, False
        try:
            while True:
                data = f.read(per_block, dtype="float32", always_2d=True)
                if not len(data):
                    ended = True
                    break
                seen += len(data)
                yield data.mean(axis=1)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise EmosteerError(f"{path}: audio: unreadable at sample {seen} ({exc})") from None
        finally:  # the samples present: those read to the end, or what the header counts
            _warn_if_truncated(path, seen if ended else int(f.frames))


def _audioread_blocks(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    """librosa.load's audioread path, a buffer at a time: 16-bit samples scaled by 1/32768 (its
    buf_to_float), channels averaged after de-interleaving (its to_mono)."""
    with warnings.catch_warnings():  # audioread's notes would surround our one line
        warnings.simplefilter("ignore")
        import audioread  # librosa's own dependency; only needed on this fallback path

        errors = (audioread.exceptions.DecodeError, EOFError, OSError, RuntimeError, ValueError)
        try:
            reader = audioread.audio_open(str(path))
        except errors as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}: no decoder reads it"
            raise EmosteerError(f"{path}: audio: unreadable ({detail})") from exc

    def blocks() -> Iterator[np.ndarray]:
        channels = max(1, int(reader.channels))
        rest = np.zeros(0, dtype=np.float32)
        seen = 0
        with reader:
            try:
                for buffer in reader:
                    samples = np.concatenate([rest, np.frombuffer(buffer, "<i2").astype(np.float32) * (1.0 / 32768)])
                    whole = samples.size - samples.size % channels
                    rest = samples[whole:]
                    seen += whole // channels
                    if whole:
                        yield samples[:whole].reshape(-1, channels).T.mean(axis=0)
            except errors as exc:
                raise EmosteerError(
                    f"{path}: audio: unreadable at sample {seen} ({type(exc).__name__}: {exc})"
                ) from exc
        _warn_if_truncated(path, seen)

    return int(reader.samplerate), blocks()


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
        return AudioInfo(
            int(info.samplerate), int(info.channels), info.frames / info.samplerate if info.samplerate else 0.0
        )
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
        log.warning(
            "%s: audio: truncated file (%d of the %d bytes its header declares); using the %d samples present",
            path,
            size,
            declared + 8,
            samples,
        )


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


def samples_for_frames(frames: int) -> int:
    """Samples at SAMPLE_RATE that the first `frames` centred frames read: up to the last one's
    centre, (frames - 1) hops, plus half a window."""
    return (frames - 1) * HOP_LENGTH + N_FFT // 2


EXACT_SECONDS = 60.0  # a file up to this long is decoded whole by clip_logmel, as it always was


def clip_logmel(path: str | Path, flavour: str, frames: int) -> np.ndarray:
    """`logmel(load_audio(path), flavour, frames)` in bounded memory. A file up to EXACT_SECONDS
    is decoded whole and its log-mel is that one bit for bit (every clip of Emo-Soundscapes, 6 s);
    of a longer one only the audio its frames read (the first `samples_for_frames(frames)`
    samples, at any sample rate), and its log-mel differs from the whole file's by float rounding
    (the mel projection of fewer frames: 3e-7 of the value, measured). The original flavour's
    reference, the largest power of the whole clip, is then taken over the rest of the file a
    block at a time (`max_mel_power`)."""
    check_flavour(flavour)
    need = samples_for_frames(frames)
    exact = max(need, int(EXACT_SECONDS * SAMPLE_RATE))
    y = load_audio(path, limit=exact + 1)
    if y.size <= exact:
        return logmel(y, flavour, frames)
    power = mel_power(y[:need])
    if flavour == "panns":
        db = to_db(power, flavour)
    else:  # the whole clip's peak is 0 dB and the floor 80 dB below it, as power_to_db(ref=np.max) gives
        db = librosa.power_to_db(power, ref=max_mel_power(path), amin=AMIN, top_db=None)
        db = np.maximum(db, -ORIGINAL_TOP_DB)
    return np.ascontiguousarray(pad_or_cut(db.T, frames, pad_value(flavour)), dtype=np.float32)


def max_mel_power(path: str | Path) -> float:
    """The largest mel power of any centred frame of the whole file, a block of frames at a time
    (the frames librosa's centred STFT makes: the signal padded with N_FFT // 2 zeros each side)."""
    pad = np.zeros(N_FFT // 2, dtype=np.float32)
    buf, done, n, peak = pad, 0, 0, 0.0  # buf starts at frame `done`'s first sample
    for block in audio_blocks(path):
        buf = np.concatenate([buf, block])
        n += block.size
        ready = (buf.size - N_FFT) // HOP_LENGTH + 1 if buf.size >= N_FFT else 0
        if ready > 0:
            peak = max(peak, float(_frames_power(buf[: (ready - 1) * HOP_LENGTH + N_FFT]).max()))
            buf, done = buf[ready * HOP_LENGTH :], done + ready
    rest = frames_for_samples(n) - done
    if rest > 0:
        buf = np.concatenate([buf, pad])
        peak = max(peak, float(_frames_power(buf[: (rest - 1) * HOP_LENGTH + N_FFT]).max()))
    return peak


def _frames_power(y: np.ndarray) -> np.ndarray:
    """`mel_power` of frames that start at y's first sample (no centring pad)."""
    return librosa.feature.melspectrogram(
        y=y,
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        n_mels=N_MELS,
        fmin=FMIN,
        fmax=FMAX,
        power=POWER,
        center=False,
    )


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


class FileWindows:
    """`windows` of a file, decoded a block at a time: iterating yields (start sample, log-mel)
    of each window in order, holding only a window and a block of audio; `samples` and `count`
    are the file's length and its windows once iterated."""

    def __init__(self, path: str | Path, flavour: str, frames: int, hop_seconds: float) -> None:
        self.path, self.flavour, self.frames = Path(path), flavour, frames
        self.win = (frames - 1) * HOP_LENGTH  # as `windows`
        self.hop = max(1, int(round(hop_seconds * SAMPLE_RATE)))
        self.samples = self.count = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        buf, buf_start, start = np.zeros(0, dtype=np.float32), 0, 0
        for block in audio_blocks(self.path):
            buf = np.concatenate([buf, block])
            self.samples += block.size
            while start + self.win <= buf_start + buf.size:
                at = start - buf_start
                self.count += 1
                yield start, logmel(buf[at : at + self.win], self.flavour, self.frames)
                start += self.hop
            drop = min(start - buf_start, buf.size)
            buf, buf_start = buf[drop:], buf_start + drop
        if self.count == 0:  # shorter than one window: one at 0, padded (buf holds the whole file)
            self.count = 1
            yield 0, logmel(buf, self.flavour, self.frames)


def window_count(samples: int, frames: int, hop_seconds: float) -> int:
    """How many windows `windows` cuts from `samples` samples at SAMPLE_RATE."""
    win = (frames - 1) * HOP_LENGTH
    hop = max(1, int(round(hop_seconds * SAMPLE_RATE)))
    return 1 if samples < win else (samples - win) // hop + 1


def windows(y: np.ndarray, flavour: str, frames: int, hop_seconds: float) -> Windows:
    """Every window of `frames` frames starting at 0, S, 2S, ... (S = hop_seconds) that fits in
    the 32 kHz mono `y`; a file shorter than one window gives one window at 0, padded as featurize
    pads a short clip."""
    win = (frames - 1) * HOP_LENGTH  # samples whose centred STFT has exactly `frames` frames
    hop = max(1, int(round(hop_seconds * SAMPLE_RATE)))
    starts = range(0, max(y.size - win, 0) + 1, hop)
    return Windows(
        specs=[logmel(y[s : s + win], flavour, frames) for s in starts],
        start_seconds=[s / SAMPLE_RATE for s in starts],
        second_fits=y.size >= win + hop,
    )
