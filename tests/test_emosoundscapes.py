"""Emo-Soundscapes ingestion on a small folder built here: mixed rates, stereo, flac, mismatches."""

from __future__ import annotations

import logging
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from emosteer.data import emosoundscapes
from emosteer.data.features import read_features, read_labels
from emosteer.data.frontend import logmel
from emosteer.data.sources import build_features
from emosteer.errors import EmosteerError


def _write_tone(path: Path, sr: int, seconds: float, channels: int = 1, f0: float = 440.0) -> None:
    t = np.arange(int(sr * seconds)) / sr
    y = 0.2 * np.sin(2 * np.pi * f0 * t)
    sf.write(path, np.stack([y, 0.5 * y], axis=1) if channels == 2 else y, sr)


def build_folder(root: Path) -> Path:
    """a.wav 44.1 kHz, b.wav 16 kHz stereo, c.flac; e.wav rated without audio; d.wav unrated."""
    (root / "ratings").mkdir(parents=True)
    (root / "600_Sounds").mkdir()
    (root / "613_MixedSounds" / "deep").mkdir(parents=True)
    _write_tone(root / "600_Sounds" / "a.wav", 44100, 0.4)
    _write_tone(root / "600_Sounds" / "b.wav", 16000, 0.3, channels=2, f0=300)
    _write_tone(root / "613_MixedSounds" / "deep" / "c.flac", 32000, 0.5, f0=600)
    _write_tone(root / "613_MixedSounds" / "d.wav", 22050, 0.2)
    (root / "notes.txt").write_text("not audio")
    (root / "ratings" / "Valence.csv").write_text("b.wav,0.5\na.wav,-0.25\ne.wav,0.1\nc.flac,1\n")
    (root / "ratings" / "Arousal.csv").write_text("a.wav,0.75\nc.flac,-1.0\nb.wav,0\ne.wav,0.2\n")
    return root


def test_collect_clips_merges_in_valence_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = build_folder(tmp_path / "emo")
    with caplog.at_level(logging.WARNING):
        inv = emosoundscapes.collect_clips(root)
    assert [c.name for c in inv.clips] == ["b.wav", "a.wav", "c.flac"]
    assert [(c.valence, c.arousal) for c in inv.clips] == [(0.5, 0.0), (-0.25, 0.75), (1.0, -1.0)]
    assert inv.clips[2].path == root / "613_MixedSounds" / "deep" / "c.flac"
    assert inv.missing_audio == ["e.wav"] and inv.missing_rating == ["d.wav"]
    text = caplog.text
    assert "1 rated clips have no audio file, skipped (first: e.wav)" in text
    assert "1 clips lack a valence or arousal rating, skipped (first: d.wav)" in text


def test_featurize_folder_equals_librosa(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "emo")
    out = tmp_path / "out" / "features.h5"
    info = build_features("emo_soundscapes", root, out, "original", 40, progress=False)
    assert info.n == 3 and info.frames == 40
    assert info.attrs["source"] == "emo_soundscapes" and info.attrs["skipped_missing_audio"] == 1
    names, v, a = read_labels(out)
    assert names == ["b.wav", "a.wav", "c.flac"]
    np.testing.assert_array_equal(v, np.array([0.5, -0.25, 1.0], dtype=np.float32))
    paths = [root / "600_Sounds" / "b.wav", root / "600_Sounds" / "a.wav", root / "613_MixedSounds" / "deep" / "c.flac"]
    got = read_features(out, [0, 1, 2])
    for x, path in zip(got, paths):
        y, _ = librosa.load(path, sr=32000, mono=True)
        np.testing.assert_allclose(x, logmel(y, "original", 40), atol=1e-3)
    assert build_features("emo_soundscapes", root, tmp_path / "d.h5", None, None, progress=False).frames == 601


def test_explicit_csv_paths(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "emo")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "v.csv").write_text("a.wav,0.1\n")
    (other / "a.csv").write_text("a.wav,0.2\n")
    inv = emosoundscapes.collect_clips(root, other / "v.csv", other / "a.csv")
    assert [(c.name, c.valence, c.arousal) for c in inv.clips] == [("a.wav", 0.1, 0.2)]


def test_extension_swapped_name_matches(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "emo")
    (root / "ratings" / "Valence.csv").write_text("C.wav,0.3\n")
    (root / "ratings" / "Arousal.csv").write_text("C.wav,0.4\n")
    inv = emosoundscapes.collect_clips(root)
    assert inv.clips[0].name == "C.wav" and inv.clips[0].path.name == "c.flac"


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []  # no temp file left behind either


@pytest.mark.parametrize(
    "breakage,message",
    [
        (
            lambda r: _write_tone(r / "613_MixedSounds" / "a.wav", 32000, 0.1),
            r"a\.wav: duplicate audio file name, also at",
        ),
        (
            lambda r: (r / "ratings" / "Arousal.csv").write_text("a.wav,0.1\nb.wav,0.2\na.wav,0.3\n"),
            r"Arousal\.csv: field 'FileName': duplicate 'a.wav' at index 2 \(first at index 0\)",
        ),
        (
            lambda r: (r / "ratings" / "Valence.csv").write_text("a.wav,0.1\nb.wav,1.5\n"),
            r"Valence\.csv: field 'Rating': 1.5 outside \[-1, 1\] at index 1",
        ),
        (
            lambda r: (r / "ratings" / "Valence.csv").write_text("FileName,Rating\na.wav,0.1\n"),
            r"Valence\.csv: field 'Rating': 'Rating' is not a number at index 0: a header row\? The rating "
            r"files have none \(FileName,Rating on every line\); delete that line",
        ),
        (
            lambda r: (r / "ratings" / "Valence.csv").write_text("a.wav,0.1\nb.wav,x\n"),
            r"Valence\.csv: field 'Rating': 'x' is not a number at index 1 \(the file has no header\)",
        ),
        (lambda r: (r / "ratings" / "Arousal.csv").unlink(), r"no Arousal\.csv below"),
        (lambda r: (r / "600_Sounds" / "a.wav").write_bytes(b"RIFF garbage"), r"a\.wav: audio: unreadable"),
    ],
)
def test_bad_folder_is_an_error_and_writes_nothing(tmp_path: Path, breakage, message: str) -> None:
    root = build_folder(tmp_path / "emo")
    breakage(root)
    out = tmp_path / "out" / "features.h5"
    with pytest.raises(EmosteerError, match=message):
        build_features("emo_soundscapes", root, out, "panns", 30, progress=False)
    _assert_nothing_written(out)


def test_no_usable_clip(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "emo")
    (root / "ratings" / "Valence.csv").write_text("zzz.wav,0.1\n")
    (root / "ratings" / "Arousal.csv").write_text("zzz.wav,0.1\n")
    with pytest.raises(EmosteerError, match="no clip has both ratings and an audio file"):
        emosoundscapes.collect_clips(root)


def test_name_with_comma_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "Valence.csv"
    path.write_text('"rain, heavy.wav",0.25\n\n')
    assert emosoundscapes.read_ratings(path) == {"rain, heavy.wav": 0.25}


@pytest.mark.parametrize("line", ["s00.wav,-0,1", "rain, heavy.wav,0.25", "a.wav,0.1,"])
def test_a_row_of_more_than_two_fields_is_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    """A decimal comma (`-0,1`) once gave s00 the rating 1.0: the name `s00.wav,-0` matched
    s00.wav by its stem."""
    path = tmp_path / "Valence.csv"
    path.write_text(f"s01.wav,0.5\n\n{line}\n")
    with pytest.raises(
        EmosteerError,
        match=r"Valence\.csv: line 3: expected 2 fields \(FileName,Rating\), got 3 "
        r"\(a decimal comma\?",
    ):
        emosoundscapes.read_ratings(path)


def test_a_clip_with_audio_and_one_rating_is_counted_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = build_folder(tmp_path / "emo")  # d.wav: audio, no rating
    (root / "ratings" / "Valence.csv").write_text("b.wav,0.5\na.wav,-0.25\nc.flac,1\n")
    (root / "ratings" / "Arousal.csv").write_text("a.wav,0.75\nb.wav,0\n")  # c.flac: valence only
    with caplog.at_level(logging.WARNING):
        inv = emosoundscapes.collect_clips(root)
    assert [c.name for c in inv.clips] == ["b.wav", "a.wav"]
    assert inv.missing_rating == ["c.flac", "d.wav"]
    assert "2 clips lack a valence or arousal rating, skipped (first: c.flac, d.wav)" in caplog.text


def test_ratings_field_over_the_csv_limit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "Valence.csv"
    path.write_text('"' + "x" * 200_000 + '",0.5\n')
    with pytest.raises(EmosteerError, match=r"Valence\.csv: unreadable rating file \(field larger than field limit"):
        emosoundscapes.read_ratings(path)
