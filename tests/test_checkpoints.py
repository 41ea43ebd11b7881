"""Checkpoints: ours reload bit-exactly; the original's (both namings) and PANNs load; bad ones refused."""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emosteer.errors import EmosteerError
from emosteer.model.checkpoints import load_checkpoint, load_model, load_panns_backbone, save_model
from emosteer.model.lrm import EmotionLRM

OLD_TO_FINAL = re.compile(r"^lrm\.visual_system_base_conv_block\d_modulation\.")


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of the original layout filled with random values (buffers included)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in EmotionLRM().state_dict().items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=g)
            if key.endswith("running_var"):
                state[key] = state[key].abs() + 0.5
        else:
            state[key] = torch.tensor(7)
    return state


def _assert_state_equal(model: EmotionLRM, state: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert set(got) == set(state)
    for key, value in state.items():
        assert torch.equal(got[key], value), key


def _panns_state(seed: int = 1) -> dict[str, torch.Tensor]:
    prefix = "visual_system.base."
    return {k[len(prefix) :]: v for k, v in _random_state(seed).items() if k.startswith(prefix)}


def test_ours_reloads_bit_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=3, freeze_backbone=False, train_fc1=True)
    model.load_state_dict(_random_state(3))
    path = tmp_path / "model.pt"
    save_model(model, path, {"epoch": 4, "dev_r": [0.5, 0.25], "note": None})
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left behind
    loaded = load_model(path)
    _assert_state_equal(loaded, model.state_dict())
    assert loaded.config() == model.config()
    assert not loaded.training
    x = torch.randn(2, 20, 64)
    model.eval()
    with torch.no_grad():
        for key, value in model(x).items():
            assert torch.equal(value, loaded(x)[key]), key
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "emosteer/1" and payload["meta"]["epoch"] == 4


def test_meta_must_be_plain_data(tmp_path: Path) -> None:
    with pytest.raises(EmosteerError, match=r"meta\.when is a PosixPath"):
        save_model(EmotionLRM(), tmp_path / "m.pt", {"when": tmp_path})
    assert list(tmp_path.iterdir()) == []


def test_original_checkpoint_final_naming_loads(tmp_path: Path) -> None:
    state = _random_state()
    path = tmp_path / "best_model.pth"
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], amsgrad=True).state_dict()
    torch.save(
        {"iteration": 1200, "model": state, "optimizer": opt, "best_val_pearson": np.float64(0.74)},
        path,
    )
    _assert_state_equal(load_model(path), state)


def test_load_checkpoint_gives_the_meta_and_none_for_the_original(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pt"
    save_model(EmotionLRM(), ours, {"frontend": "original", "frames": 64, "seed": 2})
    model, meta = load_checkpoint(ours)
    assert isinstance(model, EmotionLRM) and not model.training
    assert meta == {"frontend": "original", "frames": 64, "seed": 2}
    original = tmp_path / "best_model.pth"
    torch.save({"iteration": 3, "model": _random_state()}, original)
    model, meta = load_checkpoint(original)
    _assert_state_equal(model, _random_state())
    assert meta == {}


def test_original_checkpoint_old_naming_loads(tmp_path: Path) -> None:
    state = _random_state(4)
    old = {OLD_TO_FINAL.sub("lrm.", k): v for k, v in state.items()}
    assert "lrm.from_affective_valence_128d_to_visual_system_base_conv_block4.neg_scale" in old
    path = tmp_path / "old.pth"
    torch.save({"iteration": 5, "model": old}, path)
    _assert_state_equal(load_model(path), state)


def test_original_bare_state_dict_loads(tmp_path: Path) -> None:
    state = _random_state(5)
    path = tmp_path / "bare.pth"
    torch.save(state, path)
    _assert_state_equal(load_model(path), state)


def test_panns_checkpoint_into_backbone(tmp_path: Path) -> None:
    panns = _panns_state()
    path = tmp_path / "Cnn6_mAP=0.343.pth"
    torch.save({"model": panns, "iteration": 1}, path)
    model = EmotionLRM()
    heads_before = {k: v.clone() for k, v in model.affective_valence.state_dict().items()}
    load_panns_backbone(model, path)
    base = model.visual_system.base.state_dict()
    for key, value in panns.items():
        if key.startswith(("spectrogram_extractor.", "logmel_extractor.")):
            assert torch.count_nonzero(base[key]) == 0, key  # ignored
        else:
            assert torch.equal(base[key], value), key
    for key, value in model.affective_valence.state_dict().items():
        assert torch.equal(value, heads_before[key])
    # loading keeps the freeze: backbone still frozen, frozen BNs still in eval under train()
    assert not model.visual_system.base.conv_block1.conv1.weight.requires_grad
    assert not model.train().visual_system.base.conv_block2.bn1.training


def test_panns_checkpoint_with_missing_key_refused(tmp_path: Path) -> None:
    panns = _panns_state()
    del panns["conv_block3.bn1.running_var"]
    path = tmp_path / "panns.pth"
    torch.save({"model": panns}, path)
    with pytest.raises(EmosteerError, match=r"1 missing key\(s\): conv_block3\.bn1\.running_var"):
        load_panns_backbone(EmotionLRM(), path)


def test_panns_only_refused_by_load_model(tmp_path: Path) -> None:
    path = tmp_path / "panns.pth"
    torch.save({"model": _panns_state()}, path)
    with pytest.raises(EmosteerError, match=r"heads would be untrained.*model\.panns_checkpoint"):
        load_model(path)


def test_missing_unexpected_and_wrong_shape_keys_named(tmp_path: Path) -> None:
    state = _random_state()
    del state["affective_arousal.4.bias"]
    state["lrm.extra.weight"] = torch.zeros(2)
    state["affective_valence.2.weight"] = torch.zeros(128, 255)
    path = tmp_path / "bad.pth"
    torch.save({"model": state}, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "1 missing key(s): affective_arousal.4.bias" in message
    assert "1 unexpected key(s): lrm.extra.weight" in message
    assert "affective_valence.2.weight (128, 255) != (128, 256)" in message


class Payload:
    """A class that a weights-only load must not construct."""


def test_arbitrary_objects_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": _random_state(), "extra": Payload()}, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: refused: the pickle needs test_checkpoints.Payload, which is not on the allow-list "
        "of plain data, and building it could run arbitrary code; save plain tensors/dicts"
    )


class RunsACommand:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_blocked_global_is_named_with_the_reason(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": _random_state(), "hook": RunsACommand()}, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: refused: the pickle calls {os.system.__module__}.system, and module "
        f"{os.system.__module__} is blocked because it can run commands or code on load; "
        "checkpoints must hold only tensors and plain data"
    )
    assert "must never run" not in capfd.readouterr().out


@pytest.mark.parametrize("key", ["affective_valence.2.weight", "visual_system.base.bn0.running_var"])
def test_a_non_finite_weight_is_refused_at_load_naming_the_key(tmp_path: Path, key: str) -> None:
    state = _random_state()
    state[key].view(-1)[3] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save({"model": state}, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == f"{path}: weight '{key}' holds NaN or inf; refusing it"


def test_a_non_finite_weight_is_refused_at_save(tmp_path: Path) -> None:
    model = EmotionLRM()
    with torch.no_grad():
        model.affective_arousal[4].bias.fill_(float("inf"))
    with pytest.raises(EmosteerError) as info:
        save_model(model, tmp_path / "m.pt", {})
    assert str(info.value) == (
        f"save_model: {tmp_path / 'm.pt'}: weight 'affective_arousal.4.bias' holds NaN or inf; refusing it"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "field,value,kind,expected",
    [
        ("forward_passes", "two", "str", "int"),
        ("forward_passes", True, "bool", "int"),
        ("freeze_backbone", 1, "int", "bool"),
    ],
)
def test_a_config_of_the_wrong_type_is_one_line(tmp_path: Path, field: str, value, kind: str, expected: str) -> None:
    path = tmp_path / "m.pt"
    save_model(EmotionLRM(), path, {})
    payload = torch.load(path, weights_only=True)
    payload["config"][field] = value
    torch.save(payload, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == f"{path}: field 'config.{field}': {value!r} is a {kind}, expected {expected}"


def test_unreadable_and_missing_files_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(EmosteerError, match="not a torch checkpoint"):
        load_model(garbage)
    with pytest.raises(EmosteerError, match="no such checkpoint file"):
        load_model(tmp_path / "absent.pth")
    tensor_only = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(EmosteerError, match="expected a dict"):
        load_model(tensor_only)


def test_equal_models_save_to_equal_bytes(tmp_path) -> None:
    """DVC hashes data/model.pt: retraining to the same weights must not change its bytes."""
    import torch as _torch

    from emosteer.model.checkpoints import save_model
    from emosteer.model.lrm import EmotionLRM

    _torch.manual_seed(0)
    model = EmotionLRM()
    save_model(model, tmp_path / "a.pt", {"epoch": 1})
    save_model(model, tmp_path / "b.pt", {"epoch": 1})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def _small_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save(
        {
            "format": "emosteer/1",
            "model": {"w": torch.zeros(3)},
            "config": {"forward_passes": 2},
            "meta": {"epoch": 1, "r": [0.5]},
        },
        buf,
    )
    return buf.getvalue()


def test_a_damaged_pickle_is_one_line_without_warnings(tmp_path: Path) -> None:
    """Zeros over the pickle's first opcodes empty the unpickler's stack: IndexError before."""
    data = bytearray(_small_checkpoint())
    data[26:30] = b"\x00" * 4
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EmosteerError, match=r"damaged\.pt: not a readable torch checkpoint"):
            load_model(path)
    assert [str(w.message) for w in caught] == []


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**16), st.binary(min_size=1, max_size=8))
def test_any_damaged_checkpoint_is_a_result_or_one_line(at: int, patch: bytes) -> None:
    data = bytearray(_small_checkpoint())
    at %= len(data)
    data[at : at + len(patch)] = patch
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pt"
        path.write_bytes(bytes(data))
        try:
            load_model(path)
        except EmosteerError as exc:
            assert "\n" not in str(exc)


# --- dtypes and files that are not checkpoints (issue #24) ------------------------------------


RANDOM = np.random.default_rng(1).bytes(1 << 16)


def _with_dtype(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The random state with every floating tensor cast to `dtype` (integer buffers unchanged)."""
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in _random_state().items()}


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64, torch.uint8])
def test_weights_that_are_not_floating_point_are_refused_naming_key_and_dtype(
    tmp_path: Path, dtype: torch.dtype, capfd: pytest.CaptureFixture[str]
) -> None:
    """Before: int64 and bool weights loaded with exit 0 and constant predictions (bool: about 1e13);
    complex64 printed torch's multi-line warning."""
    path = tmp_path / "m.pth"
    torch.save({"model": _with_dtype(dtype)}, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EmosteerError) as info:
            load_model(path)
    first = next(k for k, v in _random_state().items() if v.is_floating_point())
    assert str(info.value) == (
        f"{path}: weight {first!r} is {dtype}, expected a floating-point tensor "
        "(float32; float16, bfloat16 and float64 are converted)"
    )
    assert [str(w.message) for w in caught] == [] and capfd.readouterr().err == ""


def test_an_integer_buffer_given_as_float_is_refused(tmp_path: Path) -> None:
    state = _random_state()
    key = next(k for k, v in state.items() if not v.is_floating_point())
    state[key] = state[key].float()
    path = tmp_path / "m.pth"
    torch.save({"model": state}, path)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == f"{path}: weight {key!r} is torch.float32, expected an integer tensor"


@pytest.mark.parametrize("dtype,how", [(torch.float16, "exact"), (torch.bfloat16, "exact"), (torch.float64, "rounded")])
def test_half_and_double_weights_are_converted_with_one_warning(
    tmp_path: Path, dtype: torch.dtype, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: float16/bfloat16 weights loaded silently."""
    state = _with_dtype(dtype)
    path = tmp_path / "m.pth"
    torch.save({"model": state}, path)
    model = load_model(path)
    _assert_state_equal(model, {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    n = sum(v.is_floating_point() for v in state.values())
    name = str(dtype).removeprefix("torch.")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: {n} weights stored as {name}, converted to float32 ({how})"
        + (f"; the precision {name} lost when they were saved stays lost" if how == "exact" else "")
    ]


@pytest.mark.parametrize(
    "content,kind",
    [
        (b"\0" * 4096, "starts with b'\\x00\\x00\\x00\\x00'"),  # before: blamed on "the legacy .tar format"
        (RANDOM, f"starts with {RANDOM[:4]!r}"),
        (b"hello, this is text\n", "starts with b'hell'"),
    ],
)
def test_a_file_that_is_not_a_checkpoint_says_so(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "m.pth"
    path.write_bytes(content)
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: not a torch checkpoint (torch.save writes a zip archive, or "
        f"a pickle before torch 1.6; this file {kind})"
    )


def test_a_zip_that_is_not_torchs_says_so(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "m.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes/hello.txt", "not a checkpoint")
    with pytest.raises(EmosteerError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: not a torch checkpoint: a zip archive without the data.pkl "
        "that torch.save writes (first entry 'notes/hello.txt')"
    )
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(EmosteerError, match=r"not a torch checkpoint: a damaged zip archive"):
        load_model(path)


def test_a_failed_write_at_save_is_one_line(tmp_path: Path) -> None:
    """Before: torch's zip writer turned the OSError of a full disk into a RuntimeError traceback.
    RLIMIT_FSIZE makes any write past 1 MiB fail (EFBIG) for the length of the test."""
    import resource
    import signal

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        with pytest.raises(EmosteerError) as info:
            save_model(EmotionLRM(), tmp_path / "m.pt", {})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert str(info.value) == f"{tmp_path / 'm.pt'}: cannot write (File too large)"
    assert list(tmp_path.iterdir()) == []
