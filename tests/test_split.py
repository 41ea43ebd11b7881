"""Split: groups never straddle a cut, stratification, the original's indices, file round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emosteer.errors import EmosteerError
from emosteer.steering.grid import Grid
from emosteer.data.split import (group_of, make_split, original_permutation, read_parts, read_split,
                                 write_split)


def _segmented(n_clips: int, k: int, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = [f"clip{c}.wav_seg{i}" for c in range(n_clips) for i in range(k)]
    v = np.repeat(rng.uniform(-1, 1, n_clips), k)
    a = np.repeat(rng.uniform(-1, 1, n_clips), k)
    return names, v, a


def _assert_partition(split: dict[str, list[int]], n: int) -> None:
    parts = [split[p] for p in ("train", "dev", "val")]
    assert all(p == sorted(p) for p in parts)
    allidx = np.concatenate([np.asarray(p, dtype=int) for p in parts])
    assert np.array_equal(np.sort(allidx), np.arange(n))


def _sides(split: dict[str, list[int]], names: list[str]) -> dict[str, set[str]]:
    side: dict[str, set[str]] = {}
    for part, idx in split.items():
        for i in idx:
            side.setdefault(group_of(names[i]), set()).add(part)
    return side


@pytest.mark.parametrize("stratify_grid", [None, 3, 5])
def test_group_split_keeps_segments_together(stratify_grid: int | None) -> None:
    names, v, a = _segmented(60, 6)
    split = make_split(names, v, a, 0.3, 0.15, seed=1, stratify_grid=stratify_grid)
    _assert_partition(split, len(names))
    assert all(len(s) == 1 for s in _sides(split, names).values())
    assert len(split["val"]) == 18 * 6  # round(0.3 * 60) clips
    assert len(split["dev"]) == round(0.15 * 42) * 6
    assert make_split(names, v, a, 0.3, 0.15, seed=1, stratify_grid=stratify_grid) == split
    assert make_split(names, v, a, 0.3, 0.15, seed=2, stratify_grid=stratify_grid) != split


def test_group_of() -> None:
    assert group_of("a.wav_seg12") == "a.wav"
    assert group_of("a_segment.wav") == "a_segment.wav"
    assert group_of("x_seg1_seg2") == "x_seg1"


def test_stratification_follows_label_bins() -> None:
    rng = np.random.default_rng(0)
    v = np.r_[rng.uniform(-1, -0.34, 50), rng.uniform(0.34, 1, 50)]
    a = np.zeros(100)
    names = [f"c{i}" for i in range(100)]
    split = make_split(names, v, a, 0.3, 0.0, seed=0, stratify_grid=3)
    val = np.asarray(split["val"])
    assert np.sum(v[val] < 0) == 15 and np.sum(v[val] > 0) == 15
    assert split["dev"] == []


def test_stratification_bins_like_grid_one_float_step_below_an_edge() -> None:
    """-1/3 is the first edge of the 3x3 grid; the float just below it is in bin 0 for Grid. The old
    floor rule put it in bin 1, merging the two strata below, so val no longer took half of each."""
    below = np.nextafter(-1 / 3, -np.inf)
    assert Grid(3).axis_index(np.array([below]))[0] == 0
    v = np.r_[np.full(10, below), np.zeros(10)]
    names = [f"c{i}" for i in range(20)]
    for seed in range(6):
        split = make_split(names, v, np.zeros(20), 0.5, 0.0, seed=seed, stratify_grid=3)
        assert np.sum(v[split["val"]] < 0) == 5, seed


def test_stratify_grid_must_be_a_grid_size() -> None:
    names = [f"c{i}" for i in range(6)]
    for bad in (1, True, 2.0):
        with pytest.raises(EmosteerError, match="stratify_grid must be an integer >= 2 or None"):
            make_split(names, np.zeros(6), np.zeros(6), stratify_grid=bad)


def test_original_mode_reproduces_global_seed_shuffle() -> None:
    n = 1213
    state = np.random.get_state()
    np.random.seed(42)
    idx = np.arange(n)
    np.random.shuffle(idx)
    np.random.set_state(state)
    assert np.array_equal(original_permutation(n), idx)
    before = np.random.get_state()[1].copy()
    names = [f"clip{i}" for i in range(n)]
    split = make_split(names, np.zeros(n), np.zeros(n), mode="original", dev_fraction=0.15, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)  # global state untouched
    assert split["val"] == sorted(idx[int(0.7 * n):].tolist())
    assert len(split["val"]) == 364
    assert sorted(split["train"] + split["dev"]) == sorted(idx[: int(0.7 * n)].tolist())
    assert len(split["dev"]) == round(0.15 * int(0.7 * n))
    _assert_partition(split, n)


def test_original_mode_dev_is_group_aware_within_train() -> None:
    names, v, a = _segmented(30, 3)
    split = make_split(names, v, a, mode="original", seed=0)
    train_groups = {group_of(names[i]) for i in split["train"]}
    dev_groups = {group_of(names[i]) for i in split["dev"]}
    assert not train_groups & dev_groups


def test_bad_arguments() -> None:
    names, v, a = _segmented(5, 1)
    with pytest.raises(EmosteerError, match="mode"):
        make_split(names, v, a, mode="random")
    with pytest.raises(EmosteerError, match="val_fraction"):
        make_split(names, v, a, val_fraction=1.0)
    with pytest.raises(EmosteerError, match="4 valence"):
        make_split(names, v[:4], a)
    with pytest.raises(EmosteerError, match="one clip"):
        make_split(["x_seg0", "x_seg1"], np.zeros(2), np.zeros(2))


def test_write_read_round_trip_and_errors(tmp_path: Path) -> None:
    names, v, a = _segmented(10, 2)
    split = make_split(names, v, a, seed=0)
    path = tmp_path / "split.json"
    write_split(path, split, names, {"seed": 0, "mode": "group"})
    assert read_split(path, len(names)) == split
    doc = json.loads(path.read_text())
    assert doc["counts"]["val"] == len(split["val"])
    assert doc["names"]["val"] == [names[i] for i in split["val"]]
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]

    def broken(**change: object) -> Path:
        bad = dict(doc, **change)
        bad_path = tmp_path / "bad.json"
        bad_path.write_text(json.dumps(bad))
        return bad_path

    with pytest.raises(EmosteerError, match=r"bad\.json: key 'val': row 20 out of range \[0, 20\) at index 1"):
        read_split(broken(val=[split["val"][0], 20]), 20)
    with pytest.raises(EmosteerError, match=r"key 'dev': row \d+ already in 'train' at index 0"):
        read_split(broken(dev=[split["train"][0]] + split["dev"][1:]), 20)
    with pytest.raises(EmosteerError, match="does not cover row"):
        read_split(broken(val=split["val"][1:]), 20)
    with pytest.raises(EmosteerError, match="key 'n'"):
        read_split(path, 21)
    with pytest.raises(EmosteerError, match="key 'train': missing"):
        read_split(broken(train=None), 20)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(EmosteerError, match="not a JSON split file"):
        read_split(tmp_path / "junk.json", 20)


def test_read_parts_are_read_split_as_int64_arrays(tmp_path: Path) -> None:
    names, v, a = _segmented(10, 2)
    path = tmp_path / "split.json"
    write_split(path, make_split(names, v, a, seed=0), names, {"seed": 0, "mode": "group"})
    parts = read_parts(path, len(names))
    assert list(parts) == ["train", "dev", "val"]
    for part, values in read_split(path, len(names)).items():
        assert parts[part].dtype == np.int64 and parts[part].tolist() == values
