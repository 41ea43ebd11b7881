"""Saving and loading EmotionLRM weights without ever unpickling arbitrary objects.

Three kinds of checkpoint are understood:
- ours: {"format": "emosteer/1", "model": state_dict, "config": constructor args, "meta": plain data},
  written atomically and reloaded bit-exactly;
- the original system's trained model: a dict whose "model" holds the 68 keys of ORIGINAL.md §a (or
  that bare state dict), in the final naming or the older one without `<target>_modulation.`;
- a PANNs AudioSet Cnn6 checkpoint, which only fills the backbone (`load_panns_backbone`); given to
  `load_model` it is refused, because the valence/arousal heads would be untrained.
Every load goes through torch.load(weights_only=True), after a look at the file's first bytes (a
file that is neither torch's zip archive nor a pickle is "not a torch checkpoint"). Keys and shapes
are checked strictly and a mismatch names the first offending keys; every weight must be finite and
of the model's kind: floating point (float32, or float16/bfloat16/float64, converted to float32 with
one warning line) where the model has floats, integers where it has counters.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emosteer.atomic import replacing
from emosteer.errors import EmosteerError
from emosteer.model.lrm import EmotionLRM

log = logging.getLogger(__name__)

FORMAT = "emosteer/1"
MAX_KEYS_SHOWN = 4
CONFIG_TYPES = {
    "forward_passes": int,
    "freeze_backbone": bool,
    "train_bn0": bool,
    "train_fc1": bool,
    "spec_augment": bool,
}
CONFIG_KEYS = tuple(CONFIG_TYPES)
EXTRACTOR_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive (torch >= 1.6)
PICKLE_MAGIC = b"\x80"  # a pickle of protocol >= 2: torch.save before 1.6
# Floating dtypes converted to float32 on load: half precision widens exactly (what it lost when
# the weights were saved stays lost), double precision is rounded.
CONVERTED = {torch.float16: "exact", torch.bfloat16: "exact", torch.float64: "rounded"}

# Old original naming: lrm.from_<src>_to_<tgt>.* -> final: lrm.<tgt>_modulation.from_<src>_to_<tgt>.*
_OLD_LRM_KEY = re.compile(
    r"^lrm\.(from_affective_(?:valence|arousal)_128d_to_(visual_system_base_conv_block\d))\.(.+)$"
)

# numpy scalars are plain data (the original stored e.g. best_val_pearson as np.float64); allowing
# their reconstruction does not allow arbitrary code.
try:
    from numpy._core.multiarray import scalar as _np_scalar  # numpy >= 2
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import scalar as _np_scalar
_np_dtypes = getattr(np, "dtypes", None)
_NUMPY_SCALAR_GLOBALS: list[Any] = [
    _np_scalar,
    (_np_scalar, "numpy.core.multiarray.scalar"),
    (_np_scalar, "numpy._core.multiarray.scalar"),
    np.dtype,
    *(getattr(_np_dtypes, n) for n in dir(_np_dtypes) if n.endswith("DType")),
]


def save_model(model: EmotionLRM, path: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    """Write model weights + constructor config + plain-data meta atomically (temp file, rename)."""
    _check_plain(meta, "meta")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    _check_finite(state, f"save_model: {path}")
    payload = {
        "format": FORMAT,
        "model": state,
        "config": model.config(),
        "meta": meta,
    }
    # A file object, not a path: torch names the archive inside after the path, and a random
    # temp name would make equal models differ in bytes (and in DVC's hash). In memory first (a
    # model is tens of MB): torch's zip writer turns a failed write (a full disk) into a RuntimeError
    # traceback, a plain write gives the OSError that `replacing` makes one line.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(buffer.getbuffer())


def load_model(
    path: str | os.PathLike[str], forward_passes: int | None = None, remedy: str = "; set it to match"
) -> EmotionLRM:
    """Load ours or the original's trained checkpoint into a new EmotionLRM (eval mode); with
    `forward_passes`, refused unless it was trained with that many passes (params'
    model.forward_passes), the message ending in `remedy`."""
    model = load_checkpoint(path)[0]
    if forward_passes is not None and model.forward_passes != forward_passes:
        raise EmosteerError(
            f"{path}: trained with forward_passes {model.forward_passes}, params say "
            f"model.forward_passes {forward_passes}{remedy}"
        )
    return model


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[EmotionLRM, dict[str, Any]]:
    """`load_model` and the checkpoint's meta, read once: ours records it (e.g. `frontend` and
    `frames`, what the model was trained on); the original's has none, so its meta is {}."""
    payload = _safe_load(path)
    if not isinstance(payload, dict):
        raise EmosteerError(f"{path}: checkpoint is a {type(payload).__name__}, expected a dict")
    if "format" in payload:
        meta = payload.get("meta")
        return _load_ours(payload, path), dict(meta) if isinstance(meta, dict) else {}
    state = _state_dict_of(payload, path)
    state = {_final_name(k): v for k, v in state.items()}
    if not any(k.startswith("affective_") for k in state) and any(k.endswith("fc_audioset.weight") for k in state):
        raise EmosteerError(
            f"{path}: a PANNs backbone checkpoint (no affective_valence/affective_arousal keys); its "
            "valence/arousal heads would be untrained - use it as `model.panns_checkpoint` for training"
        )
    model = EmotionLRM()
    _load_strict(model, state, path)
    return model.eval(), {}


def load_panns_backbone(model: EmotionLRM, path: str | os.PathLike[str]) -> None:
    """Copy a PANNs AudioSet Cnn6 checkpoint into model.visual_system.base (extractors ignored)."""
    payload = _safe_load(path)
    if not isinstance(payload, dict):
        raise EmosteerError(f"{path}: checkpoint is a {type(payload).__name__}, expected a dict")
    state = _state_dict_of(payload, path)
    state = {k: v for k, v in state.items() if not k.startswith(EXTRACTOR_PREFIXES)}
    base = model.visual_system.base
    current = base.state_dict()
    expected = {k: v for k, v in current.items() if not k.startswith(EXTRACTOR_PREFIXES)}
    _check_keys(expected, state, path)
    base.load_state_dict({**current, **_as_model_dtypes(expected, state, path)}, strict=True)


def _load_ours(payload: dict[str, Any], path: str | os.PathLike[str]) -> EmotionLRM:
    if payload["format"] != FORMAT:
        raise EmosteerError(f"{path}: field 'format' is {payload['format']!r}, expected {FORMAT!r}")
    config = payload.get("config")
    if not isinstance(config, dict) or set(config) - set(CONFIG_KEYS):
        raise EmosteerError(f"{path}: field 'config' must be a dict with keys from {CONFIG_KEYS}, got {config!r}")
    for key, value in config.items():
        wanted = CONFIG_TYPES[key]
        if type(value) is not wanted:  # exact: a bool is not a pass count, 1 is not True
            raise EmosteerError(
                f"{path}: field 'config.{key}': {value!r} is a {type(value).__name__}, expected {wanted.__name__}"
            )
    model = EmotionLRM(**config)
    _load_strict(model, _state_dict_of(payload, path), path)
    return model.eval()


def _safe_load(path: str | os.PathLike[str]) -> Any:
    """torch.load with weights_only=True; refuse pickled objects with one clear line."""
    if not Path(path).is_file():
        raise EmosteerError(f"{path}: no such checkpoint file")
    _check_container(path)
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on a damaged protocol byte
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EmosteerError(f"{path}: {_refusal(str(exc))}") from None
    except DAMAGED as exc:
        raise EmosteerError(f"{path}: not a readable torch checkpoint ({_first_line(exc)})") from None


def _check_container(path: str | os.PathLike[str]) -> None:
    """Refuse, from its first bytes, a file that torch.save cannot have written (torch would try
    it as its legacy .tar format and blame that)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None
    if head.startswith(PICKLE_MAGIC):
        return
    if head != ZIP_MAGIC:
        raise EmosteerError(
            f"{path}: not a torch checkpoint (torch.save writes a zip archive, or a "
            f"pickle before torch 1.6; this file starts with {head!r})"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise EmosteerError(f"{path}: not a torch checkpoint: a damaged zip archive ({_first_line(exc)})") from None
    if not any(name.endswith("/data.pkl") for name in names):
        first = repr(names[0]) if names else "none"
        raise EmosteerError(
            f"{path}: not a torch checkpoint: a zip archive without the data.pkl that "
            f"torch.save writes (first entry {first})"
        )


# What torch.load raises on a damaged file besides UnpicklingError (measured by overwriting bytes
# of a saved checkpoint: a bad memo index is a KeyError, a bad stack an IndexError).
DAMAGED = (EOFError, OSError, RuntimeError, ValueError, KeyError, IndexError, TypeError, struct.error)

# torch's weights-only unpickler names what it refused in one of these sentences
_BLOCKED = re.compile(r"unsupported GLOBAL (\S+) whose module (\S+) is blocked")
_NOT_ALLOWED = re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global")
_REDUCE = re.compile(r"call reduce for unrecognized function (.+?)(?: which belongs|$)", re.M)


def _refusal(message: str) -> str:
    """One line saying which global a weights-only load refused and why."""
    if found := _BLOCKED.search(message):
        return (
            f"refused: the pickle calls {found.group(1)}, and module {found.group(2)} is blocked "
            "because it can run commands or code on load; checkpoints must hold only tensors "
            "and plain data"
        )
    if found := _NOT_ALLOWED.search(message):
        return (
            f"refused: the pickle needs {found.group(1)}, which is not on the allow-list of plain "
            "data, and building it could run arbitrary code; save plain tensors/dicts"
        )
    if found := _REDUCE.search(message):
        return (
            f"refused: the pickle calls {found.group(1)}, which is not on the allow-list of plain "
            "data, and calling it could run arbitrary code; save plain tensors/dicts"
        )
    paragraphs = [p.strip() for p in message.split("\n\n") if p.strip()]
    reasons = [p for p in paragraphs if not p.startswith(("Weights only load failed", "Check the documentation"))]
    reason = reasons[0].splitlines()[0][:200] if reasons else "unpickling failed"
    return f"not a readable torch checkpoint ({reason})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _state_dict_of(payload: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict: payload['model'] when wrapped, else the payload itself; tensors only."""
    state = payload["model"] if isinstance(payload.get("model"), dict) else payload
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise EmosteerError(f"{path}: state dict entry {key!r} is a {type(value).__name__}, expected a tensor")
    _check_finite(state, str(path))
    return dict(state)


def _check_finite(state: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights holding NaN or inf, naming the first such key (a model that computes NaN
    would write NaN predictions with exit 0)."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise EmosteerError(f"{where}: weight {key!r} holds NaN or inf; refusing it")


def _final_name(key: str) -> str:
    """Map the original's older LRM key naming to the final one; other keys pass unchanged."""
    match = _OLD_LRM_KEY.match(key)
    if not match:
        return key
    modblock, target, rest = match.groups()
    return f"lrm.{target}_modulation.{modblock}.{rest}"


def _load_strict(model: EmotionLRM, state: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    expected = model.state_dict()
    _check_keys(expected, state, path)
    model.load_state_dict(_as_model_dtypes(expected, state, path), strict=True)


def _as_model_dtypes(
    expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], path: str | os.PathLike[str]
) -> dict[str, torch.Tensor]:
    """`got` in the model's dtypes: a float weight must be floating point (float16, bfloat16 and
    float64 are converted to float32, with one warning line for the file), an integer buffer (a
    BatchNorm's counter) an integer. Anything else (bool, complex, an int where a float belongs)
    is refused naming the first such key: load_state_dict would cast it silently."""
    out: dict[str, torch.Tensor] = {}
    converted: dict[torch.dtype, int] = {}
    for key, want in expected.items():
        value = got[key]
        if want.is_floating_point():
            if value.dtype != want.dtype and value.dtype not in CONVERTED:
                raise EmosteerError(
                    f"{path}: weight {key!r} is {value.dtype}, expected a floating-point "
                    "tensor (float32; float16, bfloat16 and float64 are converted)"
                )
            if value.dtype in CONVERTED:
                converted[value.dtype] = converted.get(value.dtype, 0) + 1
        elif value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise EmosteerError(f"{path}: weight {key!r} is {value.dtype}, expected an integer tensor")
        out[key] = value.to(want.dtype)
    parts = []
    for dtype, count in converted.items():
        name = str(dtype).removeprefix("torch.")
        how = CONVERTED[dtype]
        lost = f"; the precision {name} lost when they were saved stays lost" if how == "exact" else ""
        parts.append(f"{count} weights stored as {name}, converted to float32 ({how}){lost}")
    if parts:
        log.warning("%s: %s", path, "; ".join(parts))
    return out


def _check_keys(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Raise one line naming the first missing/unexpected/wrong-shape keys, if any."""
    problems = []
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    mismatched = [
        f"{k} {tuple(got[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in got and got[k].shape != v.shape
    ]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if items:
            shown = ", ".join(items[:MAX_KEYS_SHOWN])
            more = f" (+{len(items) - MAX_KEYS_SHOWN} more)" if len(items) > MAX_KEYS_SHOWN else ""
            problems.append(f"{len(items)} {label} key(s): {shown}{more}")
    if problems:
        raise EmosteerError(f"{path}: checkpoint does not match the model: " + "; ".join(problems))


def _check_plain(value: Any, where: str) -> None:
    """Meta must reload under weights_only: str/int/float/bool/None, lists/tuples, str-keyed dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EmosteerError(f"save_model: {where} key {key!r} is not a string")
            _check_plain(item, f"{where}.{key}")
        return
    raise EmosteerError(f"save_model: {where} is a {type(value).__name__}; store plain data only")
