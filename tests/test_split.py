"""Split: groups never straddle a cut, stratification, the original's indices, file round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emosteer.data.split import (
    group_ids,
    group_of,
    make_split,
    original_permutation,
    read_groups,
    read_parts,
    read_split,
    unmatched,
    write_split,
)
from emosteer.errors import EmosteerError
from emosteer.grid import Grid


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
    assert split["val"] == sorted(idx[int(0.7 * n) :].tolist())
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
    with pytest.raises(EmosteerError, match="not valid JSON"):
        read_split(tmp_path / "junk.json", 20)


def test_read_parts_are_read_split_as_int64_arrays(tmp_path: Path) -> None:
    names, v, a = _segmented(10, 2)
    path = tmp_path / "split.json"
    write_split(path, make_split(names, v, a, seed=0), names, {"seed": 0, "mode": "group"})
    parts = read_parts(path, len(names))
    assert list(parts) == ["train", "dev", "val"]
    for part, values in read_split(path, len(names)).items():
        assert parts[part].dtype == np.int64 and parts[part].tolist() == values


# --- groups tables (data.groups) ---------------------------------------------------------------


def _mixed_set(n_groups: int = 60, seed: int = 0):
    """Groups of five near-duplicate clips (a source and four mixes made from it) sharing one random
    label: any model that recognises a clip it has seen predicts a leaked clip's label."""
    rng = np.random.default_rng(seed)
    names, x, v, a, table = [], [], [], [], []
    for g in range(n_groups):
        centre, (lv, la) = rng.standard_normal(16), rng.uniform(-0.9, 0.9, 2)
        for member in (f"src{g}.wav", *(f"mix{g}{k}.wav" for k in "abcd")):
            names.append(member)
            x.append(centre + 0.05 * rng.standard_normal(16))
            v.append(lv + 0.02 * rng.standard_normal())
            a.append(la + 0.02 * rng.standard_normal())
            table.append((member, f"g{g}"))
    return names, np.array(x), np.clip(v, -1, 1), np.clip(a, -1, 1), table


def _nearest_neighbour_r(x: np.ndarray, y: np.ndarray, split: dict[str, list[int]]) -> float:
    """r on val of a 1-nearest-neighbour regressor fitted on train: high only if val clips have
    near-duplicates in train."""
    train, val = np.array(split["train"]), np.array(split["val"])
    d = ((x[val, None, :] - x[None, train, :]) ** 2).sum(-1)
    return float(np.corrcoef(y[val], y[train][d.argmin(axis=1)])[0, 1])


@pytest.mark.parametrize("mode", ["group", "original"])
def test_a_groups_table_stops_the_leak_that_inflates_r(mode: str) -> None:
    names, x, v, a, table = _mixed_set()
    for seed in (0, 1, 2):
        leaky = make_split(names, v, a, seed=seed, mode=mode, stratify_grid=3)
        kept = make_split(names, v, a, seed=seed, mode=mode, stratify_grid=3, groups=table)
        _assert_partition(kept, len(names))
        side = {}
        for part, idx in kept.items():
            for i in idx:
                side.setdefault(table[i][1], set()).add(part)
        assert all(len(parts) == 1 for parts in side.values())
        assert _nearest_neighbour_r(x, v, leaky) > 0.8  # the leak is real: without the table r is inflated
        assert abs(_nearest_neighbour_r(x, v, kept)) < 0.35  # with it, no clip has a twin in train


def test_group_ids_join_groups_through_shared_clips() -> None:
    names = ["m1.wav", "a.wav", "b.wav", "m2.wav", "c.wav", "d.wav_seg0", "d.wav_seg1", "e.wav"]
    table = [
        ("m1.wav", "m1"),
        ("a.wav", "m1"),
        ("b.wav", "m1"),
        ("m2.wav", "m2"),
        ("b.wav", "m2"),
        ("c.wav", "m2"),
        ("d.wav", "x"),
        ("nowhere.wav", "x"),
    ]
    ids = group_ids(names, table)
    assert len(set(ids[:5])) == 1  # b.wav is in both mixes: one group
    assert ids[5] == ids[6] != ids[0] and ids[7] not in (ids[0], ids[5])

    def partition(ns: list[str], gs: np.ndarray) -> set[frozenset[str]]:
        return {frozenset(n for n, g in zip(ns, gs) if g == k) for k in set(gs.tolist())}

    assert len(partition(names, ids)) == 3
    assert partition(names[::-1], group_ids(names[::-1], table)) == partition(names, ids)  # order-free
    assert unmatched(names, table) == ["nowhere.wav"]
    with pytest.raises(EmosteerError, match="none of its 1 clips is among the 8 rows' clip names"):
        group_ids(names, [("zzz", "g")])


def test_groups_table_format(tmp_path: Path) -> None:
    path = tmp_path / "groups.csv"
    path.write_text("clip,group\nm1.wav,m1\n\na.wav,m1\n")
    assert read_groups(path) == [("m1.wav", "m1"), ("a.wav", "m1")]
    for text, message in (
        ("m1.wav,m1\n", "expected the header line 'clip,group' at index 0, got 'm1.wav,m1'"),
        ("clip,group\nm1.wav\n", "expected 2 columns \\(clip,group\\), got 1 at index 1"),
        ("clip,group\nm1.wav,\n", "field 'group': empty at index 1"),
        ("clip,group\n", "no rows after the header"),
    ):
        path.write_text(text)
        with pytest.raises(EmosteerError, match=message):
            read_groups(path)


def test_without_a_table_the_split_is_what_it_was() -> None:
    """The groups rule changed code, not results: the same splits as the segment rule alone gave
    (indices pinned from the code before groups tables)."""
    names, v, a = _segmented(10, 2, seed=3)
    assert make_split(names, v, a, seed=0)["val"] == make_split(names, v, a, seed=0, groups=None)["val"]
    assert make_split(names, v, a, mode="original")["val"] == sorted(original_permutation(20)[14:].tolist())


def test_original_mode_with_singleton_groups_is_the_original_cut() -> None:
    names, v, a = _segmented(30, 1)
    table = [(group_of(n), group_of(n)) for n in names]
    assert make_split(names, v, a, mode="original", groups=table) == make_split(names, v, a, mode="original")
