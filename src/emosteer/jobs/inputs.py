"""Every path param checked for what it must name, before any stage removes an output.

A param that names a file or folder must exist, be of the right kind (file or folder), be readable,
and hold what the stage that reads it needs: `data.path` an Emo-Soundscapes folder whose rating
files parse on `data.rating_range` and whose audio headers read (`survey`), or a features HDF5 in
the schema; `data.groups` a groups table; `model.panns_checkpoint` a PANNs Cnn6 checkpoint whose
keys and shapes fit the backbone; `model.trained_checkpoint` a trained model (ours or the
original's) with `model.forward_passes` passes. Checkpoints are read with torch.load(weights_only=
True), never unpickled. A failure is one line naming params.yaml, the param, the path and what is
wrong.

`check_params` runs this on every `dvc repro` / `dvc exp run` (always_changed) and writes one
fingerprint per path param to data/inputs/<param>.json: the sha256 of what the path holds. The
stage that reads a path depends on its fingerprint, so a file changed in place reruns exactly the
stages that read it, and is checked before they remove anything.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emosteer.data import sources, split
from emosteer.data import survey as data_survey
from emosteer.digest import file_sha256
from emosteer.errors import EmosteerError
from emosteer.schema.params import PARAMS_FILE, Params

PATH_PARAMS = ("data.path", "data.groups", "model.panns_checkpoint", "model.trained_checkpoint")
MIN_CLIPS = 4  # fewer cannot be split into train, dev and val


def check(p: Params, file: str | Path = PARAMS_FILE) -> dict[str, dict[str, Any]]:
    """{param: fingerprint} for every path param (a null path has fingerprint {"path": None});
    raise EmosteerError "<file>: <param>: <path>: <problem>" for the first bad one."""
    prints: dict[str, dict[str, Any]] = {}
    surveyed: data_survey.Survey | None = None
    for param, path, kind, checker in _plan(p):
        if path is None:
            prints[param] = {"param": param, "path": None}
            continue
        try:
            _exists(path, kind)
            found = checker(Path(path))
        except EmosteerError as exc:
            text = str(exc)
            where = text if text.startswith(str(path)) else f"{path}: {text}"
            raise EmosteerError(f"{file}: {param}: {where}") from None
        if param == "data.path":
            surveyed = found
        prints[param] = fingerprint(param, Path(path), found.inputs if param == "data.path" else None)
    if p.data.groups is not None and surveyed is not None:
        _groups_match(p.data.groups, surveyed.names, file)
    return prints


WHAT = {  # what each path param must name, as the messages say it (data.path: its source's entry)
    "data.groups": ("file", "a groups table file (CSV: clip,group)"),
    "model.panns_checkpoint": ("file", "a PANNs Cnn6 checkpoint file (.pth)"),
    "model.trained_checkpoint": ("file", "a trained model checkpoint file"),
}


def _plan(p: Params) -> list[tuple[str, str | None, tuple[str, str], Callable[[Path], Any]]]:
    """(param, path, (file|folder, what it must be), checker) in the order the pipeline reads them."""
    d, m = p.data, p.model
    source = sources.get(d.source)
    return [
        ("data.path", d.path, (source.path or "file", source.what), lambda path: _data(path, p)),
        ("data.groups", d.groups, WHAT["data.groups"], split.read_groups),
        ("model.panns_checkpoint", m.panns_checkpoint, WHAT["model.panns_checkpoint"], _panns),
        (
            "model.trained_checkpoint",
            m.trained_checkpoint,
            WHAT["model.trained_checkpoint"],
            lambda path: _trained(path, m.forward_passes),
        ),
    ]


def _exists(path: str, kind: tuple[str, str]) -> None:
    """Exists, is a file or a folder as `kind` says, and can be read (a folder: listed)."""
    target = Path(path)
    form, what = kind
    if not target.exists():
        raise EmosteerError(f"{path}: no such {form}, expected {what}")
    if form == "file" and not target.is_file():
        raise EmosteerError(f"{path}: is a {'folder' if target.is_dir() else 'special file'}, expected {what}")
    if form == "folder" and not target.is_dir():
        raise EmosteerError(f"{path}: is a file, expected {what}")
    try:
        if form == "file":
            with target.open("rb") as f:
                f.read(1)
        else:
            next(os.scandir(target), None)
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None


def _data(path: Path, p: Params) -> data_survey.Survey:
    """The source's survey: rating files and audio headers, or the features file's schema."""
    d = p.data
    found = sources.survey(d.source, path, d.frames, d.rating_range, d.drop)
    if found.facts["n_clips"] < MIN_CLIPS:
        raise EmosteerError(f"{path}: {found.facts['n_clips']} clips to use; the split needs at least {MIN_CLIPS}")
    return found


def _panns(path: Path) -> None:
    """A PANNs AudioSet Cnn6 checkpoint: its keys and shapes fill the backbone exactly."""
    from emosteer.model import checkpoints
    from emosteer.model.lrm import EmotionLRM

    try:
        checkpoints.load_panns_backbone(EmotionLRM(), path)
    except EmosteerError as exc:
        if "does not match the model" in str(exc) and _is_trained(path):
            raise EmosteerError(
                f"{path}: a trained emotion model, not a PANNs Cnn6 backbone; give it as model.trained_checkpoint"
            ) from None
        raise


def _is_trained(path: Path) -> bool:
    from emosteer.model import checkpoints

    try:
        checkpoints.load_checkpoint(path)
    except EmosteerError:
        return False
    return True


def _trained(path: Path, forward_passes: int) -> None:
    """A trained model (ours or the original's) trained with the passes params ask for."""
    from emosteer.model import checkpoints

    checkpoints.load_model(path, forward_passes)


def _groups_match(path: str, names: list[str], file: str | Path) -> None:
    try:
        split.group_ids(names, split.read_groups(path))
    except EmosteerError as exc:
        raise EmosteerError(f"{file}: data.groups: {path}: {exc}") from None


def fingerprint(param: str, path: Path, files: list[Path] | None = None) -> dict[str, Any]:
    """sha256 of a file's bytes, or of the `files` read below a folder (their names relative to
    it and their contents, in sorted order: rating files and audio, not unrelated files)."""
    if path.is_file():
        return {"param": param, "path": str(path), "sha256": file_sha256(path)}
    files = sorted(files if files is not None else (f for f in path.rglob("*") if f.is_file()))
    digest = hashlib.sha256()
    for f in files:
        # a name that is not UTF-8 (its bytes kept by Python as surrogates) hashes as its bytes
        digest.update(f"{f.relative_to(path).as_posix()}\0{file_sha256(f)}\n".encode("utf-8", "surrogateescape"))
    return {"param": param, "path": str(path), "files": len(files), "sha256": digest.hexdigest()}
