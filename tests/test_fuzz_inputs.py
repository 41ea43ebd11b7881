"""Property-based tests of the readers of user files: for any malformed input, a clean result or one
EmosteerError line -- never another exception. Example counts are bounded so the suite stays fast."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emosteer.data import emosoundscapes, features, split
from emosteer.errors import EmosteerError

# derandomize: the same examples on every run, so a failure reproduces and CI does not flicker
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
NAMES = st.lists(st.binary(max_size=6), min_size=0, max_size=5)
DTYPES = st.sampled_from(["float32", "float16", "float64", "int8", "uint16", "bool", "complex64"])


def _one_line_or_result(call) -> None:
    try:
        call()
    except EmosteerError as exc:
        assert "\n" not in str(exc)


FAULTS = (
    "none",
    "shape",
    "feature_dtype",
    "feature_values",
    "structure",
    "label_length",
    "label_values",
    "label_dtype",
    "names",
    "damage",
    "several",
)
WEIGHTED_FAULTS = FAULTS + ("damage",) * 4  # damaged bytes are where h5py's exceptions vary


@st.composite
def features_files(draw) -> dict:
    """A valid features file with one arbitrary fault (or none, or several), so every check of the
    reader is reached: shapes, dtypes, values, labels, names, missing datasets or groups in their
    place, damaged bytes or a cut."""
    fault = draw(st.sampled_from(WEIGHTED_FAULTS))
    on = {f: fault in (f, "several") and (fault != "several" or draw(st.booleans())) for f in FAULTS}
    n = draw(st.integers(1, 4))
    shape = (n, draw(st.integers(1, 5)), 64)
    if on["shape"]:
        shape = draw(st.sampled_from([(n, 0, 64), (0, 3, 64), (n, 3, 63), (n, 3), (n, 3, 64, 2), (n,)]))
    feature_dtype = (
        draw(st.sampled_from(["float16", "int8", "bool", "complex64"])) if on["feature_dtype"] else "float32"
    )
    fill = draw(FLOATS) if on["feature_values"] else draw(st.floats(-100, 100, width=32))

    def labels() -> tuple:
        size = draw(st.sampled_from([0, n - 1, n + 1])) if on["label_length"] else n
        values = st.one_of(FLOATS, st.floats(-1, 1, width=32)) if on["label_values"] else st.floats(-1, 1, width=32)
        dtype = draw(st.sampled_from(["float64", "int8", "bool", "complex64"])) if on["label_dtype"] else "float32"
        return ("labels", draw(st.lists(values, min_size=size, max_size=size)), dtype)

    names = (
        draw(NAMES)
        if on["names"]
        else [
            x.encode()
            for x in draw(st.lists(st.text("abc.wav", min_size=1, max_size=6), min_size=n, max_size=n, unique=True))
        ]
    )
    structure = draw(st.sampled_from(["feature", "arousal"])) if on["structure"] else None
    kind = draw(st.sampled_from(["group", "missing"]))
    return {
        "feature": (kind,) if structure == "feature" else ("array", shape, feature_dtype, fill),
        "valence": labels(),
        "arousal": (kind,) if structure == "arousal" else labels(),
        "audio_name": ("names", names, draw(st.booleans())),
        "damage": draw(
            st.one_of(
                st.tuples(st.just("bytes"), st.integers(0, 2047), st.binary(min_size=1, max_size=8)),
                st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
            )
        )
        if on["damage"]
        else None,
    }


def _write_parts(path: Path, parts: dict) -> None:
    with h5py.File(path, "w") as f:
        for name in ("feature", "valence", "arousal", "audio_name"):
            spec = parts[name]
            kind = spec[0]
            if kind == "group":
                f.create_group(name)
            elif kind == "array":
                _, shape, dtype, fill = spec
                with np.errstate(invalid="ignore", over="ignore"):
                    value = np.full(shape, fill if dtype.startswith(("float", "complex")) else 0)
                f.create_dataset(name, data=value.astype(dtype))
            elif kind == "labels":
                _, values, dtype = spec
                with np.errstate(invalid="ignore", over="ignore"):
                    f.create_dataset(name, data=np.asarray(values, dtype=np.float64).astype(dtype))
            elif kind == "names":
                names, variable = spec[1], spec[2]
                # HDF5 cannot store a NUL inside a variable-length string (h5py refuses to write
                # one): such names are written fixed-length, where a NUL is a byte like any other
                if variable and not any(b"\0" in n for n in names):  # variable-length, as other tools write
                    f.create_dataset(
                        name, data=np.array(names, dtype=object), dtype=h5py.string_dtype("ascii"), shape=(len(names),)
                    )
                else:
                    f.create_dataset(name, data=np.array(names, dtype="S8"))
    damage = parts["damage"]
    if damage is None:
        return
    data = bytearray(path.read_bytes())
    if damage[0] == "bytes":
        _, at, patch = damage
        at = at % len(data)
        data[at : at + len(patch)] = patch
    else:
        data = data[: int(damage[1] * len(data))]
    path.write_bytes(bytes(data))


@FUZZ
@given(features_files())
def test_features_readers_never_raise_anything_but_emosteer_error(parts: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.h5"
        _write_parts(path, parts)
        _one_line_or_result(lambda: features.validate_features(path))
        _one_line_or_result(lambda: features.read_labels(path))
        _one_line_or_result(lambda: features.read_features(path, [0]))
        _one_line_or_result(lambda: list(features.iter_feature_blocks(path)))


def _valid_features(path: Path) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["feature"] = rng.standard_normal((3, 20, 64)).astype(np.float32)
        f["valence"] = np.array([0.1, -0.2, 0.3], np.float32)
        f["arousal"] = np.array([0.0, 0.5, -0.5], np.float32)
        f["audio_name"] = np.array([b"a.wav", b"b.wav", b"c.wav"])


def test_every_damaged_header_word_is_a_result_or_one_line() -> None:
    """Deterministic sweep: overwrite each 8-byte word of the metadata with 0xff. h5py answers
    with OSError, RuntimeError, KeyError or ValueError depending on the word."""
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.h5"
        _valid_features(good)
        base = good.read_bytes()
        bad = Path(tmp) / "bad.h5"
        for at in range(0, min(len(base), 2048), 8):
            data = bytearray(base)
            data[at : at + 8] = b"\xff" * 8
            bad.write_bytes(bytes(data))
            _one_line_or_result(lambda: features.validate_features(bad))
            _one_line_or_result(lambda: features.read_features(bad, [2, 0]))


# --- ratings CSV ------------------------------------------------------------------------------

CELLS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "0.5",
            "-1",
            "1.0001",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "",
            " ",
            '"',
            '"a,b"',
            "\x00",
            "\ufeff",
            "0x1",
            "1_0",
            "clip.wav",
            "clip.wav",
        ]
    ),
)
LINES = st.lists(st.lists(CELLS, min_size=0, max_size=4).map(",".join), max_size=6)


@FUZZ
@given(st.one_of(LINES.map(lambda ls: "\n".join(ls).encode("utf-8")), st.binary(max_size=200)))
def test_ratings_reader_never_raises_anything_but_emosteer_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Valence.csv"
        path.write_bytes(raw)
        try:
            ratings = emosoundscapes.read_ratings(path)
        except EmosteerError as exc:
            assert "\n" not in str(exc)
            return
        assert ratings and all(-1.0 <= v <= 1.0 for v in ratings.values())
        assert all(name and name == name.strip() for name in ratings)


# --- split JSON ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 8) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.sampled_from(["n", "train", "dev", "val", "x"]), inner, max_size=5)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    st.one_of(
        JSON.map(lambda doc: json.dumps(doc).encode()),
        st.fixed_dictionaries(
            {
                "train": st.lists(st.integers(-1, 6), max_size=6),
                "dev": st.lists(st.integers(-1, 6), max_size=3),
                "val": st.lists(st.integers(-1, 6), max_size=3),
            }
        ).map(lambda doc: json.dumps(doc).encode()),
        st.binary(max_size=64),
    )
)
def test_split_reader_never_raises_anything_but_emosteer_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.json"
        path.write_bytes(raw)
        try:
            parts = split.read_split(path, 6)
        except EmosteerError as exc:
            assert "\n" not in str(exc)
            return
        assert sorted(i for part in parts.values() for i in part) == list(range(6))


def test_split_reader_deeply_nested_or_a_folder_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _one_line_or_result(lambda: split.read_split(deep, 6))
    (tmp_path / "folder.json").mkdir()
    _one_line_or_result(lambda: split.read_split(tmp_path / "folder.json", 6))
