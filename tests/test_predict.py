"""Inference and `emosteer predict`: chunked reads, batched steering, the npz, and clear refusals."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emosteer.commands import predict as predict_cli
from emosteer.commands.cli import main
from emosteer.errors import EmosteerError, log_lines
from emosteer.model.checkpoints import save_model
from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM, Steering

N, FRAMES = 5, 16


def _model() -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM().eval()


def _features(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randn(n, FRAMES, 64).astype(np.float32)


def _signals(n: int, seed: int = 1) -> np.ndarray:
    return np.random.RandomState(seed).rand(n, 128).astype(np.float32)


class Rows:
    """Sliceable features that record every read and refuse anything but a small slice."""

    def __init__(self, data: np.ndarray, limit: int) -> None:
        self.data, self.limit, self.shape, self.reads = data, limit, data.shape, []

    def __getitem__(self, rows: slice) -> np.ndarray:
        assert isinstance(rows, slice)
        block = self.data[rows]
        assert len(block) <= self.limit
        self.reads.append((rows.start, rows.stop))
        return block


# --- inference.predict --------------------------------------------------------------------------


def test_predict_reads_one_batch_at_a_time_and_matches_forward() -> None:
    model, x = _model(), _features()
    rows = Rows(x, limit=2)
    out = predict(model, rows, batch_size=2)
    assert rows.reads == [(0, 2), (2, 4), (4, 5)]
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    for key in ("valence", "arousal", "valence_128d", "arousal_128d"):
        assert out[key].dtype == np.float32
        np.testing.assert_allclose(out[key], ref[key].numpy(), atol=1e-5)


def test_predict_batched_steering_equals_per_clip_calls() -> None:
    model, x = _model(), _features()
    sv, sa = _signals(N), _signals(N, seed=2)
    out = predict(model, x, batch_size=4, steer_valence=sv, steer_arousal=sa, strength=2.0, alpha=0.5)
    for i in range(N):
        with torch.no_grad():
            one = model(
                torch.from_numpy(x[i : i + 1]),
                steering=Steering(
                    valence=torch.from_numpy(sv[i]), arousal=torch.from_numpy(sa[i]), strength=2.0, alpha=0.5
                ),
            )
        np.testing.assert_allclose(out["valence"][i], one["valence"].numpy()[0], atol=1e-5)
        np.testing.assert_allclose(out["arousal_128d"][i], one["arousal_128d"].numpy()[0], atol=1e-5)
    plain = predict(model, x)
    assert np.abs(plain["valence"] - out["valence"]).max() > 1e-4


def test_predict_activations_pass_and_mode_restored() -> None:
    model, x = _model(), _features(3)
    model.train()
    first = predict(model, x, activations_pass=1)
    one_pass = predict(model, x, forward_passes=1)
    final = predict(model, x)
    assert model.training  # predict switches to eval only for its own duration
    np.testing.assert_allclose(first["valence_128d"], one_pass["valence_128d"], atol=1e-6)
    np.testing.assert_allclose(first["valence"], final["valence"], atol=1e-6)  # outputs: final pass
    assert np.abs(first["valence_128d"] - final["valence_128d"]).max() > 1e-5


def test_predict_refuses_bad_arguments() -> None:
    model, x = _model(), _features(3)
    with pytest.raises(EmosteerError, match=r"steer_valence must be \(128,\) or \(3, 128\)"):
        predict(model, x, steer_valence=np.zeros((2, 128), np.float32))
    with pytest.raises(EmosteerError, match="activations_pass must be in 1..2"):
        predict(model, x, activations_pass=3)
    with pytest.raises(EmosteerError, match=r"features must be \(N, T, 64\)"):
        predict(model, np.zeros((3, 16, 32), np.float32))


# --- emosteer predict ---------------------------------------------------------------------------


def _h5(path: Path, x: np.ndarray, with_labels: bool = True) -> Path:
    with h5py.File(path, "w") as f:
        f["feature"] = x
        f["audio_name"] = np.array([f"clip{i}.wav".encode() for i in range(len(x))])
        if with_labels:
            f["valence"] = np.zeros(len(x), np.float32)
            f["arousal"] = np.zeros(len(x), np.float32)
    return path


def _table(path: Path, names: list[str], extra: dict | None = None) -> tuple[Path, dict]:
    rng = np.random.RandomState(7)
    table = {
        name: {"valence_128d": rng.rand(128).tolist(), "arousal_128d": rng.rand(128).tolist(), "valence_output": [0.1]}
        for name in names
    }
    table.update(extra or {})
    path.write_text(json.dumps(table))
    return path, table


@pytest.fixture()
def setup(tmp_path: Path) -> dict[str, Path]:
    model = _model()
    ckpt = tmp_path / "model.pt"
    save_model(model, ckpt, {"note": "test"})
    x = _features()
    table, _ = _table(
        tmp_path / "signals.json",
        ["neutral_middle", "positive_strong"],
        {"metadata": {"n": 3}, "generation_config": {"batch_size": 32}, "note": "a string"},
    )
    return {"dir": tmp_path, "ckpt": ckpt, "h5": _h5(tmp_path / "features.h5", x), "table": table}


def _run(*argv: str | Path) -> None:
    parser = argparse.ArgumentParser(prog="emosteer")
    predict_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["predict", *map(str, argv)])
    with log_lines("emosteer predict"):  # its warnings as the command prints them (errors.run)
        args.func(args)


def _base_args(s: dict[str, Path], out: Path) -> list[str | Path]:
    return ["--checkpoint", s["ckpt"], "--features", s["h5"], "--out", out]


def test_cli_unsteered_npz(setup: dict[str, Path]) -> None:
    out = setup["dir"] / "pred.npz"
    _run(*_base_args(setup, out), "--batch-size", "2")
    with np.load(out) as z:
        assert sorted(z.files) == ["arousal", "arousal_128d", "audio_name", "valence", "valence_128d"]
        assert list(z["audio_name"]) == [f"clip{i}.wav" for i in range(N)]
        assert z["valence"].shape == (N,) and z["valence_128d"].shape == (N, 128)
        ref = predict(_model(), _features())
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
        np.testing.assert_allclose(z["arousal_128d"], ref["arousal_128d"], atol=1e-6)
    assert sorted(p.name for p in setup["dir"].iterdir() if p.name.startswith(".")) == []


def test_cli_features_front_end_differing_from_the_checkpoint_warns(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's frontend attribute and frames against the checkpoint's record: one line per fact
    that both record and that differs; the prediction is still made."""
    out, ckpt = setup["dir"] / "pred.npz", setup["dir"] / "recorded.pt"
    save_model(_model(), ckpt, {"frontend": "panns", "frames": FRAMES})
    _run("--checkpoint", ckpt, "--features", setup["h5"], "--out", out)  # the file records nothing
    assert "warning" not in capsys.readouterr().err
    with h5py.File(setup["h5"], "a") as f:
        f.attrs["frontend"] = "panns"
    _run("--checkpoint", ckpt, "--features", setup["h5"], "--out", out)
    assert "warning" not in capsys.readouterr().err
    save_model(_model(), ckpt, {"frontend": "original", "frames": 101})
    _run("--checkpoint", ckpt, "--features", setup["h5"], "--out", out)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"emosteer predict: warning: {setup['h5']} holds frontend panns, {ckpt} was trained on "
        "original; predicting anyway",
        f"emosteer predict: warning: {setup['h5']} holds frames {FRAMES}, {ckpt} was trained on 101; predicting anyway",
    ]
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], predict(_model(), _features())["valence"], atol=1e-6)


def test_cli_one_category_for_all(setup: dict[str, Path]) -> None:
    out = setup["dir"] / "steered.npz"
    _run(
        *_base_args(setup, out),
        "--steering-json",
        setup["table"],
        "--category",
        "positive_strong",
        "--strength",
        "3",
        "--alpha",
        "0.7",
        "--no-first-pass",
        "--forward-passes",
        "3",
    )
    entry = json.loads(setup["table"].read_text())["positive_strong"]
    ref = predict(
        _model(),
        _features(),
        steer_valence=np.array(entry["valence_128d"], np.float32),
        steer_arousal=np.array(entry["arousal_128d"], np.float32),
        strength=3.0,
        alpha=0.7,
        first_pass=False,
        forward_passes=3,
    )
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
        assert np.abs(z["valence"] - predict(_model(), _features())["valence"]).max() > 1e-4


def test_cli_category_file_per_clip(setup: dict[str, Path]) -> None:
    names = ["neutral_middle", "positive_strong", "positive_strong", "neutral_middle", "neutral_middle"]
    cats = setup["dir"] / "cats.txt"
    cats.write_text("\n".join(names) + "\n")
    out = setup["dir"] / "per_clip.npz"
    _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category-file", cats)
    table = json.loads(setup["table"].read_text())
    sv = np.array([table[c]["valence_128d"] for c in names], np.float32)
    sa = np.array([table[c]["arousal_128d"] for c in names], np.float32)
    ref = predict(_model(), _features(), steer_valence=sv, steer_arousal=sa)
    with np.load(out) as z:
        np.testing.assert_allclose(z["arousal"], ref["arousal"], atol=1e-6)


def test_cli_category_errors(setup: dict[str, Path]) -> None:
    out = setup["dir"] / "x.npz"
    with pytest.raises(EmosteerError, match=r"--category: unknown category 'very_happy'"):
        _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category", "very_happy")
    cats = setup["dir"] / "cats.txt"
    cats.write_text("neutral_middle\nneutral_middle\n")
    with pytest.raises(EmosteerError, match=r"2 category lines, but .*features.h5 has 5 clips"):
        _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category-file", cats)
    cats.write_text("neutral_middle\nneutral_middle\nmetadata\nneutral_middle\nneutral_middle\n")
    with pytest.raises(EmosteerError, match=r"cats.txt line 3: unknown category 'metadata'"):
        _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category-file", cats)
    with pytest.raises(EmosteerError, match="--steering-json needs --category"):
        _run(*_base_args(setup, out), "--steering-json", setup["table"])
    assert not out.exists()


def test_cli_bad_table_entry(setup: dict[str, Path]) -> None:
    bad, _ = _table(setup["dir"] / "bad.json", ["a"], {"b": {"valence_128d": [0.0] * 127, "arousal_128d": [0.0] * 128}})
    with pytest.raises(EmosteerError, match=r"category 'b' field 'valence_128d': expected 128 numbers, got length 127"):
        _run(*_base_args(setup, setup["dir"] / "x.npz"), "--steering-json", bad, "--category", "a")


def test_cli_checks_features_file_with_the_library_readers(setup: dict[str, Path]) -> None:
    d, out = setup["dir"], setup["dir"] / "x.npz"
    x = _features()
    x[3, 7, 11] = np.nan
    nan_h5 = _h5(d / "nan.h5", x)
    args = ["--checkpoint", setup["ckpt"], "--out", out, "--batch-size", "2", "--features"]
    with pytest.raises(EmosteerError, match=r"nan.h5: dataset 'feature': NaN or inf at index 3"):
        _run(*args, nan_h5)
    assert not out.exists() and not [p for p in d.iterdir() if p.name.startswith(".x.npz")]
    with pytest.raises(EmosteerError, match=r"nolabels.h5: dataset 'valence': missing"):
        _run(*args, _h5(d / "nolabels.h5", _features(), with_labels=False))
    with h5py.File(d / "noname.h5", "w") as f:
        f["feature"] = _features()
        f["valence"] = f["arousal"] = np.zeros(N, np.float32)
    with pytest.raises(EmosteerError, match=r"noname.h5: dataset 'audio_name': missing"):
        _run(*args, d / "noname.h5")
    with h5py.File(d / "short.h5", "w") as f:
        f["feature"] = _features()
        f["valence"] = f["arousal"] = np.zeros(N, np.float32)
        f["audio_name"] = np.array([b"a", b"b"])
    with pytest.raises(EmosteerError, match=r"dataset 'audio_name': length 2 != 5 rows"):
        _run(*args, d / "short.h5")
    with pytest.raises(EmosteerError, match=r"dataset 'feature': 8 frames, the model needs >= 16"):
        _run(*args, _h5(d / "t8.h5", _features()[:, :8]))
    with pytest.raises(EmosteerError, match="no such file"):
        _run(*args, d / "absent.h5")
    assert not out.exists()


def test_cli_accepts_original_and_refuses_panns(setup: dict[str, Path]) -> None:
    d = setup["dir"]
    original = d / "best_model.pth"
    torch.save({"iteration": 1, "model": _model().state_dict()}, original)
    out = d / "orig.npz"
    _run("--checkpoint", original, "--features", setup["h5"], "--out", out)
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], predict(_model(), _features())["valence"], atol=1e-6)
    panns = d / "Cnn6.pth"
    prefix = "visual_system.base."
    torch.save(
        {"model": {k[len(prefix) :]: v for k, v in _model().state_dict().items() if k.startswith(prefix)}}, panns
    )
    with pytest.raises(EmosteerError, match="heads would be untrained"):
        _run("--checkpoint", panns, "--features", setup["h5"], "--out", d / "p.npz")


def test_cli_dispatcher_exit_code(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = setup["dir"] / "cli.npz"
    assert main(["predict", *map(str, _base_args(setup, out))]) == 0 and out.exists()
    code = main(
        ["predict", *map(str, _base_args(setup, out)), "--steering-json", str(setup["table"]), "--category", "nope"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown category 'nope'" in err


# --- never destroy an input, never write NaN (issue 11 items 1 and 2) ---------------------------


def _digest(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
@pytest.mark.parametrize("victim", ["h5", "ckpt", "table"])
def test_cli_refuses_an_output_that_is_an_input(
    setup: dict[str, Path], how: str, victim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = setup["dir"]
    target = setup[victim]
    before = _digest(target)
    if how == "same":
        out = target
    elif how == "relative":
        monkeypatch.chdir(d)
        (d / "sub").mkdir()
        out = Path("sub") / ".." / target.name
    elif how == "symlink":
        out = d / "link.npz"
        out.symlink_to(target)
    else:
        out = d / "hard.npz"
        out.hardlink_to(target)
    args = [
        "--checkpoint",
        setup["ckpt"],
        "--features",
        setup["h5"],
        "--out",
        out,
        "--steering-json",
        setup["table"],
        "--category",
        "positive_strong",
    ]
    code = main(["predict", *map(str, args)])
    assert code == 2
    assert _digest(target) == before


def test_cli_refuses_csv_over_an_input_and_a_folder_out(setup: dict[str, Path]) -> None:
    d = setup["dir"]
    before = _digest(setup["h5"])
    with pytest.raises(EmosteerError, match="refusing to overwrite an input"):
        _run(*_base_args(setup, d / "p.npz"), "--csv", setup["h5"])
    assert _digest(setup["h5"]) == before and not (d / "p.npz").exists()
    with pytest.raises(EmosteerError, match="is a folder"):
        _run(*_base_args(setup, d))


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--strength", "nan", r"--strength: Input should be a finite number \(got nan\)"),
        ("--strength", "inf", r"--strength: Input should be a finite number \(got inf\)"),
        (
            "--strength=1,nan",
            None,
            r"--strength: pos of \[neg, pos\]: Input should be a finite number \(got \[1.0, nan\]\)",
        ),
        ("--strength=-inf,1", None, r"--strength: neg of \[neg, pos\]: Input should be a finite number"),
        ("--alpha", "nan", r"--alpha: Input should be a finite number \(got nan\)"),
        ("--alpha", "2", r"--alpha: Input should be less than or equal to 1 \(got 2.0\)"),
        ("--alpha", "-0.1", r"--alpha: Input should be greater than or equal to 0 \(got -0.1\)"),
    ],
)
def test_cli_refuses_strength_and_alpha_out_of_limits(
    setup: dict[str, Path], flag: str, value: str, message: str
) -> None:
    out = setup["dir"] / "x.npz"
    with pytest.raises(EmosteerError, match=message):
        _run(
            *_base_args(setup, out),
            "--steering-json",
            setup["table"],
            "--category",
            "positive_strong",
            flag,
            *([value] if value is not None else []),
        )
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, strength",
    [
        (["--strength", "-1"], -1.0),
        (["--strength", "-0.5"], -0.5),
        (["--strength=-1,3"], (-1.0, 3.0)),
        (["--strength", "0.5,2"], (0.5, 2.0)),
        (["--strength", " 2 , -1 "], (2.0, -1.0)),
    ],
)
def test_cli_negative_and_pair_strengths_match_the_library(
    setup: dict[str, Path], argv: list[str], strength: float | tuple[float, float]
) -> None:
    out = setup["dir"] / "signed.npz"
    _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category", "positive_strong", *argv)
    entry = json.loads(setup["table"].read_text())["positive_strong"]
    ref = predict(
        _model(),
        _features(),
        steer_valence=np.array(entry["valence_128d"], np.float32),
        steer_arousal=np.array(entry["arousal_128d"], np.float32),
        strength=strength,
    )
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
        np.testing.assert_allclose(z["arousal_128d"], ref["arousal_128d"], atol=1e-6)


@pytest.mark.parametrize("text, parsed", [("2", 2.0), ("-1", -1.0), ("-1,3", [-1.0, 3.0]), ("0.5, 2", [0.5, 2.0])])
def test_strength_argument_parsing(text: str, parsed: float | list[float]) -> None:
    assert predict_cli._strength(text) == parsed


@pytest.mark.parametrize("text", ["1,2,3", "a", "1,", "1;2", ""])
def test_strength_argument_refusals(setup: dict[str, Path], text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected"):
        predict_cli._strength(text)
    with pytest.raises(SystemExit):
        _run(*_base_args(setup, setup["dir"] / "x.npz"), f"--strength={text}")
    assert "argument --strength: expected" in capsys.readouterr().err


def test_cli_strength_zero_is_accepted_and_matches_the_library(setup: dict[str, Path]) -> None:
    """0 is inside the limits: it switches the steered pathways' modulation off (not "unsteered")."""
    out = setup["dir"] / "zero.npz"
    _run(*_base_args(setup, out), "--steering-json", setup["table"], "--category", "positive_strong", "--strength", "0")
    entry = json.loads(setup["table"].read_text())["positive_strong"]
    ref = predict(
        _model(),
        _features(),
        steer_valence=np.array(entry["valence_128d"], np.float32),
        steer_arousal=np.array(entry["arousal_128d"], np.float32),
        strength=0.0,
    )
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)


def test_check_finite_names_the_first_bad_row() -> None:
    out = {k: np.zeros((3, 128) if k.endswith("128d") else 3, np.float32) for k in predict_cli.OUTPUT_KEYS}
    predict_cli.check_finite(out, ["a", "b", "c"])
    out["arousal_128d"][2, 5] = np.inf
    out["valence"][1] = np.nan
    with pytest.raises(EmosteerError, match=r"non-finite valence for 'b' \(row 1\); nothing written"):
        predict_cli.check_finite(out, ["a", "b", "c"])


def test_cli_nan_weight_writes_nothing(setup: dict[str, Path]) -> None:
    model = _model()
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.endswith("weight")).fill_(float("nan"))
    ckpt = setup["dir"] / "nan.pt"  # written around save_model, which refuses NaN weights itself
    torch.save({"format": "emosteer/1", "model": model.state_dict(), "config": model.config(), "meta": {}}, ckpt)
    out = setup["dir"] / "nan.npz"
    # refused at load (non-finite weight) or before the write (non-finite outputs): never written
    with pytest.raises(EmosteerError, match=r"non-finite|NaN|not finite"):
        _run("--checkpoint", ckpt, "--features", setup["h5"], "--out", out)
    assert not out.exists()


# --- tables with provenance: --target and the model-hash warning (issue 13 items 1 and 3) --------


def _our_table(setup: dict[str, Path], model_file: Path) -> Path:
    from emosteer.grid import Grid
    from emosteer.steering.signals import Provenance, aggregate, write_json

    rng = np.random.default_rng(0)
    v, a = rng.uniform(-1, 1, 60), rng.uniform(-1, 1, 60)
    acts = rng.uniform(0, 1, (60, 128)).astype(np.float32)
    table = aggregate(acts, acts[::-1].copy(), v, a, Grid(3), min_count=3)
    path = setup["dir"] / "ours.json"
    write_json(table, path, Provenance.of_model(model_file, split="train", seed=0))
    return path


def test_cli_target_is_the_idw_blend_and_hash_warning(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from emosteer.steering import selection, signals

    path = _our_table(setup, setup["ckpt"])
    out = setup["dir"] / "target.npz"
    _run(*_base_args(setup, out), "--steering-json", path, "--target=0.5,-0.25", "--strength", "2")
    assert "warning" not in capsys.readouterr().err  # built with this very checkpoint
    sv, sa = selection.idw(signals.read_json(path), np.array([0.5]), np.array([-0.25]))
    ref = predict(_model(), _features(), steer_valence=sv[0], steer_arousal=sa[0], strength=2.0)
    with np.load(out) as z:
        np.testing.assert_allclose(z["arousal"], ref["arousal"], atol=1e-6)
    _run(*_base_args(setup, out), "--steering-json", path, "--target=-0.5,-0.25", "--strength", "2")
    sv, sa = selection.idw(signals.read_json(path), np.array([-0.5]), np.array([-0.25]))
    ref = predict(_model(), _features(), steer_valence=sv[0], steer_arousal=sa[0], strength=2.0)
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)

    other = setup["dir"] / "other.pt"
    other.write_bytes(b"not the checkpoint")
    path = _our_table(setup, other)
    _run(*_base_args(setup, out), "--steering-json", path, "--category", "positive_strong")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and "ours.json was built with model sha256" in err
    with pytest.raises(SystemExit):  # argparse: out of [-1, 1]
        _run(*_base_args(setup, out), "--steering-json", path, "--target", "0.5,2")
    with pytest.raises(EmosteerError, match="signals.json: metadata.grid: expected an integer"):  # no grid
        _run(*_base_args(setup, out), "--steering-json", setup["table"], "--target", "0,0")


@pytest.mark.parametrize("interpolation", ["categorical", "bilinear"])
def test_cli_target_by_each_methods_interpolation(setup: dict[str, Path], interpolation: str) -> None:
    """--interpolation takes its choices from the steering methods' registry; --target picks its
    signal by that interpolation, and the flag alone is refused."""
    from emosteer.evaluation import methods
    from emosteer.steering import signals

    path = _our_table(setup, setup["ckpt"])
    out = setup["dir"] / "target.npz"
    _run(*_base_args(setup, out), "--steering-json", path, "--target=0.5,-0.25", "--interpolation", interpolation)
    pick = methods.INTERPOLATIONS[interpolation].signals
    sv, sa = pick(signals.read_json(path), np.array([0.5]), np.array([-0.25]))
    ref = predict(_model(), _features(), steer_valence=sv[0], steer_arousal=sa[0], strength=5.0)
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
    with pytest.raises(EmosteerError, match="--interpolation applies to --target only"):
        _run(
            *_base_args(setup, out),
            "--steering-json",
            path,
            "--category",
            "positive_strong",
            "--interpolation",
            interpolation,
        )


# --- emosteer predict --audio (issue 13 item 1) -------------------------------------------------


def _tone(path: Path, seconds: float, sr: int, freq: float, channels: int = 1) -> Path:
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) * np.linspace(0.2, 1.0, t.size)
    sf.write(path, np.repeat(y[:, None], channels, axis=1) if channels > 1 else y, sr)
    return path


@pytest.fixture()
def clips(tmp_path: Path) -> dict[str, Path]:
    """A folder of real sound files in two formats and rates, and a note that is not audio."""
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    long = _tone(folder / "long.wav", 1.5, 44_100, 440.0, channels=2)
    short = _tone(folder / "sub" / "short.flac", 0.5, 16_000, 1200.0)
    (folder / "notes.txt").write_text("not audio")
    ckpt = tmp_path / "model.pt"
    save_model(_model(), ckpt, {})
    return {"dir": tmp_path, "folder": folder, "long": long, "short": short, "ckpt": ckpt}


def _expected(paths: list[Path], frames: int, flavour: str = "panns", **steer) -> dict[str, np.ndarray]:
    from emosteer.data.frontend import load_audio, logmel

    x = np.stack([logmel(load_audio(p), flavour, frames) for p in paths])
    return predict(_model(), x, **steer)


def _csv_rows(path: Path) -> list[list[str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_audio_folder_gives_npz_and_csv(clips: dict[str, Path]) -> None:
    out = clips["dir"] / "pred.npz"
    _run("--checkpoint", clips["ckpt"], "--audio", clips["folder"], "--out", out)
    files = [clips["long"], clips["short"]]  # sorted, recursive, notes.txt skipped
    ref = _expected(files, 101)
    with np.load(out) as z:
        assert list(z["audio_name"]) == [str(p) for p in files]
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
        np.testing.assert_allclose(z["arousal_128d"], ref["arousal_128d"], atol=1e-6)
        assert "start_seconds" not in z.files
    rows = _csv_rows(out.with_suffix(".csv"))
    assert rows[0] == ["audio_name", "valence", "arousal"]
    assert [r[0] for r in rows[1:]] == [str(p) for p in files]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], ref["arousal"], atol=1e-6)


def test_audio_steered_frontend_and_whole_file(clips: dict[str, Path], setup: dict[str, Path]) -> None:
    out = clips["dir"] / "steered.npz"
    _run(
        "--checkpoint",
        clips["ckpt"],
        "--audio",
        clips["short"],
        clips["long"],
        "--out",
        out,
        "--csv",
        clips["dir"] / "steered.csv",
        "--frontend",
        "original",
        "--frames",
        "64",
        "--steering-json",
        setup["table"],
        "--category",
        "positive_strong",
        "--strength",
        "2",
    )
    entry = json.loads(setup["table"].read_text())["positive_strong"]
    ref = _expected(
        [clips["short"], clips["long"]],
        64,
        "original",
        steer_valence=np.array(entry["valence_128d"], np.float32),
        steer_arousal=np.array(entry["arousal_128d"], np.float32),
        strength=2.0,
    )
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
    assert (clips["dir"] / "steered.csv").is_file()

    whole = clips["dir"] / "whole.npz"
    _run("--checkpoint", clips["ckpt"], "--audio", clips["long"], clips["short"], "--out", whole, "--frames", "whole")
    from emosteer.data.frontend import frames_for_samples, load_audio

    with np.load(whole) as z:
        for i, p in enumerate([clips["long"], clips["short"]]):
            frames = frames_for_samples(load_audio(p).size)  # 1.5 s -> 151, 0.5 s -> 51
            np.testing.assert_allclose(z["valence"][i], _expected([p], frames)["valence"][0], atol=1e-6)


def test_audio_front_end_comes_from_the_checkpoint(clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Train records data.frontend/data.frames in the meta: --audio computes those log-mels unless
    a flag says otherwise, and a flag that differs from the record warns."""
    ckpt = clips["dir"] / "recorded.pt"
    save_model(_model(), ckpt, {"seed": 0, "frontend": "original", "frames": 64})
    files = [clips["long"], clips["short"]]
    out = clips["dir"] / "recorded.npz"
    _run("--checkpoint", ckpt, "--audio", *files, "--out", out)
    assert "warning" not in capsys.readouterr().err
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], _expected(files, 64, "original")["valence"], atol=1e-6)

    _run("--checkpoint", ckpt, "--audio", *files, "--out", out, "--frontend", "original", "--frames", "64")
    assert "warning" not in capsys.readouterr().err  # the same as recorded: nothing to say
    _run("--checkpoint", ckpt, "--audio", *files, "--out", out, "--frontend", "panns")
    err = capsys.readouterr().err
    assert err.count("warning") == 1
    assert f"--frontend panns differs from the original that {ckpt} was trained on; using panns" in err
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], _expected(files, 64, "panns")["valence"], atol=1e-6)
    _run("--checkpoint", ckpt, "--audio", *files, "--out", out, "--frames", "101")
    assert "--frames 101 differs from the 64 that" in capsys.readouterr().err
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], _expected(files, 101, "original")["valence"], atol=1e-6)

    # no record (the original's checkpoints, older ones of ours): panns and 101 frames, no warning
    _run("--checkpoint", clips["ckpt"], "--audio", *files, "--out", out, "--frontend", "original")
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"frontend": "mp3", "frames": 64}, r"meta 'frontend' is 'mp3', expected one of original, panns"),
        ({"frontend": "panns", "frames": 8}, r"meta 'frames' is 8, expected an integer >= 16"),
        ({"frames": "101"}, r"meta 'frames' is '101', expected an integer"),
    ],
)
def test_audio_refuses_a_bad_front_end_record(clips: dict[str, Path], meta: dict, message: str) -> None:
    ckpt = clips["dir"] / "bad_meta.pt"
    save_model(_model(), ckpt, meta)
    with pytest.raises(EmosteerError, match=message):
        _run("--checkpoint", ckpt, "--audio", clips["long"], "--out", clips["dir"] / "x.npz")


def test_audio_hop_seconds_gives_one_row_per_window(clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from emosteer.data.frontend import load_audio, logmel

    out = clips["dir"] / "hop.npz"
    _run(
        "--checkpoint",
        clips["ckpt"],
        "--audio",
        clips["long"],
        clips["short"],
        "--out",
        out,
        "--frames",
        "32",
        "--hop-seconds",
        "0.25",
    )
    err = capsys.readouterr().err.splitlines()
    # the window in seconds (31 hops of 10 ms), and the 0.5-s file that a window + a hop (0.56 s) outlasts
    assert err[0] == "emosteer predict: windows of 32 frames = 0.31 s of audio, one every 0.25 s: 6 rows from 2 files"
    assert err[1].startswith(
        "emosteer predict: note: 1 of 2 files give one window only, at 0 s: a second "
        f"needs 0.56 s (window 0.31 + hop 0.25); first: {clips['short']} (0.50 s)"
    )
    assert len(err) == 2
    win = 31 * 320  # samples of a 32-frame window
    y = load_audio(clips["long"])  # 1.5 s = 48000 samples: windows at 0, .25, .5, .75, 1.0 s
    starts = [0, 8000, 16000, 24000, 32000]
    ref = predict(_model(), np.stack([logmel(y[s : s + win], "panns", 32) for s in starts]))
    with np.load(out) as z:
        assert list(z["audio_name"]) == [str(clips["long"])] * 5 + [str(clips["short"])]
        np.testing.assert_allclose(z["start_seconds"], [0, 0.25, 0.5, 0.75, 1.0, 0.0])
        np.testing.assert_allclose(z["window_seconds"], [0.31] * 6)
        np.testing.assert_allclose(z["valence"][:5], ref["valence"], atol=1e-6)
    rows = _csv_rows(out.with_suffix(".csv"))
    assert rows[0] == ["audio_name", "start_seconds", "window_seconds", "valence", "arousal"]
    assert [r[1] for r in rows[1:]] == ["0.0", "0.25", "0.5", "0.75", "1.0", "0.0"]
    assert {r[2] for r in rows[1:]} == {"0.31"}


def test_hop_longer_than_the_clip_says_so(clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: --hop-seconds 2 on a clip no longer than the window gives one row at 0 s,
    and says why (here a 1.5-s clip and a 1.01-s window: 101 frames)."""
    out = clips["dir"] / "one.npz"
    _run("--checkpoint", clips["ckpt"], "--audio", clips["long"], "--out", out, "--frames", "101", "--hop-seconds", "2")
    err = capsys.readouterr().err
    assert "windows of 101 frames = 1.00 s of audio, one every 2 s: 1 rows from 1 files" in err
    assert (
        f"1 of 1 files give one window only, at 0 s: a second needs 3.00 s (window 1.00 + hop 2); first: {clips['long']} (1.50 s)"  # noqa: E501 (a message: one line, so a user can grep for it)
        in err
    )
    with np.load(out) as z:
        assert list(z["start_seconds"]) == [0.0] and list(z["window_seconds"]) == [1.0]


def test_audio_bad_file_is_one_line_and_nothing_written(
    clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = clips["folder"] / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really")
    out = clips["dir"] / "bad.npz"
    code = main(["predict", "--checkpoint", str(clips["ckpt"]), "--audio", str(clips["folder"]), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "broken.wav" in err and err.strip().count("\n") == 0
    assert not out.exists() and not out.with_suffix(".csv").exists()
    assert sorted(p.name for p in clips["dir"].iterdir()) == ["clips", "model.pt"]


def test_audio_refusals(clips: dict[str, Path], setup: dict[str, Path]) -> None:
    base = ["--checkpoint", clips["ckpt"], "--out", clips["dir"] / "x.npz"]
    (clips["dir"] / "empty").mkdir()
    with pytest.raises(EmosteerError, match="empty: no audio files"):
        _run(*base, "--audio", clips["dir"] / "empty")
    with pytest.raises(EmosteerError, match="nope.wav: no such audio file or folder"):
        _run(*base, "--audio", clips["dir"] / "nope.wav")
    with pytest.raises(EmosteerError, match="given twice"):
        _run(*base, "--audio", clips["folder"], clips["long"])
    with pytest.raises(EmosteerError, match="--frames applies to --audio only"):
        _run(*base[:2], "--out", clips["dir"] / "x.npz", "--features", setup["h5"], "--frames", "64")
    with pytest.raises(EmosteerError, match="--category-file needs --features"):
        _run(*base, "--audio", clips["long"], "--steering-json", setup["table"], "--category-file", setup["table"])
    with pytest.raises(EmosteerError, match="--hop-seconds needs a window length"):
        _run(*base, "--audio", clips["long"], "--frames", "whole", "--hop-seconds", "1")
    before = clips["long"].read_bytes()
    with pytest.raises(EmosteerError, match="refusing to overwrite an input"):
        _run("--checkpoint", clips["ckpt"], "--audio", clips["folder"], "--out", clips["long"])
    with pytest.raises(EmosteerError, match="refusing to overwrite an input"):
        _run(*base, "--audio", clips["folder"], "--csv", clips["folder"] / "sub" / ".." / "long.wav")
    assert clips["long"].read_bytes() == before
    with pytest.raises(SystemExit):
        _run(*base, "--audio", clips["long"], "--frames", "8")  # below the model's 16


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng or sox is not installed (apt-get install espeak-ng sox)",
)
def test_audio_speech_and_sox_files(tmp_path: Path) -> None:
    """Real files from other tools: espeak-ng speech (22.05 kHz wav) and a sox chirp (48 kHz stereo ogg)."""
    speech, chirp = tmp_path / "speech.wav", tmp_path / "chirp.ogg"
    subprocess.run(["espeak-ng", "-w", str(speech), "steer the model toward calm"], check=True)
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "2", str(chirp), "synth", "1.2", "sine", "200-2000", "vol", "0.5"],
        check=True,
    )
    ckpt = tmp_path / "model.pt"
    save_model(_model(), ckpt, {})
    out = tmp_path / "real.npz"
    _run("--checkpoint", ckpt, "--audio", speech, chirp, "--out", out)
    ref = _expected([speech, chirp], 101)
    with np.load(out) as z:
        np.testing.assert_allclose(z["valence"], ref["valence"], atol=1e-6)
    assert [r[0] for r in _csv_rows(out.with_suffix(".csv"))[1:]] == [str(speech), str(chirp)]


# --- property test: the category file reader (issue 11 item 6) ----------------------------------


@settings(max_examples=80, deadline=None)
@given(
    st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")), st.integers(0, 6)
)
def test_fuzz_category_file(data: bytes, n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "cats.txt"
        path.write_bytes(data)
        try:
            lines = predict_cli.read_category_file(path, n, Path("features.h5"))
        except EmosteerError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
        else:
            assert len(lines) == n and all(line == line.strip() for line in lines)


def test_cli_bad_csv_folder_writes_no_npz_either(setup: dict[str, Path]) -> None:
    out = setup["dir"] / "p.npz"
    with pytest.raises(EmosteerError, match="output directory .*missing does not exist"):
        _run(*_base_args(setup, out), "--csv", setup["dir"] / "missing" / "p.csv")
    assert not out.exists()


def test_cli_device_and_threads_flags(setup: dict[str, Path]) -> None:
    """--device cpu and --threads run; cuda where torch sees none is one line, nothing written."""
    import torch

    out = setup["dir"] / "dev.npz"
    _run(*_base_args(setup, out), "--device", "cpu", "--threads", "1")
    assert out.exists()
    if not torch.cuda.is_available():
        bad = setup["dir"] / "cuda.npz"
        with pytest.raises(EmosteerError, match="cuda requested but torch sees no CUDA device"):
            _run(*_base_args(setup, bad), "--device", "cuda")
        assert not bad.exists()
        with pytest.raises(
            EmosteerError, match="amp: bf16 is mixed precision on CUDA, and this run computes on the cpu"
        ):
            _run(*_base_args(setup, bad), "--amp", "bf16")  # --device auto resolves to the CPU
        assert not bad.exists()


def test_cli_npz_and_csv_are_committed_together(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the NPZ was renamed into place before the CSV was written, so a CSV that failed
    (exit 2) left a new NPZ beside the old CSV. Now both are written, then both renamed."""
    import errno
    import os

    out, csv_out = setup["dir"] / "p.npz", setup["dir"] / "p.csv"
    _run(*_base_args(setup, out), "--csv", csv_out)
    before = (_digest(out), _digest(csv_out))

    class Full:
        def __init__(self, f) -> None:
            pass

        def writerow(self, row) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import csv

    monkeypatch.setattr(csv, "writer", Full)  # the CSV writer every output CSV goes through
    with pytest.raises(EmosteerError, match=r"cannot write \(No space left on device\)"):
        _run(*_base_args(setup, out), "--csv", csv_out, "--forward-passes", "1")  # other values
    assert (_digest(out), _digest(csv_out)) == before
    assert sorted(p.name for p in setup["dir"].iterdir() if p.name.startswith(".")) == []


def test_cli_threads_has_params_yamls_limit(setup: dict[str, Path]) -> None:
    out = setup["dir"] / "t.npz"
    with pytest.raises(EmosteerError, match=r"--threads: Input should be less than or equal to 256 \(got 1000000\)"):
        _run(*_base_args(setup, out), "--threads", "1000000")
    assert not out.exists()


def test_cli_names_from_files_are_escaped_in_messages(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the unknown-category message listed the table's names raw: a newline or escape code
    in a name reached the terminal."""
    table, _ = _table(setup["dir"] / "weird.json", ["calm\n\x1b[31mred"])
    code = main(
        [
            "predict",
            *map(str, _base_args(setup, setup["dir"] / "x.npz")),
            "--steering-json",
            str(table),
            "--category",
            "sad\x1b[2J",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err
    assert "unknown category 'sad\\x1b[2J'" in err and "known: 'calm\\n\\x1b[31mred'" in err


def test_window_and_whole_file_caps_are_one_line_before_decoding(
    clips: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's cases: --hop-seconds 1e-9 on a 10-minute file asked for 19.2 million windows (a
    MemoryError traceback); --frames whole on a long file failed with a RuntimeError. Both are
    refused from the headers, naming the cap and the flag, before any audio is decoded."""
    import soundfile as sf

    from emosteer.data import frontend

    ten_minutes = clips["dir"] / "ten_minutes.wav"
    sf.write(ten_minutes, np.zeros(600 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    decoded: list[Path] = []
    monkeypatch.setattr(frontend, "audio_blocks", lambda path, limit=None: decoded.append(path) or iter(()))
    out = clips["dir"] / "p.npz"
    argv = ["predict", "--checkpoint", str(clips["ckpt"]), "--audio", str(ten_minutes), "--out", str(out)]
    assert main([*argv, "--hop-seconds", "1e-9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--hop-seconds 1e-09 cuts 19,168,001 windows from 1 file" in err
    assert "more than --max-windows 100,000; raise --max-windows" in err
    with pytest.raises(SystemExit) as stop:  # a flag out of its range: argparse's usage and line
        main([*argv, "--hop-seconds", "0.001", "--max-windows", "20000000"])
    assert stop.value.code == 2 and "argument --max-windows: at most 10000000" in capsys.readouterr().err
    assert main([*argv, "--frames", "whole"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0
        and "600.0 s of audio; --frames whole makes one window of the whole file, at most 6001" in err
    )
    assert decoded == [] and not out.exists()


def test_windows_are_capped_while_decoding_too(
    clips: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header that says less than the file holds cannot get past the cap: it is counted again
    as the windows are cut."""
    from emosteer.data import frontend

    monkeypatch.setattr(predict_cli, "audio_info", lambda path: frontend.AudioInfo(32000, 1, 0.0))
    out = clips["dir"] / "p.npz"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(clips["ckpt"]),
                "--audio",
                str(clips["long"]),
                "--out",
                str(out),
                "--hop-seconds",
                "0.01",
                "--max-windows",
                "10",
            ]
        )
        == 2
    )
    assert "cuts at least 11 windows from 1 file" in capsys.readouterr().err
    assert not out.exists()
