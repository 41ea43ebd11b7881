"""build_features and `emosteer featurize`: deterministic synthetic files, features-h5 copies, and
bad input that exits non-zero and writes nothing."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from emosteer.commands import cli
from emosteer.commands import featurize as featurize_command
from emosteer.data import featurize, sources
from emosteer.data.features import read_features, read_labels, validate_features
from emosteer.data.frontend import logmel
from emosteer.data.synth import SynthConfig, generate_clips
from emosteer.errors import EmosteerError

TINY = SynthConfig(n_clips=5, clip_seconds=0.25, seed=11)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="emosteer")
    featurize_command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["featurize", *argv])


def _assert_only(directory: Path, names: list[str]) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


def test_synthetic_is_byte_identical_and_matches_the_generator(tmp_path: Path) -> None:
    a = sources.build_features("synthetic", None, tmp_path / "a.h5", "panns", None, TINY, progress=False)
    sources.build_features("synthetic", None, tmp_path / "b.h5", "panns", None, TINY, progress=False)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    assert a.n == 5 and a.frames == 26  # 0.25 s -> 1 + 8000 // 320
    assert a.attrs["source"] == "synthetic" and a.attrs["frontend"] == "panns"
    assert a.attrs["sample_rate"] == 32000 and a.attrs["n_mels"] == 64 and a.attrs["fmax"] == 14000
    assert json.loads(a.attrs["synth_config"])["seed"] == 11
    clips = list(generate_clips(TINY))
    names, v, _ = read_labels(tmp_path / "a.h5")
    assert names == [c[0] for c in clips]
    np.testing.assert_array_equal(v, np.array([c[2] for c in clips], dtype=np.float32))
    # not bit-equal: featurize pins BLAS to one thread, and the mel matmul rounds differently
    np.testing.assert_allclose(
        read_features(tmp_path / "a.h5", [3])[0], logmel(clips[3][1], "panns", 26), rtol=0, atol=1e-4
    )
    other = SynthConfig(n_clips=5, clip_seconds=0.25, seed=12)
    sources.build_features("synthetic", None, tmp_path / "c.h5", "panns", None, other, progress=False)
    assert (tmp_path / "a.h5").read_bytes() != (tmp_path / "c.h5").read_bytes()


def test_synthetic_segments_and_frames(tmp_path: Path) -> None:
    cfg = SynthConfig(n_clips=2, clip_seconds=0.5, segments=2)
    info = sources.build_features("synthetic", None, tmp_path / "s.h5", "original", None, cfg, progress=False)
    assert info.n == 4 and info.frames == 26
    assert read_labels(tmp_path / "s.h5")[0][1].endswith("_seg1")
    info = sources.build_features("synthetic", None, tmp_path / "t.h5", "original", 50, cfg, progress=False)
    assert info.frames == 50


def _raw_h5(path: Path, n: int = 4, frames: int = 17) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:  # the original's layout: no attributes, float64 here
        f["feature"] = rng.standard_normal((n, frames, 64))
        f["valence"] = rng.uniform(-1, 1, n)
        f["arousal"] = rng.uniform(-1, 1, n)
        f["audio_name"] = np.array([f"x{i}.wav".encode() for i in range(n)])
    return path


def test_features_h5_is_copied_and_normalised(tmp_path: Path) -> None:
    src = _raw_h5(tmp_path / "emotion_features.h5")
    out = tmp_path / "features.h5"
    info = sources.build_features("features_h5", src, out, None, None, progress=False)
    assert info.n == 4 and info.frames == 17
    assert info.attrs["source"] == "features_h5" and info.attrs["frontend"] == "unknown"
    assert info.attrs["source_path"] == str(src)
    with h5py.File(src) as f, h5py.File(out) as g:
        assert g["feature"].dtype == np.float32 and g["valence"].dtype == np.float32
        np.testing.assert_array_equal(g["feature"][:], f["feature"][:].astype(np.float32))
        assert list(g["audio_name"][:]) == list(f["audio_name"][:])
    again = sources.build_features("features_h5", out, tmp_path / "again.h5", "panns", 100, progress=False)
    assert again.frames == 17 and again.attrs["frontend"] == "unknown"  # own T and front end kept


def test_cli_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.h5"
    args = _parse(
        [
            "--synthetic",
            "--n-clips",
            "3",
            "--clip-seconds",
            "0.2",
            "--seed",
            "2",
            "--rank-labels",
            "--frontend",
            "original",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    args.func(args)
    info = validate_features(out)
    assert info.n == 3 and info.attrs["frontend"] == "original"
    assert json.loads(info.attrs["synth_config"])["rank_labels"] is True
    assert sorted(read_labels(out)[1].tolist()) == [-1.0, 0.0, 1.0]
    assert "3 rows x 21 frames" in capsys.readouterr().out


def test_cli_refuses_synthetic_options_without_synthetic(tmp_path: Path) -> None:
    src = _raw_h5(tmp_path / "in.h5")
    args = _parse(["--features-h5", str(src), "--n-clips", "3", "--out", str(tmp_path / "o.h5")])
    with pytest.raises(EmosteerError, match="--n-clips: only with --synthetic"):
        args.func(args)
    _assert_only(tmp_path, ["in.h5"])


def _bad_inputs(tmp_path: Path) -> list[tuple[Path, str]]:
    nan = _raw_h5(tmp_path / "nan.h5")
    with h5py.File(nan, "a") as f:
        f["feature"][2, 0, 0] = np.nan
    short = _raw_h5(tmp_path / "short.h5")
    with h5py.File(short, "a") as f:
        del f["arousal"]
        f["arousal"] = np.zeros(3)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    return [
        (nan, "dataset 'feature': NaN or inf at index 2"),
        (short, "dataset 'arousal': length 3 != 4 rows of 'feature' at index 3"),
        (text, "not an HDF5 file"),
    ]


def test_bad_features_h5_writes_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    outdir = tmp_path / "out"
    outdir.mkdir()
    for src, message in _bad_inputs(inputs):
        args = _parse(["--features-h5", str(src), "--out", str(outdir / "f.h5"), "--no-progress"])
        with pytest.raises(EmosteerError, match=message):
            args.func(args)
        _assert_only(outdir, [])


def test_main_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    src, message = _bad_inputs(tmp_path / "in")[0]
    out = tmp_path / "f.h5"
    assert cli.main(["featurize", "--features-h5", str(src), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(src) in err[0]
    assert not out.exists()
    assert (
        cli.main(
            ["featurize", "--synthetic", "--n-clips", "2", "--clip-seconds", "0.2", "--out", str(out), "--no-progress"]
        )
        == 0
    )
    assert validate_features(out).n == 2


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(EmosteerError, match="unknown source"):
        sources.build_features("mp3s", None, tmp_path / "o.h5", "panns", None)
    with pytest.raises(EmosteerError, match="unknown flavour"):
        sources.build_features("synthetic", None, tmp_path / "o.h5", "mfcc", None, TINY)
    with pytest.raises(EmosteerError, match="needs a path"):
        sources.build_features("features_h5", None, tmp_path / "o.h5", "panns", None)
    with pytest.raises(EmosteerError, match=r"frames must be in \[1, 6001\]"):
        sources.build_features("synthetic", None, tmp_path / "o.h5", "panns", 0, TINY)
    assert list(tmp_path.iterdir()) == []


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `emosteer featurize ...`; require exit 2 and one line on stderr; return that line."""
    assert cli.main(["featurize", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err.strip()


def test_fewer_frames_than_the_model_reads_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.h5"
    line = _cli_error(["--synthetic", "--n-clips", "2", "--clip-seconds", "0.1", "--out", str(out)], capsys)
    assert line == (
        f"emosteer featurize: error: {out}: 11 frames per clip, but the model needs >= 16 "
        "(four 2x2 pools); use longer clips or --frames"
    )
    src = _raw_h5(tmp_path / "short.h5", frames=15)
    line = _cli_error(["--features-h5", str(src), "--out", str(out)], capsys)
    assert "15 frames per clip, but the model needs >= 16" in line
    _assert_only(tmp_path, ["short.h5"])
    assert sources.build_features("synthetic", None, out, "panns", 16, TINY, progress=False).frames == 16


def test_out_that_is_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    src = _raw_h5(tmp_path / "in.h5")
    before = src.read_bytes()
    (tmp_path / "link.h5").symlink_to(src)
    os.link(src, tmp_path / "hard.h5")
    for out in ("in.h5", str(src), "./sub/../in.h5", "link.h5", "hard.h5"):
        line = _cli_error(["--features-h5", str(src), "--out", out], capsys)
        assert line == (
            f"emosteer featurize: error: {Path(out)}: is the input {src}; refusing to overwrite "
            "an input (choose another output path)"
        )
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.h5", "in.h5", "link.h5"]


def test_out_that_is_a_rating_file_of_the_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "emo"
    root.mkdir()
    sf.write(root / "a.wav", np.zeros(3200, np.float32), 32000)
    (root / "Valence.csv").write_text("a.wav,0.5\n")
    (root / "Arousal.csv").write_text("a.wav,0.5\n")
    target = root / "Valence.csv"
    before = target.read_bytes()
    # 0.1-s audio and a 10-frame window: no warning precedes the one line
    line = _cli_error(["--emo-soundscapes", str(root), "--frames", "10", "--out", str(target)], capsys)
    assert line.endswith(
        f"{target}: is the input {target}; refusing to overwrite an input (choose another output path)"
    )
    assert target.read_bytes() == before


def test_environment_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder.h5").mkdir()
    (tmp_path / "file").write_text("")
    synth = ["--synthetic", "--n-clips", "2", "--clip-seconds", "0.2"]
    assert _cli_error([*synth, "--out", str(tmp_path / "folder.h5")], capsys) == (
        f"emosteer featurize: error: {tmp_path / 'folder.h5'}: is a folder; give a file path to write"
    )
    assert _cli_error([*synth, "--out", str(tmp_path / "file" / "f.h5")], capsys) == (
        f"emosteer featurize: error: {tmp_path / 'file' / 'f.h5'}: cannot write: "
        f"{tmp_path / 'file'} is a file, not a folder"
    )


def test_the_progress_bar_starts_after_the_one_off_warm_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first clip used to pay librosa's start-up (~2 s) inside the bar: a first ETA of hours."""
    from emosteer.data.sources import synthetic

    events: list[str] = []
    real_logmel, real_tqdm = featurize.logmel, featurize.tqdm

    def logmel(*args, **kwargs):
        events.append("logmel")
        return real_logmel(*args, **kwargs)

    def tqdm(*args, **kwargs):
        events.append("bar")
        return real_tqdm(*args, **kwargs)

    monkeypatch.setattr(featurize, "logmel", logmel)  # the warm-up
    monkeypatch.setattr(synthetic, "logmel", logmel)  # the clips
    monkeypatch.setattr(featurize, "tqdm", tqdm)
    sources.build_features("synthetic", None, tmp_path / "a.h5", "panns", None, TINY, progress=False)
    assert events[:2] == ["logmel", "bar"]  # one warm-up call, then the bar, then the clips
    assert events.count("logmel") == TINY.n_items + 1
