"""The stages' shared I/O: atomic JSON/CSV/text writers, the stage runner, the activations file."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from emosteer import pipeline
from emosteer.constants import STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.model import activations
from emosteer.schema import params

# --------------------------------------------------------------------------------------------
# write_json / write_text / read_json


def test_write_json_rounds_floats_everywhere_and_keeps_the_rest(tmp_path):
    path = tmp_path / "deep" / "m.json"  # parents are created
    pipeline.write_json(
        path,
        {
            "r": 0.123456789,
            "n": 12345678901,
            "ok": True,
            "name": "x",
            "nested": {"v": [1.23456749, 2.0000004, (0.5, 7)], "none": None},
            "np": np.float64(0.987654321),
        },
    )
    text = path.read_text()
    assert text.endswith("}\n")
    obj = json.loads(text)
    assert obj == {
        "r": 0.123457,
        "n": 12345678901,
        "ok": True,
        "name": "x",
        "nested": {"v": [1.234567, 2.0, [0.5, 7]], "none": None},
        "np": 0.987654,
    }
    assert obj["ok"] is True and isinstance(obj["n"], int)
    pipeline.write_json(path, {"r": 0.123456789}, digits=3)
    assert json.loads(path.read_text()) == {"r": 0.123}


def _strict_json(text):
    """json.loads that refuses the NaN/Infinity tokens standard JSON readers (JS, jq) reject."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_write_json_writes_nan_as_null_meaning_undefined(tmp_path):
    path = tmp_path / "m.json"
    pipeline.write_json(path, {"r": float("nan"), "ci": [np.float32("nan"), 0.5], "n": 3})
    assert _strict_json(path.read_text()) == {"r": None, "ci": [None, 0.5], "n": 3}


def test_read_metrics_turns_undefined_back_into_nan(tmp_path):
    path = tmp_path / "m.json"
    pipeline.write_json(path, {"r": float("nan"), "ci": [np.nan, 0.5], "name": "x"})
    got = pipeline.read_metrics(path)
    assert np.isnan(got["r"]) and np.isnan(got["ci"][0]) and got["ci"][1] == 0.5 and got["name"] == "x"
    assert pipeline.read_json(path)["r"] is None


@pytest.mark.parametrize("bad", [float("inf"), -np.inf, np.float32("inf")])
def test_write_json_refuses_inf_naming_the_key_and_keeps_the_old_file(tmp_path, bad):
    path = tmp_path / "m.json"
    pipeline.write_json(path, {"a": 1})
    with pytest.raises(EmosteerError) as info:
        pipeline.write_json(path, {"a": 2, "valence": {"dr": [0.1, bad]}})
    assert str(info.value) == (f"{path}: key 'valence.dr[1]': {float(bad)} is not finite; refusing to write it")
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_write_json_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.json"
    pipeline.write_json(path, {"a": 1})
    pipeline.write_json(path, {"a": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    assert json.loads(path.read_text()) == {"a": 2}


def test_a_failing_writer_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "m.json"
    pipeline.write_json(path, {"a": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        pipeline.write_json(path, {"a": 2, "bad": object()})  # json.dumps fails inside the writer
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_an_interrupted_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "report.md"
    pipeline.write_text(path, "old\n")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        pipeline.write_text(path, "new\n")
    monkeypatch.undo()
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_write_text_and_read_json(tmp_path):
    pipeline.write_text(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_text() == "héllo\n"
    pipeline.write_json(tmp_path / "m.json", [1, 2.5])
    assert pipeline.read_json(tmp_path / "m.json") == [1, 2.5]


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(EmosteerError, match=r"missing\.json: file not found"):
        pipeline.read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"a": 1,\n')
    with pytest.raises(EmosteerError, match=r"bad\.json: not valid JSON \(.* at line 2\)"):
        pipeline.read_json(tmp_path / "bad.json")
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(EmosteerError, match=r"latin\.json: not valid JSON \(not UTF-8 text\)"):
        pipeline.read_json(tmp_path / "latin.json")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(EmosteerError, match=r"folder\.json: unreadable \(Is a directory\)"):
        pipeline.read_json(tmp_path / "folder.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(EmosteerError, match=r"deep\.json: not valid JSON \(nested too deeply\)"):
        pipeline.read_json(tmp_path / "deep.json")


# --------------------------------------------------------------------------------------------
# write_csv


def test_write_csv_columns_rounding_and_strings(tmp_path):
    path = tmp_path / "plots" / "p.csv"
    pipeline.write_csv(
        path,
        {
            "audio_name": ["a.wav", "b,c.wav"],
            "x": np.array([0.1234567891, 2.0], dtype=np.float64),
            "y": np.array([1, 2], dtype=np.int64),
            "z": [np.float32(0.5), 3],
        },
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    # y is all integers: written as integers; z mixes a float and an int: floats throughout
    assert rows == [["audio_name", "x", "y", "z"], ["a.wav", "0.123457", "1", "0.5"], ["b,c.wav", "2.0", "2", "3.0"]]
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.csv"]


def test_write_csv_quotes_text_a_spreadsheet_would_run_and_keeps_numbers(tmp_path):
    path = tmp_path / "names.csv"
    names = [
        '=HYPERLINK("https://example.invalid")',
        "+1+cmd|' /C calc'!A0",
        "-A1",
        "@SUM(A1)",
        "\tx",
        "s00.wav",
        "-1",
        "-1/3",
        "0.5/2",
    ]
    pipeline.write_csv(path, {"audio_name": names, "valence": [-0.5] * len(names)})
    rows = list(csv.reader(path.open()))
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("https://example.invalid")',
        "'+1+cmd|' /C calc'!A0",
        "'-A1",
        "'@SUM(A1)",
        "'\tx",
        "s00.wav",
        "-1",
        "-1/3",
        "0.5/2",
    ]
    assert {r[1] for r in rows[1:]} == {"-0.5"}  # numbers stay numbers


def test_write_csv_nan_is_an_empty_cell_and_inf_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    pipeline.write_csv(path, {"s": [1, 2], "r": [np.float64("nan"), 0.25], "note": [None, "x"]})
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [["s", "r", "note"], ["1", "", ""], ["2", "0.25", "x"]]
    before = path.read_bytes()
    with pytest.raises(EmosteerError) as info:
        pipeline.write_csv(path, {"s": [1, 2], "r": [0.5, -np.inf]})
    assert str(info.value) == f"{path}: column 'r': -inf is not finite at index 1; refusing to write it"
    assert path.read_bytes() == before


def test_write_csv_rejects_unequal_columns_and_writes_nothing(tmp_path):
    path = tmp_path / "p.csv"
    with pytest.raises(ValueError, match=r"unequal length \[2, 3\]"):
        pipeline.write_csv(path, {"a": [1, 2, 3], "b": [1, 2]})
    assert not path.exists() and list(tmp_path.iterdir()) == []
    pipeline.write_csv(path, {"a": [1.0]})
    before = path.read_bytes()
    with pytest.raises(ValueError):
        pipeline.write_csv(path, {"a": [1.0], "b": []})
    assert path.read_bytes() == before


# --------------------------------------------------------------------------------------------
# run


REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def _params_here(tmp_path, monkeypatch, text=None):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(REPO_PARAMS.read_text() if text is None else text)


def test_run_passes_the_validated_params(tmp_path, monkeypatch):
    _params_here(tmp_path, monkeypatch, re.sub(r"^grid: \d+$", "grid: 7", REPO_PARAMS.read_text(), flags=re.M))
    got = []
    pipeline.run(got.append, params.Params, "stage_x")
    assert got == [params.load(tmp_path / "params.yaml")] and got[0].grid == 7


def test_a_stage_schema_validates_its_own_sections_only(tmp_path, monkeypatch, capsys):
    """train reads data, model and train: a bad evaluate value is check_params' to refuse, a bad
    train value is refused by both in the same words."""
    from emosteer.jobs.fit import TrainParams

    text = REPO_PARAMS.read_text()
    _params_here(tmp_path, monkeypatch, re.sub(r"n_boot: \d+", "n_boot: 3", text))
    got = []
    pipeline.run(got.append, TrainParams, "train")
    assert got[0].train == params.load(REPO_PARAMS).train and not hasattr(got[0], "evaluate")
    with pytest.raises(SystemExit):
        pipeline.run(got.append, params.Params, "check_params")
    assert "evaluate.n_boot" in capsys.readouterr().err
    (tmp_path / "params.yaml").write_text(re.sub(r"epochs: \d+", "epochs: 0", text, count=1))
    for schema in (TrainParams, params.Params):
        with pytest.raises(SystemExit):
            pipeline.run(got.append, schema, "x")
        assert "train.epochs: Input should be greater than or equal to 1" in capsys.readouterr().err


def test_run_turns_bad_input_into_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    _params_here(tmp_path, monkeypatch)

    def main(raw):
        raise EmosteerError("data/split.json: field 'val': index [3] out of range")

    with pytest.raises(SystemExit) as info:
        pipeline.run(main, params.Params, "prepare_split")
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "emosteer stage prepare_split: error: data/split.json: field 'val': index [3] out of range\n"
    )


def test_run_without_params_file_is_also_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        pipeline.run(lambda raw: None, params.Params, "train")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("emosteer stage train: error: params.yaml") and err.count("\n") == 1


def test_run_lets_programming_errors_through(tmp_path, monkeypatch):
    _params_here(tmp_path, monkeypatch)

    def main(raw):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        pipeline.run(main, params.Params, "x")


# --------------------------------------------------------------------------------------------
# activations


def _acts(n: int = 7, seed: int = 0, forward_passes: int = 2) -> activations.Activations:
    rng = np.random.default_rng(seed)
    return activations.Activations(
        names=[f"clip_{i:03d}.wav" for i in range(n)],
        valence=rng.uniform(-1, 1, n),
        arousal=rng.uniform(-1, 1, n),
        pred_valence=rng.normal(size=n),
        pred_arousal=rng.normal(size=n),
        valence_128d=rng.random((n, STEER_DIM)).astype(np.float32),
        arousal_128d=rng.random((n, STEER_DIM)).astype(np.float32),
        forward_passes=forward_passes,
        activations_pass=activations.activations_pass_for(forward_passes),
        pass1_valence=rng.normal(size=n),
        pass1_arousal=rng.normal(size=n),
    )


def test_activations_pass_is_the_last_fed_back_pass():
    assert [activations.activations_pass_for(p) for p in (1, 2, 3, 4)] == [1, 1, 2, 3]


def test_activations_round_trip(tmp_path):
    acts = _acts(forward_passes=3)
    path = tmp_path / "data" / "activations.h5"
    activations.write(path, acts)
    got = activations.read(path)
    assert got.names == acts.names
    assert (got.forward_passes, got.activations_pass) == (3, 2)
    for key in (
        "valence",
        "arousal",
        "pred_valence",
        "pred_arousal",
        "valence_128d",
        "arousal_128d",
        "pass1_valence",
        "pass1_arousal",
    ):
        value = getattr(got, key)
        assert value.dtype == np.float32, key
        np.testing.assert_array_equal(value, np.asarray(getattr(acts, key), np.float32))
    assert got.valence_128d.shape == (7, STEER_DIM)
    assert sorted(p.name for p in path.parent.iterdir()) == ["activations.h5"]


def test_activations_round_trip_the_one_pass_twins_predictions_where_given(tmp_path):
    acts = _acts()
    assert activations.read(_written(tmp_path / "a.h5", acts)).one_pass_valence is None
    twin = {"one_pass_valence": np.linspace(-1, 1, 7), "one_pass_arousal": np.linspace(1, -1, 7)}
    got = activations.read(_written(tmp_path / "b.h5", activations.Activations(**{**acts.__dict__, **twin})))
    for key, value in twin.items():
        np.testing.assert_array_equal(getattr(got, key), value.astype(np.float32))
    with pytest.raises(EmosteerError, match="go together"):
        activations.write(
            tmp_path / "c.h5",
            activations.Activations(**{**acts.__dict__, "one_pass_valence": twin["one_pass_valence"]}),
        )
    bad = {**twin, "one_pass_arousal": np.where(np.arange(7) == 2, np.nan, 0.0)}
    with pytest.raises(EmosteerError, match="dataset 'one_pass_arousal': NaN or inf at index 2"):
        activations.write(tmp_path / "d.h5", activations.Activations(**{**acts.__dict__, **bad}))
    with h5py.File(tmp_path / "b.h5", "a") as f:
        del f["one_pass_arousal"]
    with pytest.raises(EmosteerError, match="dataset 'one_pass_valence' without the others"):
        activations.read(tmp_path / "b.h5")


def _written(path, acts):  # type: ignore[no-untyped-def]
    activations.write(path, acts)
    return path


def test_activations_equal_inputs_give_byte_identical_files(tmp_path):
    activations.write(tmp_path / "a.h5", _acts())
    activations.write(tmp_path / "b.h5", _acts())
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    # HDF5 can stamp a dataset with the wall clock (1 s resolution); instead of sleeping past a
    # second between two writes, read each dataset's creation time: 0 means no stamp at all.
    with h5py.File(tmp_path / "a.h5") as f:
        for key in f:
            assert h5py.h5o.get_info(f[key].id).ctime == 0, key
    activations.write(tmp_path / "c.h5", _acts(seed=1))
    assert (tmp_path / "a.h5").read_bytes() != (tmp_path / "c.h5").read_bytes()


@pytest.mark.parametrize("key", ["audio_name", "pred_arousal", "valence_128d"])
def test_activations_missing_dataset_is_named(tmp_path, key):
    path = tmp_path / "activations.h5"
    activations.write(path, _acts())
    with h5py.File(path, "a") as f:
        del f[key]
    with pytest.raises(EmosteerError) as info:
        activations.read(path)
    assert str(info.value) == f"{path}: dataset '{key}': missing"


def test_activations_length_mismatch_is_named(tmp_path):
    path = tmp_path / "activations.h5"
    activations.write(path, _acts())
    with h5py.File(path, "a") as f:
        del f["arousal"]
        f.create_dataset("arousal", data=np.zeros(5, np.float32))
    with pytest.raises(EmosteerError, match=r"dataset 'arousal': length 5 != 7 clips"):
        activations.read(path)


@pytest.mark.parametrize("attr", ["forward_passes", "activations_pass"])
def test_activations_missing_attribute_is_named(tmp_path, attr):
    path = tmp_path / "activations.h5"
    activations.write(path, _acts())
    with h5py.File(path, "a") as f:
        del f.attrs[attr]
    with pytest.raises(EmosteerError, match=f"attribute '{attr}': missing"):
        activations.read(path)


@pytest.mark.parametrize("key", ["pred_valence", "arousal_128d"])
def test_activations_non_finite_values_are_refused_before_writing(tmp_path, key):
    acts = _acts()
    bad = np.array(getattr(acts, key), dtype=np.float64)
    bad[4] = np.nan
    path = tmp_path / "activations.h5"
    with pytest.raises(EmosteerError) as info:
        activations.write(path, activations.Activations(**{**acts.__dict__, key: bad}))
    assert str(info.value) == f"{path}: dataset '{key}': NaN or inf at index 4; refusing to write it"
    assert list(tmp_path.iterdir()) == []


def test_activations_damaged_header_is_a_result_or_one_error(tmp_path):
    """Overwrite each 8-byte word of the metadata: h5py raises OSError, RuntimeError, KeyError or
    ValueError depending on the word; the reader must answer with one EmosteerError line."""
    good = tmp_path / "good.h5"
    activations.write(good, _acts())
    base = good.read_bytes()
    path = tmp_path / "activations.h5"
    for at in range(0, 2048, 8):
        path.write_bytes(base[:at] + b"\xff" * 8 + base[at + 8 :])
        try:
            activations.read(path)
        except EmosteerError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path))


def test_activations_unreadable_file_is_one_error(tmp_path):
    with pytest.raises(EmosteerError, match=r"nope\.h5: no such file"):
        activations.read(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(EmosteerError, match=r"junk\.h5: not an HDF5 file"):
        activations.read(tmp_path / "junk.h5")


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"r": ' + "1" * 5000 + "}", "not valid JSON (an integer of 5000 digits; at most 4300 are read)"),
        ('{"r": 1, "r": 2}', "not valid JSON (key 'r' twice in one object)"),
    ],
)
def test_read_json_oversized_numbers_and_duplicate_keys_are_one_line(tmp_path, text, message):
    from emosteer.data import split
    from emosteer.pipeline import read_json

    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(EmosteerError) as info:
        read_json(path)
    assert str(info.value) == f"{path}: {message}"
    with pytest.raises(EmosteerError) as info:
        split.read_split(path, 3)
    assert str(info.value) == f"{path}: {message}"
