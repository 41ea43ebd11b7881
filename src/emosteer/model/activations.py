"""The activations file: one batched unsteered sweep over every clip, reused by every grid.

Per clip it holds the true labels, the model's unsteered prediction (final pass, and pass 1's from
the same sweep), the 128-d valence/arousal activations that steering signals are averaged from, and,
where the train stage trained one, the prediction of the model's one-pass twin (trained like it,
from the same start, without feedback: what the feedback row compares the model with). Those come from pass
`max(forward_passes - 1, 1)`: with feedback, pass k's 128-d is what modulates pass k+1, so the last
fed-back pass is exactly the vector a steering signal replaces; with one pass there is no feedback
and pass 1 is the only choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from emosteer import h5safe
from emosteer.atomic import replacing, require_finite
from emosteer.errors import EmosteerError
from emosteer.h5safe import H5_ERRORS

_ARRAYS = (
    "valence",
    "arousal",
    "pred_valence",
    "pred_arousal",
    "valence_128d",
    "arousal_128d",
    "pass1_valence",
    "pass1_arousal",
)
_OPTIONAL = ("one_pass_valence", "one_pass_arousal")  # both or neither


@dataclass(frozen=True)
class Activations:
    names: list[str]
    valence: np.ndarray  # (N,) true labels
    arousal: np.ndarray
    pred_valence: np.ndarray  # (N,) unsteered prediction, final pass
    pred_arousal: np.ndarray
    valence_128d: np.ndarray  # (N, 128) from pass `activations_pass`
    arousal_128d: np.ndarray
    forward_passes: int
    activations_pass: int
    pass1_valence: np.ndarray  # (N,) unsteered prediction of pass 1 (= pred_* with one pass)
    pass1_arousal: np.ndarray
    one_pass_valence: np.ndarray | None = None  # (N,) the one-pass twin's prediction, if trained
    one_pass_arousal: np.ndarray | None = None


def activations_pass_for(forward_passes: int) -> int:
    """The pass whose 128-d activations feed back (and so the space steering signals live in)."""
    return max(forward_passes - 1, 1)


def write(path: str | Path, acts: Activations) -> None:
    """Write atomically (temp + rename) and without timestamps, so equal inputs give equal bytes.

    Every array must be finite: a NaN prediction or activation is refused, naming the dataset and
    the first bad clip, before anything is written.
    """
    optional = [key for key in _OPTIONAL if getattr(acts, key) is not None]
    if optional and len(optional) != len(_OPTIONAL):
        raise EmosteerError(f"{path}: {', '.join(_OPTIONAL)} go together (got only {optional[0]})")
    for key in (*_ARRAYS, *optional):
        require_finite(np.asarray(getattr(acts, key)), f"{path}: dataset '{key}'")
    with replacing(path) as tmp, h5safe.writing(tmp, track_order=True) as (f, _):
        f.attrs["forward_passes"] = acts.forward_passes
        f.attrs["activations_pass"] = acts.activations_pass
        f.create_dataset("audio_name", data=np.array([n.encode() for n in acts.names]), track_times=False)
        for key in (*_ARRAYS, *optional):
            f.create_dataset(key, data=np.asarray(getattr(acts, key), np.float32), track_times=False)


def read(path: str | Path) -> Activations:
    path = Path(path)
    try:
        arrays, names, forward_passes, activations_pass = _read_all(path)
    except H5_ERRORS as exc:  # what h5py raises on a damaged file varies with the damage
        raise EmosteerError(f"{path}: not a readable HDF5 activations file ({type(exc).__name__})") from None
    n = len(names)
    for key, value in arrays.items():  # the optional ones included, where present
        if len(value) != n:
            raise EmosteerError(f"{path}: dataset '{key}': length {len(value)} != {n} clips")
    return Activations(names=names, forward_passes=forward_passes, activations_pass=activations_pass, **arrays)


def _read_all(path: Path) -> tuple[dict[str, np.ndarray], list[str], int, int]:
    with h5safe.open_h5(path) as f:
        for key in ("audio_name", *_ARRAYS):
            if not isinstance(f.get(key), h5py.Dataset):
                raise EmosteerError(f"{path}: dataset '{key}': missing")
        for key in ("forward_passes", "activations_pass"):
            if key not in f.attrs:
                raise EmosteerError(f"{path}: attribute '{key}': missing")
        arrays = {key: h5safe.read(f[key], path) for key in _ARRAYS}
        present = [key for key in _OPTIONAL if isinstance(f.get(key), h5py.Dataset)]
        if present and len(present) != len(_OPTIONAL):
            raise EmosteerError(f"{path}: dataset '{present[0]}' without the others of {', '.join(_OPTIONAL)}")
        arrays.update({key: h5safe.read(f[key], path) for key in present})
        names = [n.decode() for n in h5safe.read(f["audio_name"], path)]
        return arrays, names, int(f.attrs["forward_passes"]), int(f.attrs["activations_pass"])
