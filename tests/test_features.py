"""Features-HDF5 round trip, lazy row reads, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from emosteer.data import features
from emosteer.errors import EmosteerError

T = 7


def _rows(n: int, seed: int = 0) -> list[features.Row]:
    rng = np.random.default_rng(seed)
    return [
        (
            f"clip{i}.wav",
            rng.standard_normal((T, 64)).astype(np.float32),
            float(rng.uniform(-1, 1)),
            float(rng.uniform(-1, 1)),
        )
        for i in range(n)
    ]


def _write_raw(path: Path, n: int = 6, frames: int = T, mels: int = 64, **override: object) -> Path:
    """A hand-made file with optional bad datasets (None drops a dataset)."""
    rng = np.random.default_rng(1)
    data: dict[str, object] = {
        "feature": rng.standard_normal((n, frames, mels)).astype(np.float32),
        "valence": rng.uniform(-1, 1, n).astype(np.float32),
        "arousal": rng.uniform(-1, 1, n).astype(np.float32),
        "audio_name": np.array([f"c{i}".encode() for i in range(n)]),
    }
    data.update(override)
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            if value is not None:
                f.create_dataset(key, data=value)
    return path


def test_round_trip(tmp_path: Path) -> None:
    rows = _rows(5)
    out = tmp_path / "f.h5"
    info = features.write_features(out, 5, T, iter(rows), {"source": "test", "frames": T})
    assert info.n == 5 and info.frames == T and info.attrs["source"] == "test"
    assert features.validate_features(out) == info
    names, v, a = features.read_labels(out)
    assert names == [r[0] for r in rows]
    np.testing.assert_array_equal(v, np.array([r[2] for r in rows], dtype=np.float32))
    np.testing.assert_array_equal(a, np.array([r[3] for r in rows], dtype=np.float32))
    got = features.read_features(out, [4, 0, 2, 2])
    np.testing.assert_array_equal(got, np.stack([rows[i][1] for i in [4, 0, 2, 2]]))
    assert features.read_features(out, np.arange(5)).shape == (5, T, 64)
    assert features.read_features(out, []).shape == (0, T, 64)
    assert [p.name for p in tmp_path.iterdir()] == ["f.h5"]


def test_read_features_index_out_of_range(tmp_path: Path) -> None:
    out = tmp_path / "f.h5"
    features.write_features(out, 3, T, iter(_rows(3)), {})
    with pytest.raises(EmosteerError, match=r"row 3 out of range \[0, 3\) at index 1"):
        features.read_features(out, [0, 3])


def test_write_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "f.h5"

    def rows() -> object:
        yield from _rows(2)
        raise EmosteerError("boom")

    with pytest.raises(EmosteerError, match="boom"):
        features.write_features(out, 3, T, rows(), {})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EmosteerError, match="1 rows written, 3 announced"):
        features.write_features(out, 3, T, iter(_rows(1)), {})
    with pytest.raises(EmosteerError, match="row shape"):
        features.write_features(out, 1, T + 1, iter(_rows(1)), {})
    bad = _rows(2)
    bad[1] = (bad[1][0], np.full((T, 64), np.nan, dtype=np.float32), 0.0, 0.0)
    with pytest.raises(EmosteerError, match=r"failed validation.*NaN or inf at index 1"):
        features.write_features(out, 2, T, iter(bad), {})
    dup = _rows(2)
    dup[1] = (dup[0][0],) + dup[1][1:]
    with pytest.raises(EmosteerError, match="duplicate name 'clip0.wav' at index 1"):
        features.write_features(out, 2, T, iter(dup), {})
    assert list(tmp_path.iterdir()) == []


def _nan_feature() -> np.ndarray:
    x = np.zeros((6, T, 64), dtype=np.float32)
    x[4, 3, 2] = np.inf
    return x


BAD_FILES = [
    ({"valence": None}, r"dataset 'valence': missing"),
    ({"audio_name": np.array([b"a", b"b", b"c"])}, r"dataset 'audio_name': length 3 != 6 .* at index 3"),
    ({"feature": np.zeros((6, T, 63), dtype=np.float32)}, r"dataset 'feature': 63 mel bins, expected 64"),
    ({"feature": _nan_feature()}, r"dataset 'feature': NaN or inf at index 4"),
    (
        {"arousal": np.array([0, 0, np.nan, 0, 0, 0], dtype=np.float32)},
        r"dataset 'arousal': nan \(not finite\) at index 2",
    ),
    (
        {"valence": np.array([0, 0, 0, 1.5, 0, -2], dtype=np.float32)},
        r"dataset 'valence': 1.5 outside \[-1, 1\] at index 3",
    ),
    (
        {"audio_name": np.array([b"a", b"b", b"c", b"b", b"e", b"f"])},
        r"dataset 'audio_name': duplicate name 'b' at index 3",
    ),
]


@pytest.mark.parametrize("override,message", BAD_FILES)
def test_each_bad_file_names_file_dataset_and_index(tmp_path: Path, override: dict, message: str) -> None:
    path = _write_raw(tmp_path / "bad.h5", **override)
    with pytest.raises(EmosteerError, match=message) as err:
        features.validate_features(path)
    assert str(err.value).startswith(str(path))


def test_empty_truncated_and_non_hdf5(tmp_path: Path) -> None:
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(EmosteerError, match="empty file"):
        features.validate_features(empty)
    text = tmp_path / "text.h5"
    text.write_text("feature,valence\n1,2\n")
    with pytest.raises(EmosteerError, match="not an HDF5 file"):
        features.read_labels(text)
    good = _write_raw(tmp_path / "good.h5", n=40)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(EmosteerError, match=r"truncated\.h5: .*(truncated|corrupt|not an HDF5)"):
        features.validate_features(truncated)
    with pytest.raises(EmosteerError, match="no such file"):
        features.validate_features(tmp_path / "missing.h5")


def test_scan_is_blockwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny scan budget the NaN is still found, one row per block."""
    monkeypatch.setattr(features, "SCAN_BYTES", 1)
    path = _write_raw(tmp_path / "bad.h5", feature=_nan_feature())
    with pytest.raises(EmosteerError, match="NaN or inf at index 4"):
        features.validate_features(path)


def test_read_info_checks_structure_but_reads_no_feature_value(tmp_path: Path) -> None:
    """What `predict --features` needs before streaming: shape and attributes, not a full pass."""
    path = _write_raw(tmp_path / "inf.h5", feature=_nan_feature())
    with h5py.File(path, "a") as f:
        f.attrs["frontend"] = "panns"
    info = features.read_info(path)
    assert (info.n, info.frames, info.attrs["frontend"]) == (6, T, "panns")
    with pytest.raises(EmosteerError, match=r"dataset 'feature': NaN or inf at index 4"):
        features.validate_features(path)
    with pytest.raises(EmosteerError, match=r"dataset 'valence': missing"):
        features.read_info(_write_raw(tmp_path / "bad.h5", valence=None))
