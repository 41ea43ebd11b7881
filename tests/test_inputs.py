"""Path params checked for what they name (emosteer.jobs.inputs), and `emosteer params check -S ...`:
each bad path is one line naming params.yaml, the param, the path and the problem."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from emosteer.commands.cli import main
from emosteer.errors import EmosteerError
from emosteer.jobs import inputs
from emosteer.model.checkpoints import save_model
from emosteer.model.lrm import EmotionLRM
from emosteer.schema import params
from tests.emo_fixture import FIXTURE, WINDOW_FRAMES, copy_fixture, panns_checkpoint, panns_state

REPO = Path(__file__).resolve().parents[1]
RAW = params.read_raw(REPO / "params.yaml")


def _params(data: dict | None = None, model: dict | None = None, **top) -> params.Params:
    raw = copy.deepcopy(RAW)
    raw["data"].update(data or {})
    raw["model"].update(model or {})
    raw.update(top)
    return params.validate(raw)


def _emo(path: Path | str = FIXTURE, **more) -> dict:
    return {"source": "emo_soundscapes", "path": str(path), "frames": WINDOW_FRAMES, **more}


def _refused(p: params.Params, *expected: str) -> str:
    with pytest.raises(EmosteerError) as info:
        inputs.check(p)
    text = str(info.value)
    assert "\n" not in text and text.startswith("params.yaml: "), text
    for part in expected:
        assert part in text, text
    return text


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "my models" / "Cnn6_mAP=0.343.pth"
    panns_checkpoint(path)
    return path


def test_the_fixture_and_a_panns_checkpoint_pass_with_fingerprints(ckpt: Path) -> None:
    p = _params(_emo(groups=str(FIXTURE / "groups.csv"), drop=["low_rate"]), {"panns_checkpoint": str(ckpt)})
    prints = inputs.check(p)
    assert set(prints) == set(inputs.PATH_PARAMS)
    assert prints["model.trained_checkpoint"] == {"param": "model.trained_checkpoint", "path": None}
    assert prints["model.panns_checkpoint"]["sha256"] == inputs.file_sha256(ckpt)
    # the folder's fingerprint covers the rating files and the audio: 29 files, not groups.csv
    assert prints["data.path"]["files"] == 29
    assert inputs.check(_params()) == {k: {"param": k, "path": None} for k in inputs.PATH_PARAMS}


def test_a_folder_fingerprint_moves_with_what_is_read_only(tmp_path: Path) -> None:
    data = copy_fixture(tmp_path / "emo")
    p = _params(_emo(data))
    first = inputs.check(p)["data.path"]["sha256"]
    (data / "notes.txt").write_text("not audio, not read")
    assert inputs.check(p)["data.path"]["sha256"] == first
    valence = data / "Valence.csv"
    valence.write_text(valence.read_text().replace("-0.805", "-0.804"))
    assert inputs.check(p)["data.path"]["sha256"] != first


def test_panns_checkpoint_of_the_wrong_kind(tmp_path: Path, ckpt: Path) -> None:
    _refused(
        _params(model={"panns_checkpoint": str(ckpt.parent)}),
        f"params.yaml: model.panns_checkpoint: {ckpt.parent}: is a folder, expected a PANNs Cnn6 "
        "checkpoint file (.pth)",
    )
    ours = tmp_path / "model.pt"
    save_model(EmotionLRM(), ours, {})
    _refused(
        _params(model={"panns_checkpoint": str(ours)}),
        f"params.yaml: model.panns_checkpoint: {ours}: a trained emotion model, not a PANNs Cnn6 "
        "backbone; give it as model.trained_checkpoint",
    )
    state = panns_state()
    del state["conv_block3.bn1.running_var"]
    short = tmp_path / "short.pth"
    torch.save({"model": state}, short)
    _refused(
        _params(model={"panns_checkpoint": str(short)}),
        f"params.yaml: model.panns_checkpoint: {short}: checkpoint does not match the model: 1 missing "
        "key(s): conv_block3.bn1.running_var",
    )
    text = tmp_path / "text.pth"
    text.write_text("not a checkpoint")
    _refused(
        _params(model={"panns_checkpoint": str(text)}),
        f"model.panns_checkpoint: {text}: not a torch checkpoint (torch.save writes a zip "
        "archive, or a pickle before torch 1.6; this file starts with b'not ')",
    )


def test_trained_checkpoint_must_match_the_passes(tmp_path: Path) -> None:
    path = tmp_path / "three.pt"
    save_model(EmotionLRM(forward_passes=3), path, {})
    _refused(
        _params(model={"trained_checkpoint": str(path)}),
        f"params.yaml: model.trained_checkpoint: {path}: trained with forward_passes 3, params say "
        "model.forward_passes 2",
    )
    inputs.check(_params(model={"trained_checkpoint": str(path), "forward_passes": 3}))


def test_data_path_of_the_wrong_kind(tmp_path: Path) -> None:
    _refused(
        _params(_emo(FIXTURE / "Valence.csv")),
        "params.yaml: data.path: ",
        "Valence.csv: is a file, expected an Emo-Soundscapes folder",
    )
    _refused(
        _params({"source": "features_h5", "path": str(FIXTURE)}),
        f"params.yaml: data.path: {FIXTURE}: is a folder, expected a features HDF5 file",
    )
    _refused(
        _params({"source": "features_h5", "path": str(FIXTURE / "Valence.csv")}),
        "params.yaml: data.path: ",
        "Valence.csv: not an HDF5 file",
    )
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f["feature"] = np.zeros((6, 20, 64), np.float32)
        f["valence"] = np.zeros(6, np.float32)
    _refused(
        _params({"source": "features_h5", "path": str(h5)}), f"params.yaml: data.path: {h5}: dataset 'arousal': missing"
    )


def test_rating_files_with_a_header_or_another_scale(tmp_path: Path) -> None:
    data = copy_fixture(tmp_path / "emo")
    valence = data / "Valence.csv"
    rows = valence.read_text()
    valence.write_text("FileName,Rating\n" + rows)
    _refused(
        _params(_emo(data)),
        f"params.yaml: data.path: {valence}: field 'Rating': 'Rating' is not a "
        "number at index 0: a header row? The rating files have none",
    )
    valence.write_text(
        "".join(f"{n},{50 + 50 * float(r):.1f}\n" for n, r in (line.split(",") for line in rows.splitlines()))
    )
    _refused(
        _params(_emo(data)),
        f"{valence}: field 'Rating': ",
        "outside [-1, 1] at index 0; the file's "
        "ratings span [9.8, 87.7]: they look like a 0 to 100 scale: set data.rating_range: [0, 100]",
    )
    # Arousal.csv is still on [-1, 1]: the scale is one for both files, so it is now the one refused
    _refused(
        _params(_emo(data, rating_range=[0, 100])),
        "Arousal.csv: field 'Rating': ",
        "outside [0, 100]",
        "they look like a -1 to 1 scale: set data.rating_range: [-1, 1]",
    )


def test_too_few_clips_and_groups(tmp_path: Path) -> None:
    data = tmp_path / "emo"
    (data / "a").mkdir(parents=True)
    for name in ("s07.wav", "s08.wav", "s09.wav"):
        shutil.copy(FIXTURE / "600_Sounds" / name, data / "a" / name)
    shutil.copy(FIXTURE / "Valence.csv", data)
    shutil.copy(FIXTURE / "Arousal.csv", data)
    _refused(_params(_emo(data)), f"params.yaml: data.path: {data}: 3 clips to use; the split needs at least 4")
    groups = tmp_path / "groups.csv"
    groups.write_text("m01.wav,m01\n")
    _refused(
        _params(_emo(groups=str(groups))),
        f"params.yaml: data.groups: {groups}: expected the header line 'clip,group' at index 0, got 'm01.wav,m01'",
    )
    groups.write_text("clip,group\nm01,m01\n")
    _refused(
        _params(_emo(groups=str(groups))),
        f"params.yaml: data.groups: {groups}: groups table: none of "
        "its 1 clips is among the 26 rows' clip names (first: 'm01'",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_checkpoint(tmp_path: Path, ckpt: Path) -> None:
    locked = tmp_path / "locked.pth"
    shutil.copy(ckpt, locked)
    locked.chmod(0)
    _refused(
        _params(model={"panns_checkpoint": str(locked)}),
        f"params.yaml: model.panns_checkpoint: {locked}: unreadable (Permission denied)",
    )


# --- emosteer params check -S ... ----------------------------------------------------------------


def test_params_check_names_the_override_dvc_cannot_parse(capsys: pytest.CaptureFixture[str]) -> None:
    bad = "model.panns_checkpoint=/models/Cnn6_mAP=0.343.pth"
    assert main(["params", "check", "--params", str(REPO / "params.yaml"), "-S", "grid=7", "-S", bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"emosteer params: error: -S {bad}: DVC cannot parse this override (mismatched input '=' "
        "expecting <EOF>); a value holding '=', ',', spaces, quotes or brackets needs quotes "
        "inside the argument, which the shell passes on: "
        "-S \"model.panns_checkpoint='/models/Cnn6_mAP=0.343.pth'\""
    )
    assert main(["params", "check", "-S", "model.panns_checkpoint=/models/a,b.pth"]) == 2
    assert "DVC reads this as a sweep over several values" in capsys.readouterr().err


def test_params_check_applies_quoted_overrides_as_dvc_does(ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "params",
        "check",
        "--params",
        str(REPO / "params.yaml"),
        "-S",
        "data.source=emo_soundscapes",
        "-S",
        f"data.path='{FIXTURE}'",
        "-S",
        f"data.frames={WINDOW_FRAMES}",
        "-S",
        f"model.panns_checkpoint='{ckpt}'",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{REPO / 'params.yaml'} with 4 overrides: valid"
    assert out[2] == f"  model.panns_checkpoint: {ckpt} (sha256 {inputs.file_sha256(ckpt)[:12]}...)"
    assert main(args[:-2] + ["-S", f"model.panns_checkpoint='{ckpt.parent}'"]) == 2
    assert "model.panns_checkpoint: " in capsys.readouterr().err
    assert main(["params", "check", "-S", "split.mode=original"]) == 2  # 5 seeds on one split
    assert "split.mode: original is one fixed split" in capsys.readouterr().err
