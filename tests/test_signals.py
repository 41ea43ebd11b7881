"""Signal tables: train-only means, nearest-populated fallback, writers, and the leak test."""

import hashlib
import json
import struct
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emosteer.constants import STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.steering.signals import (
    Provenance,
    SignalTable,
    aggregate,
    aggregate_split,
    describe,
    file_sha256,
    from_json,
    nearest_populated,
    read_categories,
    read_h5,
    read_json,
    read_metadata,
    to_json,
    write_h5,
    write_json,
)


def _dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    acts_v = rng.normal(size=(n, STEER_DIM)).astype(np.float32)
    acts_a = rng.normal(size=(n, STEER_DIM)).astype(np.float32)
    v = rng.uniform(-1, 1, n).astype(np.float32)
    a = rng.uniform(-1, 1, n).astype(np.float32)
    return acts_v, acts_a, v, a


def test_means_counts_and_global_mean():
    acts_v, acts_a, v, a = _dataset(400, 0)
    grid = Grid(3)
    table = aggregate(acts_v, acts_a, v, a, grid)
    flat = grid.bin_index(v, a)
    assert table.counts.tolist() == np.bincount(flat, minlength=9).tolist()
    assert (table.source == np.arange(9)).all()
    for k in range(9):
        expect = acts_v[flat == k].astype(np.float64).mean(axis=0).astype(np.float32)
        np.testing.assert_array_equal(table.valence[k], expect)
        expect = acts_a[flat == k].astype(np.float64).mean(axis=0).astype(np.float32)
        np.testing.assert_array_equal(table.arousal[k], expect)
    assert table.valence.dtype == np.float32 and table.valence.shape == (9, STEER_DIM)
    np.testing.assert_array_equal(table.global_valence, acts_v.astype(np.float64).mean(0).astype(np.float32))
    np.testing.assert_array_equal(table.global_arousal, acts_a.astype(np.float64).mean(0).astype(np.float32))


def _corner_table(min_count: int = 1) -> SignalTable:
    """3x3 grid with clips only in bin 0 (negative_weak, 3 clips), bin 8 (positive_strong, 3 clips)
    and bin 5 (neutral_strong, 1 clip)."""
    v = np.array([-0.9, -0.8, -0.7, 0.9, 0.8, 0.7, 0.0], dtype=np.float32)
    a = np.array([-0.9, -0.8, -0.7, 0.9, 0.8, 0.7, 0.9], dtype=np.float32)
    acts = np.zeros((7, STEER_DIM), dtype=np.float32)
    acts[:3] = 1.0
    acts[3:6] = 8.0
    acts[6] = 5.0
    return aggregate(acts, -acts, v, a, Grid(3), min_count=min_count)


def test_fallback_nearest_by_centre_distance_ties_to_lowest_index():
    table = _corner_table(min_count=2)
    assert table.counts.tolist() == [3, 0, 0, 0, 0, 1, 0, 0, 3]
    assert table.populated.tolist() == [True] + [False] * 7 + [True]
    # bin 4 (centre) is equidistant from 0 and 8: tie -> 0; so are 2 and 6
    # bin 5 has one clip but min_count=2, so it falls back too: nearest is 8 (d^2=1 vs 5)
    assert table.source.tolist() == [0, 0, 0, 0, 0, 8, 0, 8, 8]
    np.testing.assert_array_equal(table.valence[5], np.full(STEER_DIM, 8.0, np.float32))
    np.testing.assert_array_equal(table.arousal[4], np.full(STEER_DIM, -1.0, np.float32))
    assert table.fallbacks() == {
        "negative_middle": "negative_weak",
        "negative_strong": "negative_weak",
        "neutral_weak": "negative_weak",
        "neutral_middle": "negative_weak",
        "neutral_strong": "positive_strong",
        "positive_weak": "negative_weak",
        "positive_middle": "positive_strong",
    }
    meta = to_json(table)["metadata"]
    assert meta["fallbacks"] == table.fallbacks()
    assert meta["populated"] == 2 and meta["min_count"] == 2
    assert to_json(table)["neutral_strong"]["fallback_to"] == "positive_strong"
    assert to_json(table)["neutral_strong"]["count"] == 1
    # with min_count=1, bin 5 keeps its own clip
    assert _corner_table(min_count=1).source[5] == 5


def test_nearest_populated_matches_brute_force_float_distances():
    rng = np.random.default_rng(3)
    for g in (3, 5, 7):
        grid = Grid(g)
        pts = grid.centre_points()
        for _ in range(5):
            populated = rng.random(g * g) < 0.3
            populated[rng.integers(g * g)] = True
            got = nearest_populated(grid, populated)
            targets = np.flatnonzero(populated)
            for k in range(g * g):
                d = np.hypot(*(pts[targets] - pts[k]).T)
                best = targets[np.isclose(d, d.min(), rtol=0, atol=1e-12)].min()
                assert got[k] == best


def test_no_populated_bin_is_an_error():
    acts_v, acts_a, v, a = _dataset(10, 1)
    with pytest.raises(EmosteerError, match="no bin has >= 11") as err:
        aggregate(acts_v, acts_a, v, a, Grid(3), min_count=11)
    msg = str(err.value)  # issue 11 item 5: name the keys and the fix
    assert "steering.min_count" in msg and "grid" in msg and "lower steering.min_count" in msg
    with pytest.raises(EmosteerError, match=r"100x100 grid \(grid\).*coarser grid"):
        aggregate(acts_v, acts_a, v, a, Grid(100), min_count=3)


def test_bad_inputs_name_the_field_and_index():
    acts_v, acts_a, v, a = _dataset(10, 1)
    acts_v[4, 7] = np.nan
    with pytest.raises(EmosteerError, match=r"valence_128d\[4\]"):
        aggregate(acts_v, acts_a, v, a, Grid(3))
    acts_v, acts_a, v, a = _dataset(10, 1)
    with pytest.raises(EmosteerError, match=r"arousal\[2\]"):
        aggregate(acts_v, acts_a, v, np.where(np.arange(10) == 2, 1.5, a), Grid(3))
    with pytest.raises(EmosteerError, match="shape"):
        aggregate(acts_v[:, :64], acts_a, v, a, Grid(3))
    with pytest.raises(EmosteerError, match="min_count"):
        aggregate(acts_v, acts_a, v, a, Grid(3), min_count=0)
    with pytest.raises(EmosteerError, match="more than once"):
        aggregate_split(acts_v, acts_a, v, a, np.array([1, 2, 2]), Grid(3))
    with pytest.raises(EmosteerError, match=r"train_idx\[1\] = 10"):
        aggregate_split(acts_v, acts_a, v, a, np.array([1, 10]), Grid(3))


def test_json_format_and_round_trip(tmp_path):
    table = _corner_table(min_count=2)
    obj = to_json(table)
    assert list(obj) == Grid(3).names() + ["metadata"]
    entry = obj["negative_weak"]
    assert list(entry) == ["valence_128d", "arousal_128d", "count", "fallback_to"]
    assert len(entry["valence_128d"]) == STEER_DIM and entry["count"] == 3 and entry["fallback_to"] is None
    meta = obj["metadata"]
    assert meta["grid"] == 3 and meta["bins"] == 9
    assert meta["counts"] == dict(zip(Grid(3).names(), [3, 0, 0, 0, 0, 1, 0, 0, 3]))
    # what the original's loader does: every key except "metadata" is a category with 128-d lists
    cats = {k: v for k, v in json.loads(json.dumps(obj)).items() if k != "metadata"}
    assert len(cats) == 9 and all(len(c["arousal_128d"]) == STEER_DIM for c in cats.values())

    rng = np.random.default_rng(5)
    acts_v, acts_a, v, a = _dataset(300, 5)
    acts_v *= rng.uniform(0.1, 1000, size=(1, STEER_DIM)).astype(np.float32)  # many magnitudes
    table = aggregate(acts_v, acts_a, v, a, Grid(5), min_count=15)
    back = from_json(json.loads(json.dumps(to_json(table))))
    path = tmp_path / "t.json"
    write_json(table, path)
    for other in (back, read_json(path)):
        for field in ("valence", "arousal", "counts", "source", "global_valence", "global_arousal"):
            np.testing.assert_array_equal(getattr(other, field), getattr(table, field))
        assert other.min_count == 15 and other.grid == table.grid


def test_h5_round_trip_and_attrs(tmp_path):
    acts_v, acts_a, v, a = _dataset(200, 2)
    table = aggregate(acts_v, acts_a, v, a, Grid(7), min_count=3)
    path = tmp_path / "sub" / "t.h5"
    write_h5(table, path, {"split": "train", "seed": 0, "params": {"grid": 7}})
    back = read_h5(path)
    for field in ("valence", "arousal", "counts", "source", "global_valence", "global_arousal"):
        np.testing.assert_array_equal(getattr(back, field), getattr(table, field))
    with h5py.File(path, "r") as f:
        assert f.attrs["grid"] == 7 and f.attrs["split"] == "train"
        assert json.loads(f.attrs["params"]) == {"grid": 7}
        assert f["names"][0] == b"v0_a0"
        np.testing.assert_array_equal(f["centres"][()], Grid(7).centre_points())
    with pytest.raises(EmosteerError, match="reserved"):
        write_h5(table, path, {"grid": 5})
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f["valence"] = table.valence
    with pytest.raises(EmosteerError, match="broken.h5: missing dataset 'arousal'"):
        read_h5(tmp_path / "broken.h5")
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp files left behind


def _write_both(table: SignalTable, directory, tag: str) -> tuple[bytes, bytes]:
    write_h5(table, directory / f"{tag}.h5", {"grid_param": table.grid.size})
    write_json(table, directory / f"{tag}.json")
    return (directory / f"{tag}.h5").read_bytes(), (directory / f"{tag}.json").read_bytes()


def test_same_inputs_give_byte_identical_files(tmp_path):
    acts_v, acts_a, v, a = _dataset(300, 4)
    first = _write_both(aggregate(acts_v, acts_a, v, a, Grid(5), 5), tmp_path, "a")
    second = _write_both(aggregate(acts_v.copy(), acts_a.copy(), v.copy(), a.copy(), Grid(5), 5), tmp_path, "b")
    assert first == second
    # and no object carries a timestamp that a later second would change (no sleep needed): HDF5
    # stores times as 4-byte little-endian epoch seconds, so look for any of the last minute's
    now = int(time.time())
    data = (tmp_path / "a.h5").read_bytes()
    assert not [k for k in range(60) if struct.pack("<I", now - k) in data]


@pytest.mark.parametrize("g", [3, 5])
def test_leak_validation_rows_cannot_change_the_tables(tmp_path, g):
    """Issue 5 item 1: signals come from the training split only, byte for byte."""
    n = 500
    acts_v, acts_a, v, a = _dataset(n, 7)
    rng = np.random.default_rng(8)
    order = rng.permutation(n)
    train_idx, val_idx = order[:350], order[350:]

    base = aggregate_split(acts_v, acts_a, v, a, train_idx, Grid(g), min_count=4)
    ref = _write_both(base, tmp_path, "ref")

    # change everything about the validation clips: activations, labels (even to values that
    # would be rejected if they were read), and the order in which the split lists train clips
    acts_v2, acts_a2, v2, a2 = acts_v.copy(), acts_a.copy(), v.copy(), a.copy()
    acts_v2[val_idx] = rng.normal(50, 10, size=(len(val_idx), STEER_DIM)).astype(np.float32)
    acts_a2[val_idx] = np.nan
    v2[val_idx] = rng.uniform(-1, 1, len(val_idx)).astype(np.float32)
    a2[val_idx] = 7.0
    changed = aggregate_split(acts_v2, acts_a2, v2, a2, train_idx[::-1].copy(), Grid(g), min_count=4)
    assert _write_both(changed, tmp_path, "changed") == ref

    # and the check has teeth: changing one training clip changes the bytes
    acts_v2[train_idx[0], 0] += 1.0
    touched = aggregate_split(acts_v2, acts_a2, v2, a2, train_idx, Grid(g), min_count=4)
    assert _write_both(touched, tmp_path, "touched") != ref

    # the table equals aggregate() over the train rows alone
    direct = aggregate(
        acts_v[np.sort(train_idx)],
        acts_a[np.sort(train_idx)],
        v[np.sort(train_idx)],
        a[np.sort(train_idx)],
        Grid(g),
        min_count=4,
    )
    assert _write_both(direct, tmp_path, "direct") == ref


# --- provenance and inspect (issue 13 item 3) ---------------------------------------------------


def _with_provenance(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    table = _corner_table(min_count=2)
    prov = Provenance.of_model(
        model, split="train", seed=3, activations_pass=1, forward_passes=2, extra={"fallback": "nearest"}
    )
    path = tmp_path / "coarse.json"
    write_json(table, path, prov)
    return table, path, model


def test_json_metadata_records_grid_counts_and_provenance(tmp_path):
    table, path, model = _with_provenance(tmp_path)
    meta = read_metadata(path)
    assert meta["format"] == "emosteer-signals/2"
    assert meta["grid"] == 3 and meta["edges"] == pytest.approx([-1, -1 / 3, 1 / 3, 1])
    assert meta["centres"]["positive_strong"] == pytest.approx([2 / 3, 2 / 3])
    assert meta["n_clips"] == 7 and meta["counts"]["negative_weak"] == 3
    assert meta["split"] == "train" and meta["seed"] == 3
    assert meta["model_file"] == str(model)
    assert meta["model_sha256"] == hashlib.sha256(b"weights").hexdigest() == file_sha256(model)
    assert meta["activations_pass"] == 1 and meta["forward_passes"] == 2
    assert meta["extra"] == {"fallback": "nearest"}
    back = read_json(path)  # the reader ignores what it does not need
    np.testing.assert_array_equal(back.valence, table.valence)
    # provenance goes to the HDF5 attributes too
    write_h5(table, tmp_path / "coarse.h5", {"which": "coarse"}, Provenance(split="train", seed=3))
    with h5py.File(tmp_path / "coarse.h5", "r") as f:
        assert f.attrs["split"] == "train" and f.attrs["seed"] == 3 and "model_sha256" not in f.attrs


def test_describe_prints_grid_counts_fallbacks_and_provenance(tmp_path):
    _, path, _ = _with_provenance(tmp_path)
    text = describe(path)
    assert "3 x 3 bins" in text and "-0.333" in text
    assert "7 from split train, seed 3" in text
    assert "2 of 9 bins have >= 2 clips" in text
    assert hashlib.sha256(b"weights").hexdigest() in text
    assert "pass 1 of 2" in text
    assert "neutral_strong -> positive_strong" in text
    rows = [line for line in text.splitlines() if line.strip().startswith("a=")]
    assert rows[0].split()[1:] == ["0*", "1*", "3"]  # arousal strong: valence neg, neutral, pos
    assert rows[-1].split()[1:] == ["3", "0*", "0*"]


def test_old_tables_still_load(tmp_path):
    table = _corner_table(min_count=2)
    obj = to_json(table)
    for key in (
        "format",
        "edges",
        "centres",
        "n_clips",
        "split",
        "seed",
        "model_file",
        "model_sha256",
        "activations_pass",
        "forward_passes",
        "extra",
    ):
        del obj["metadata"][key]  # what the first emosteer tables held
    old = tmp_path / "old.json"
    old.write_text(json.dumps(obj))
    np.testing.assert_array_equal(read_json(old).counts, table.counts)
    assert "split not recorded" in describe(old)
    original = tmp_path / "original.json"  # the original's format: categories only
    original.write_text(
        json.dumps(
            {
                "positive_strong": {"valence_128d": [0.5] * 128, "arousal_128d": [1] * 128},
                "generation_config": {"batch_size": 32},
            }
        )
    )
    assert read_metadata(original) is None
    assert list(read_categories(original)) == ["positive_strong"]
    assert "the original's format, no metadata" in describe(original)
    with pytest.raises(EmosteerError, match="no 'metadata' object, so no grid"):
        read_json(original)


def test_signals_inspect_cli(tmp_path, capsys):
    from emosteer.commands.cli import main

    _, path, _ = _with_provenance(tmp_path)
    assert main(["signals", "inspect", str(path)]) == 0
    assert "split train, seed 3" in capsys.readouterr().out
    assert main(["signals", "inspect", str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- property tests: malformed input gives a clean result or EmosteerError, nothing else --------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _readers_survive(path) -> None:
    """Every reader of a steering JSON either returns or raises EmosteerError."""
    for reader in (read_json, read_categories, read_metadata, describe):
        try:
            reader(path)
        except EmosteerError as exc:
            assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_steering_json_bytes(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.json"
        path.write_bytes(data)
        _readers_survive(path)


@FUZZ
@given(JSON_VALUES)
def test_fuzz_steering_json_any_value(value):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.json"
        path.write_text(json.dumps(value))
        _readers_survive(path)


@FUZZ
@given(st.data())
def test_fuzz_steering_json_mutated_table(data):
    """A valid table with one entry, field, metadata key or vector element replaced or dropped."""
    obj = to_json(_corner_table(min_count=2), Provenance(split="train", seed=1))
    top = data.draw(st.sampled_from(sorted(obj)))
    target = obj
    key = top
    if isinstance(obj[top], dict) and data.draw(st.booleans()):
        target, key = obj[top], data.draw(st.sampled_from(sorted(obj[top])))
    mode = data.draw(st.sampled_from(["drop", "replace", "element"]))
    if mode == "element" and isinstance(target[key], list) and target[key]:
        target[key][data.draw(st.integers(0, len(target[key]) - 1))] = data.draw(JSON_VALUES)
    elif mode == "drop":
        del target[key]
    else:
        target[key] = data.draw(JSON_VALUES)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.json"
        path.write_text(json.dumps(obj))
        _readers_survive(path)


# --- untrusted JSON text (issue #24) -----------------------------------------------------------

VEC = json.dumps([0.25] * 128)


@pytest.mark.parametrize(
    "text,message",
    [
        # before: a ValueError traceback ("Exceeds the limit (4300 digits) for integer string conversion")
        (
            '{"a": {"valence_128d": [' + "9" * 5000 + '], "arousal_128d": []}}',
            "not valid JSON (an integer of 5000 digits; at most 4300 are read)",
        ),
        # before: the second "a" silently replaced the first
        (
            '{"a": {"valence_128d": %s, "arousal_128d": %s}, "a": {"valence_128d": %s, "arousal_128d": %s}}'  # noqa: UP031  (a JSON text: % keeps its braces single)
            % (VEC, VEC, VEC, VEC),
            "not valid JSON (key 'a' twice in one object)",
        ),
        (
            '{"a": {"valence_128d": %s, "valence_128d": %s, "arousal_128d": %s}}' % (VEC, VEC, VEC),  # noqa: UP031
            "not valid JSON (key 'valence_128d' twice in one object)",
        ),
    ],
)
def test_steering_json_oversized_numbers_and_duplicate_keys_are_one_line(tmp_path, text, message):
    path = tmp_path / "t.json"
    path.write_text(text)
    for reader in (read_categories, read_metadata, describe):
        with pytest.raises(EmosteerError) as info:
            reader(path)
        assert str(info.value) == f"{path}: {message}"


def test_describe_escapes_names_read_from_the_file(tmp_path, capsys):
    """A category name is the file's: a newline or an escape code in it must not reach the terminal."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"calm\n\x1b[2Jfake": {"valence_128d": [0.1] * 128, "arousal_128d": [0.1] * 128}}))
    text = describe(path)
    assert "\x1b" not in text and "calm\\n\\x1b[2Jfake" in text
    assert len(text.splitlines()) == 2
