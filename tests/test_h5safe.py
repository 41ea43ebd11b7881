"""The guarded HDF5 reader: no byte from outside the file, no declared size trusted, through every
reader and command that opens an HDF5 file (features, activations, signal tables, predict,
featurize). Each case is one the issue (#24) found open."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from emosteer import h5safe
from emosteer.commands import cli
from emosteer.data import features
from emosteer.errors import EmosteerError
from emosteer.model import activations
from emosteer.model.checkpoints import save_model
from emosteer.model.lrm import EmotionLRM
from emosteer.steering import signals

N, T = 4, 16
SENTINEL = b"\xde\xad\xbe\xef\x5e\x17\x1e\x1a"  # planted in a sibling file; must never be read


def _labels(f: h5py.File, n: int = N) -> None:
    f["valence"] = np.linspace(-0.5, 0.5, n).astype(np.float32)
    f["arousal"] = np.zeros(n, np.float32)
    f["audio_name"] = np.array([f"c{i}.wav".encode() for i in range(n)])


def _values(n: int = N, frames: int = T) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, frames, 64)).astype(np.float32)


def _sentinel_file(path: Path, size: int = N * T * 64 * 4) -> Path:
    path.write_bytes(SENTINEL * (size // len(SENTINEL) + 1))
    return path


def _features(path: Path, make: Callable[[h5py.File], None]) -> Path:
    """A features file whose `feature` dataset `make` creates; valid labels and names."""
    with h5py.File(path, "w") as f:
        make(f)
        _labels(f)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FEATURE_READERS = {
    "read_info": features.read_info,
    "validate_features": features.validate_features,
    "read_labels": features.read_labels,
    "read_features": lambda p: features.read_features(p, [0]),
    "iter_feature_blocks": lambda p: list(features.iter_feature_blocks(p)),
}


def _refused_by_every_reader(path: Path, message: str) -> None:
    for name, reader in FEATURE_READERS.items():
        with pytest.raises(EmosteerError) as info:
            reader(path)
        text = str(info.value)
        assert "\n" not in text and message in text, (name, text)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_model(EmotionLRM().eval(), path, {"note": "test"})
    return path


def _cli(argv: list[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


# --- reading outside the file -----------------------------------------------------------------


def test_external_raw_storage_is_refused_and_its_target_never_read(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _sentinel_file(tmp_path / "secret.bin")
    src = _features(
        tmp_path / "ext.h5",
        lambda f: f.create_dataset("feature", (N, T, 64), "f4", external=[(str(target), 0, N * T * 64 * 4)]),
    )
    _refused_by_every_reader(src, f"dataset 'feature': external raw storage in '{target}'")
    for argv in (
        ["featurize", "--features-h5", src, "--out", tmp_path / "copy.h5", "--no-progress"],
        ["predict", "--checkpoint", checkpoint, "--features", src, "--out", tmp_path / "p.npz"],
    ):
        code, err = _cli(argv, capsys)
        assert code == 2 and len(err) == 1 and "refusing to read outside the file" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext.h5", "secret.bin"]


def test_external_storage_pointing_at_a_checkpoint_is_refused(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: exit 0 with valence of about 5e32 (the checkpoint's bytes read as log-mels)."""
    src = _features(
        tmp_path / "ext.h5",
        lambda f: f.create_dataset("feature", (N, T, 64), "f4", external=[(str(checkpoint), 0, N * T * 64 * 4)]),
    )
    code, err = _cli(["predict", "--checkpoint", checkpoint, "--features", src, "--out", tmp_path / "p.npz"], capsys)
    assert code == 2 and len(err) == 1 and "external raw storage" in err[0]
    assert not (tmp_path / "p.npz").exists()


def test_external_link_is_refused(tmp_path: Path) -> None:
    real = _features(tmp_path / "real.h5", lambda f: f.create_dataset("feature", data=_values()))
    src = _features(tmp_path / "link.h5", lambda f: f.__setitem__("feature", h5py.ExternalLink("real.h5", "/feature")))
    _refused_by_every_reader(
        src, "'feature' is an external link to 'real.h5':'/feature'; refusing to read outside the file"
    )
    # anywhere in the file, not only where a reader looks
    with h5py.File(src, "a") as f:
        del f["feature"]
        f["feature"] = _values()
        f.create_group("deep")["x"] = h5py.ExternalLink("real.h5", "/valence")
    _refused_by_every_reader(src, "'deep/x' is an external link")
    assert features.read_info(real).n == N


def test_predict_cannot_overwrite_the_file_an_input_links_to(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `predict --features extlink.h5 --out featsrc.h5` exited 0 and replaced featsrc.h5
    (the file holding the linked data) with a zip."""
    src = _features(tmp_path / "featsrc.h5", lambda f: f.create_dataset("feature", data=_values()))
    link = _features(
        tmp_path / "extlink.h5", lambda f: f.__setitem__("feature", h5py.ExternalLink("featsrc.h5", "/feature"))
    )
    before = _sha(src)
    code, err = _cli(["predict", "--checkpoint", checkpoint, "--features", link, "--out", src], capsys)
    assert code == 2 and len(err) == 1 and "external link" in err[0]
    assert _sha(src) == before


def test_virtual_datasets_are_refused(tmp_path: Path) -> None:
    """Before: a virtual dataset whose source is missing read as zeros, exit 0."""
    for source in ("missing.h5", "real.h5"):
        _features(tmp_path / "real.h5", lambda f: f.create_dataset("feature", data=_values()))

        def vds(f: h5py.File, source: str = source) -> None:
            layout = h5py.VirtualLayout((N, T, 64), "f4")
            layout[:] = h5py.VirtualSource(source, "feature", (N, T, 64))
            f.create_virtual_dataset("feature", layout, fillvalue=0)

        path = _features(tmp_path / "vds.h5", vds)
        _refused_by_every_reader(path, f"dataset 'feature': a virtual dataset (values from '{source}':'feature')")


def test_soft_links_inside_the_file_are_followed(tmp_path: Path) -> None:
    x = _values()

    def soft(f: h5py.File) -> None:
        f.create_group("data")["feature"] = x
        f["feature"] = h5py.SoftLink("/data/feature")

    path = _features(tmp_path / "soft.h5", soft)
    np.testing.assert_array_equal(features.read_features(path, range(N)), x)


def test_activations_and_signal_tables_are_read_through_the_guard(tmp_path: Path) -> None:
    target = _sentinel_file(tmp_path / "secret.bin", 4 * 128 * 4)
    acts = tmp_path / "acts.h5"
    with h5py.File(acts, "w") as f:
        f.attrs["forward_passes"], f.attrs["activations_pass"] = 2, 1
        f["audio_name"] = np.array([b"a", b"b", b"c", b"d"])
        for key in ("valence", "arousal", "pred_valence", "pred_arousal"):
            f[key] = np.zeros(4, np.float32)
        f["arousal_128d"] = np.zeros((4, 128), np.float32)
        f.create_dataset("valence_128d", (4, 128), "f4", external=[(str(target), 0, 4 * 128 * 4)])
    with pytest.raises(EmosteerError, match="dataset 'valence_128d': external raw storage"):
        activations.read(acts)
    table = tmp_path / "table.h5"
    with h5py.File(table, "w") as f:
        f["valence"] = h5py.ExternalLink("secret.h5", "/v")
    with pytest.raises(EmosteerError, match="'valence' is an external link"):
        signals.read_h5(table)


# --- declared sizes ---------------------------------------------------------------------------


def _run_capped(argv: list[str | Path], cap_bytes: int = 3 * 2**30) -> subprocess.CompletedProcess:
    """`emosteer ARGV` in a child process whose address space is capped, so a reader that trusts
    a declared size fails there (MemoryError) instead of taking the machine down."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    return subprocess.run(
        [sys.executable, "-m", "emosteer.commands.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_rows_the_file_does_not_hold_are_refused_before_reading(tmp_path: Path, checkpoint: Path) -> None:
    """Before: a 2 kB file declaring 10^9 rows made the reader allocate 3.7 GiB per label."""
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("feature", (10**9, T, 64), "f4", chunks=(1, T, 64))
        for key in ("valence", "arousal"):
            f.create_dataset(key, (10**9,), "f4", chunks=(4096,))
        f.create_dataset("audio_name", (10**9,), "S8", chunks=(4096,))
    assert path.stat().st_size < 10_000
    proc = _run_capped(["predict", "--checkpoint", checkpoint, "--features", path, "--out", tmp_path / "p.npz"])
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert re.search(
        r"dataset '\w+': shape \(1000000000,( 16, 64)?\): only 0 of its \d+ chunks are "
        r"stored \(the rest would read as the fill value\)",
        err[0],
    ), err[0]
    _refused_by_every_reader(path, "chunks are stored")


def test_a_row_larger_than_the_file_is_refused_before_reading(tmp_path: Path, checkpoint: Path) -> None:
    """Before: shape (32, 10^8, 64) allocated 23.8 GiB for one row (MemoryError traceback under a cap)."""
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("feature", (32, 10**8, 64), "f4")  # contiguous, never written
        _labels(f, 32)
    proc = _run_capped(["predict", "--checkpoint", checkpoint, "--features", path, "--out", tmp_path / "p.npz"])
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert "dataset 'feature': shape (32, 100000000, 64) never written" in err[0]


def test_partly_written_chunks_are_refused(tmp_path: Path) -> None:
    def partial(f: h5py.File) -> None:
        ds = f.create_dataset("feature", (N, T, 64), "f4", chunks=(1, T, 64))
        ds[:2] = _values()[:2]

    _refused_by_every_reader(_features(tmp_path / "p.h5", partial), "only 2 of its 4 chunks are stored")


def test_highly_compressible_gzip_and_lzf_files_load(tmp_path: Path) -> None:
    """Constant log-mels (e.g. padding) in 1 MiB chunks: gzip-9 stores them at about 1000:1, lzf at
    about 87:1; both are within their format's limit, so both load, value for value."""
    n, frames = 64, 64  # 64 x 64 x 64 float32 = 1 MiB, one chunk
    x = np.full((n, frames, 64), -3.25, np.float32)
    for opts in ({"compression": "gzip", "compression_opts": 9, "shuffle": True}, {"compression": "lzf"}):
        path = tmp_path / "c.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("feature", data=x, chunks=(n, frames, 64), **opts)
            _labels(f, n)
        with h5py.File(path) as f:
            ratio = x.nbytes / f["feature"].id.get_storage_size()
        assert ratio > (500 if "shuffle" in opts else 50)
        np.testing.assert_array_equal(features.read_features(path, range(n)), x)


def test_filters_without_a_known_bound_are_refused(tmp_path: Path) -> None:
    path = _features(
        tmp_path / "so.h5", lambda f: f.create_dataset("feature", data=_values(), scaleoffset=4, chunks=(1, T, 64))
    )
    _refused_by_every_reader(path, "dataset 'feature': filter 'scaleoffset' (id 6) is not supported")


def test_a_chunk_stored_larger_than_any_encoding_of_it_is_refused(tmp_path: Path) -> None:
    """A deflate stream is inflated whole, whatever the chunk's size (measured: 400 MB from a 1 KiB
    chunk); a stored chunk much larger than its declared bytes can only be such a stream."""
    bomb = zlib.compress(b"\0" * (8 << 20), 9)  # 8 MiB of zeros as one chunk of 1 KiB declared

    def craft(f: h5py.File) -> None:
        ds = f.create_dataset("feature", (N, T, 64), "f4", chunks=(1, 4, 64), compression="gzip")
        for i in range(N):
            for j in range(T // 4):
                ds.id.write_direct_chunk((i, 4 * j, 0), bomb, 0)

    _refused_by_every_reader(
        _features(tmp_path / "bomb.h5", craft), f"a compressed chunk of {len(bomb)} bytes is larger than any encoding"
    )


def test_a_compressed_chunk_that_could_expand_past_the_budget_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _features(
        tmp_path / "gz.h5", lambda f: f.create_dataset("feature", data=_values(), chunks=(N, T, 64), compression="gzip")
    )
    features.read_info(path)
    monkeypatch.setattr(h5safe, "READ_BUDGET", 2**20)
    _refused_by_every_reader(path, "may expand to")


def test_one_read_above_the_budget_is_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _features(tmp_path / "f.h5", lambda f: f.create_dataset("feature", data=_values()))
    monkeypatch.setattr(h5safe, "READ_BUDGET", 1000)
    with pytest.raises(EmosteerError, match=r"dataset 'feature': one read of .* is more than the 1000 bytes"):
        list(features.iter_feature_blocks(path))


# --- property: any layout, link, shape and dtype: a correct result or one line ------------------

import contextlib  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from emosteer.model.checkpoints import load_model  # noqa: E402
from emosteer.model.inference import predict as model_predict  # noqa: E402

# Layouts that keep every byte inside the file and every value stored, and those that do not.
GOOD = ("contiguous", "chunked", "gzip", "gzip+shuffle", "lzf", "fletcher32", "compact", "soft link")
BAD = (
    "external storage",
    "external link",
    "virtual",
    "virtual, source missing",
    "unsupported filter",
    "never written",
    "chunks missing",
    "rows the file does not hold",
)
FLOATS = ("float32", "float64", "float16")


@st.composite
def hdf5_cases(draw) -> dict:
    # weighted so that about half the files are valid: each fault below is one way to be refused
    return {
        "feature": draw(st.sampled_from(GOOD * 2 + BAD)),
        "labels": draw(st.sampled_from(("contiguous", "chunked", "gzip") * 3 + ("external storage", "external link"))),
        "dtype": draw(st.sampled_from(FLOATS * 3 + ("int16", "complex64"))),
        "n": draw(st.integers(1, 4)),
        "frames": draw(st.integers(16, 20)),
        "stray_link": draw(st.sampled_from((False,) * 5 + (True,))),  # in a group no reader looks at
        "out_is_linked_file": draw(st.booleans()),
    }


def _create(f: h5py.File, name: str, data: np.ndarray, layout: str, sibling: Path, secret: Path) -> None:
    """Dataset `name` holding `data` in `layout`; the BAD layouts point at `sibling`/`secret`."""
    chunks = (1, *data.shape[1:])
    if layout == "contiguous":
        f.create_dataset(name, data=data)
    elif layout == "chunked":
        f.create_dataset(name, data=data, chunks=chunks)
    elif layout in ("gzip", "gzip+shuffle"):
        f.create_dataset(name, data=data, chunks=chunks, compression="gzip", shuffle=layout.endswith("shuffle"))
    elif layout == "lzf":
        f.create_dataset(name, data=data, chunks=chunks, compression="lzf")
    elif layout == "fletcher32":
        f.create_dataset(name, data=data, chunks=chunks, fletcher32=True)
    elif layout == "compact":  # in the object header: at most 64 KiB
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT if data.nbytes < 60_000 else h5py.h5d.CONTIGUOUS)
        f.create_dataset(name, data=data, dcpl=dcpl)
    elif layout == "soft link":
        f.require_group("inner").create_dataset(name, data=data)
        f[name] = h5py.SoftLink(f"/inner/{name}")
    elif layout == "external storage":
        f.create_dataset(name, data.shape, data.dtype, external=[(str(secret), 0, data.nbytes)])
    elif layout == "external link":
        f[name] = h5py.ExternalLink(sibling.name, f"/{name}")
    elif layout.startswith("virtual"):
        vds = h5py.VirtualLayout(data.shape, data.dtype)
        source = sibling.name if layout == "virtual" else "missing.h5"
        vds[:] = h5py.VirtualSource(source, name, data.shape)
        f.create_virtual_dataset(name, vds)
    elif layout == "unsupported filter":
        wide = data if data.dtype in (np.float32, np.float64) else data.real.astype(np.float32)
        f.create_dataset(name, data=wide, chunks=chunks, scaleoffset=2)
    elif layout == "never written":
        f.create_dataset(name, data.shape, data.dtype)
    elif layout == "chunks missing":
        ds = f.create_dataset(name, (data.shape[0] + 1, *data.shape[1:]), data.dtype, chunks=chunks)
        ds[: data.shape[0]] = data
    elif layout == "rows the file does not hold":
        f.create_dataset(name, (10**9, *data.shape[1:]), data.dtype, chunks=chunks)
    else:
        raise AssertionError(layout)


def _sha_all(folder: Path) -> dict[str, str]:
    return {p.name: _sha(p) for p in sorted(folder.iterdir())}


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(hdf5_cases())
def test_any_hdf5_layout_is_a_correct_result_or_one_line(checkpoint: Path, case: dict) -> None:
    """Exit 0 with the values that were written, or exit 2 with one line; never a traceback, never
    a byte of the sibling files in an output, never an input changed."""
    event(f"feature {case['feature']}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = folder / "in"
        inputs.mkdir()
        n, frames = case["n"], case["frames"]
        rng = np.random.default_rng(n * 100 + frames)
        x = rng.uniform(-40, 0, (n, frames, 64)).astype(case["dtype"])
        labels = np.linspace(-0.5, 0.5, n).astype(np.float32)
        secret = _sentinel_file(inputs / "secret.bin", max(x.nbytes, 4 * n))
        sibling = inputs / "sibling.h5"
        with h5py.File(sibling, "w") as f:  # what links point into: sentinel values
            f["feature"] = np.frombuffer(secret.read_bytes()[: x.nbytes], x.dtype).reshape(x.shape)
            for key in ("valence", "arousal"):
                f[key] = np.frombuffer(secret.read_bytes()[: 4 * n], np.float32)
        src = inputs / "features.h5"
        with h5py.File(src, "w") as f:
            _create(f, "feature", x, case["feature"], sibling, secret)
            _create(f, "valence", labels, case["labels"], sibling, secret)
            f["arousal"] = -labels
            f["audio_name"] = np.array([f"c{i}.wav".encode() for i in range(n)])
            if case["stray_link"]:
                f.create_group("notes")["elsewhere"] = h5py.ExternalLink(sibling.name, "/feature")
        before = _sha_all(inputs)
        outputs = folder / "out"
        outputs.mkdir()
        npz = sibling if case["out_is_linked_file"] else outputs / "p.npz"

        results = {}
        for command, argv in (
            ("featurize", ["featurize", "--features-h5", src, "--out", outputs / "copy.h5", "--no-progress"]),
            ("predict", ["predict", "--checkpoint", checkpoint, "--features", src, "--out", npz]),
        ):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main([str(a) for a in argv])
            results[command] = (code, err.getvalue())
            assert code in (0, 2), (command, code, err.getvalue())
            if code == 2:
                assert err.getvalue().count("\n") == 1, err.getvalue()

        event(
            "valid"
            if case["feature"] in GOOD and case["labels"] in GOOD and not case["stray_link"] and case["dtype"] in FLOATS
            else "refused"
        )
        reads_outside = (
            case["feature"] in BAD or case["labels"] in ("external storage", "external link") or case["stray_link"]
        )
        good = not reads_outside and case["dtype"] in FLOATS
        assert results["featurize"][0] == (0 if good else 2), (case, results["featurize"])
        if good:
            with h5py.File(outputs / "copy.h5") as f:
                np.testing.assert_array_equal(f["feature"][()], x.astype(np.float32))
                np.testing.assert_array_equal(f["valence"][()], labels)
        if npz != sibling:
            assert results["predict"][0] == (0 if good else 2), (case, results["predict"])
        if good and npz != sibling:
            expected = model_predict(load_model(checkpoint), x.astype(np.float32), batch_size=32)
            with np.load(npz) as got:
                np.testing.assert_allclose(got["valence"], expected["valence"], rtol=1e-5, atol=1e-6)
        for path in outputs.iterdir():
            assert SENTINEL not in path.read_bytes(), path
        after = _sha_all(inputs)
        if npz == sibling and not reads_outside:  # the sibling is not an input then: it may be replaced
            before.pop("sibling.h5"), after.pop("sibling.h5")
        assert after == before
