"""The front ends must equal librosa computed directly, and loading must match librosa.load."""

from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from emosteer.constants import SAMPLE_RATE
from emosteer.data import frontend
from emosteer.errors import EmosteerError


def _tone(seconds: float, sr: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _librosa_power(y: np.ndarray) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y, sr=32000, n_fft=1024, hop_length=320, n_mels=64, fmin=50, fmax=14000, power=2
    )


def test_original_equals_librosa_and_pads_with_zeros() -> None:
    y = _tone(0.5)  # 51 real frames
    expected = librosa.power_to_db(_librosa_power(y), ref=np.max).T
    out = frontend.logmel(y, "original", 101)
    assert out.shape == (101, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out[:51], expected, rtol=1e-6, atol=1e-5)
    assert np.all(out[51:] == 0.0)  # the original appended zeros: 0 dB, the clip maximum


def test_original_cuts_after_the_per_clip_reference() -> None:
    y = _tone(1.0)
    expected = librosa.power_to_db(_librosa_power(y), ref=np.max).T[:40]
    np.testing.assert_allclose(frontend.logmel(y, "original", 40), expected, rtol=1e-6, atol=1e-5)


def test_panns_equals_ten_log10_and_pads_with_floor() -> None:
    y = _tone(0.5)
    expected = (10.0 * np.log10(np.maximum(_librosa_power(y), 1e-10))).T
    out = frontend.logmel(y, "panns", 60)
    np.testing.assert_allclose(out[:51], expected, rtol=1e-5, atol=1e-4)
    silence = frontend.logmel(np.zeros(3200, dtype=np.float32), "panns", 5)
    assert np.all(out[51:] == silence[0, 0])  # the pad value is exactly what silence gives
    assert silence[0, 0] == pytest.approx(-100.0, abs=1e-3)


def test_panns_keeps_level_original_does_not() -> None:
    y = _tone(0.3)
    assert np.allclose(frontend.logmel(y, "original", 31), frontend.logmel(0.1 * y, "original", 31), atol=1e-3)
    diff = frontend.logmel(y, "panns", 31) - frontend.logmel(0.1 * y, "panns", 31)
    assert np.allclose(diff, 20.0, atol=1e-2)


def test_frames_for_seconds() -> None:
    assert frontend.frames_for_seconds(1.0) == 101
    assert frontend.frames_for_seconds(6.0) == 601
    assert frontend.logmel(_tone(1.0), "panns", 101).shape == (101, 64)
    assert frontend.mel_power(_tone(1.0)).shape == (64, 101)


def test_unknown_flavour_and_bad_frames() -> None:
    with pytest.raises(EmosteerError, match="unknown flavour"):
        frontend.logmel(_tone(0.1), "pann", 10)
    with pytest.raises(EmosteerError, match="frames"):
        frontend.logmel(_tone(0.1), "panns", 0)


@pytest.mark.parametrize("sr,channels,ext", [(44100, 2, ".wav"), (16000, 1, ".flac"), (32000, 1, ".ogg")])
def test_load_audio_matches_librosa_load(tmp_path: Path, sr: int, channels: int, ext: str) -> None:
    y = _tone(0.3, sr)
    data = np.stack([y, 0.5 * y], axis=1) if channels == 2 else y
    path = tmp_path / f"clip{ext}"
    sf.write(path, data, sr)
    ours = frontend.load_audio(path)
    ref, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_load_audio_refuses_unreadable_and_empty(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(EmosteerError, match=r"junk\.wav: audio: unreadable"):
        frontend.load_audio(junk)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 32000)
    with pytest.raises(EmosteerError, match=r"empty\.wav: audio: no samples"):
        frontend.load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.0], dtype=np.float32), 32000, subtype="FLOAT")
    with pytest.raises(EmosteerError, match=r"nan\.wav: audio: non-finite sample at index 1"):
        frontend.load_audio(nan)


def test_truncated_wav_is_read_with_a_warning_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    full = tmp_path / "full.wav"
    sf.write(full, _tone(0.5), SAMPLE_RATE, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    data = full.read_bytes()
    cut.write_bytes(data[: 44 + 2 * 4000])  # header + 4000 of 16000 samples
    with caplog.at_level("WARNING"):
        y = frontend.load_audio(cut)
    assert y.size == 4000
    assert [r.getMessage() for r in caplog.records] == [
        f"{cut}: audio: truncated file (8044 of the {len(data)} bytes its header declares); "
        "using the 4000 samples present"
    ]
    caplog.clear()
    with caplog.at_level("WARNING"):
        frontend.load_audio(full)
    assert caplog.records == []


def test_corrupt_audio_is_one_error_without_librosa_warnings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF garbage that no decoder reads")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EmosteerError, match=r"bad\.wav: audio: unreadable"):
            frontend.load_audio(bad)
    assert [str(w.message) for w in caught] == []


def test_windows_cover_the_file_one_hop_apart() -> None:
    """A 1.5-s file, 101-frame windows (1.00 s): starts 0, 0.25 and 0.5 s fit, each window's
    log-mel is the one of its samples; one window and no second when the hop does not fit."""
    y = np.random.RandomState(0).randn(48000).astype(np.float32)
    cut = frontend.windows(y, "panns", 101, 0.25)
    assert cut.start_seconds == [0.0, 0.25, 0.5] and cut.second_fits
    assert frontend.window_seconds(101) == 1.0
    np.testing.assert_array_equal(cut.specs[1], frontend.logmel(y[8000 : 8000 + 32000], "panns", 101))
    short = frontend.windows(y[:20000], "panns", 101, 2.0)
    assert short.start_seconds == [0.0] and not short.second_fits
    np.testing.assert_array_equal(short.specs[0], frontend.logmel(y[:20000], "panns", 101))  # padded


# --- decoding a block at a time ---------------------------------------------------------------


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 0.37 s, so that a 3-s file crosses several (the default is 30 s)."""
    monkeypatch.setattr(frontend, "BLOCK_SECONDS", 0.37)


@pytest.mark.parametrize("sr,channels", [(44100, 2), (48000, 1), (22050, 1), (8000, 2), (32000, 2)])
def test_streamed_decoding_is_librosa_load_bit_for_bit(
    tmp_path: Path, small_blocks: None, sr: int, channels: int
) -> None:
    y = _tone(3.0, sr)
    path = tmp_path / "clip.wav"
    sf.write(path, np.stack([y, 0.5 * y], axis=1) if channels == 2 else y, sr, subtype="FLOAT")
    ref, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    ours = frontend.load_audio(path)
    np.testing.assert_array_equal(ours, ref)
    for limit in (1, 32512, 50000, ref.size, ref.size + 10):
        np.testing.assert_array_equal(frontend.load_audio(path, limit=limit), ref[:limit])


def test_a_1_hz_file_decodes_only_what_its_frames_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: a 1 Hz WAV of 100,000 samples was resampled whole (3.2e9 samples, 12.8 GB)
    though a clip of 101 frames uses 1.016 s of it."""
    path = tmp_path / "slow.wav"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(100_000)).astype(np.float32), 1, subtype="FLOAT")
    read: list[int] = []
    blocks = frontend._soundfile_blocks

    def counting(path: Path, f: sf.SoundFile):
        for block in blocks(path, f):
            read.append(block.size)
            yield block

    monkeypatch.setattr(frontend, "_soundfile_blocks", counting)
    spec = frontend.clip_logmel(path, "panns", 101)
    assert spec.shape == (101, 64) and np.isfinite(spec).all()
    assert sum(read) < 2_000  # source samples decoded, of 100,000 (soxr needs about 930 to start)


@pytest.mark.parametrize("flavour", ["panns", "original"])
def test_clip_logmel_is_the_whole_files_logmel(
    tmp_path: Path, small_blocks: None, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file up to EXACT_SECONDS: bit for bit; a longer one (here EXACT_SECONDS is cut to 1.5 s):
    to float rounding, with the original flavour's reference (the whole clip's peak) taken over
    the whole file."""
    y = _tone(3.0, 44100)
    path = tmp_path / "exact.wav"
    sf.write(path, y, 44100, subtype="FLOAT")
    np.testing.assert_array_equal(
        frontend.clip_logmel(path, flavour, 101), frontend.logmel(frontend.load_audio(path), flavour, 101)
    )
    monkeypatch.setattr(frontend, "EXACT_SECONDS", 1.5)
    y[100_000:100_500] *= 3  # the clip's peak lies after the first second
    path = tmp_path / "long.wav"
    sf.write(path, y, 44100, subtype="FLOAT")
    whole = frontend.load_audio(path)
    ours, ref = frontend.clip_logmel(path, flavour, 101), frontend.logmel(whole, flavour, 101)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    if flavour == "original":  # the reference is the whole clip's: not the first second's
        assert not np.allclose(ref, frontend.logmel(whole[:32512], flavour, 101), atol=1e-2)
    short = tmp_path / "short.wav"
    sf.write(short, y[:30000], 44100, subtype="FLOAT")
    np.testing.assert_array_equal(
        frontend.clip_logmel(short, flavour, 101), frontend.logmel(frontend.load_audio(short), flavour, 101)
    )


def test_file_windows_are_windows_of_the_whole_file(tmp_path: Path, small_blocks: None) -> None:
    y = _tone(3.0, 48000)
    path = tmp_path / "clip.wav"
    sf.write(path, y, 48000, subtype="FLOAT")
    whole = frontend.load_audio(path)
    for frames, hop in ((101, 0.25), (101, 1.7), (16, 0.01), (401, 0.5)):
        cut = frontend.windows(whole, "panns", frames, hop)
        stream = frontend.FileWindows(path, "panns", frames, hop)
        got = list(stream)
        assert [s / SAMPLE_RATE for s, _ in got] == cut.start_seconds
        for (_, spec), want in zip(got, cut.specs):
            np.testing.assert_array_equal(spec, want)
        assert stream.count == len(cut.specs) == frontend.window_count(whole.size, frames, hop)
        assert stream.samples == whole.size


def test_audioread_fallback_streams_as_librosa_load_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container libsndfile cannot open goes to audioread: 16-bit buffers (any size, even across
    a frame's two channels), converted and mixed as librosa.load does, then resampled."""
    import audioread

    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal((22050 * 2, 2)) * 3000).astype("<i2")
    raw = pcm.tobytes()

    class Reader:
        samplerate, channels, duration = 22050, 2, 2.0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            sizes = [6, 1002, 4094, 30000]  # bytes; 1002 splits a stereo frame
            at, i = 0, 0
            while at < len(raw):
                yield raw[at : at + sizes[i % 4]]
                at, i = at + sizes[i % 4], i + 1

    monkeypatch.setattr(audioread, "audio_open", lambda *args, **kwargs: Reader())
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"not a container libsndfile opens")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    np.testing.assert_array_equal(frontend.load_audio(path), ref)
