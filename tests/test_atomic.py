"""atomic: environment errors are one EmosteerError line; no output over an input; finite arrays."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from emosteer.atomic import refuse_overwrite, replacing, require_finite
from emosteer.errors import EmosteerError


def _write(path: Path, text: str = "x") -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def _one_line(exc: pytest.ExceptionInfo[EmosteerError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_output_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(EmosteerError) as info:
        _write(tmp_path / "out")
    assert _one_line(info) == f"{tmp_path / 'out'}: is a folder; give a file path to write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_parent_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("keep")
    target = tmp_path / "file" / "deeper" / "m.json"
    with pytest.raises(EmosteerError) as info:
        _write(target)
    assert _one_line(info) == f"{target}: cannot write: {tmp_path / 'file'} is a file, not a folder"
    assert (tmp_path / "file").read_text() == "keep"


def test_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root can write anywhere, so the refusal is what mkstemp raises in a read-only folder
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(EmosteerError) as info:
        _write(tmp_path / "m.json")
    assert _one_line(info) == f"{tmp_path / 'm.json'}: cannot write in {tmp_path} (Permission denied)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(EmosteerError, match="cannot write in .*Permission denied"):
            _write(folder / "m.json")
    finally:
        folder.chmod(0o755)


def test_disk_full_while_writing_is_one_line_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    _write(target, "old")
    with pytest.raises(EmosteerError) as info:
        with replacing(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _one_line(info) == f"{target}: cannot write (No space left on device)"
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_refuse_overwrite_same_relative_symlink_and_hard_link(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    src = tmp_path / "in.h5"
    src.write_text("data")
    (tmp_path / "link.h5").symlink_to(src)
    os.link(src, tmp_path / "hard.h5")
    for out in (src, Path("in.h5"), Path("d/../in.h5"), tmp_path / "link.h5", tmp_path / "hard.h5"):
        with pytest.raises(EmosteerError) as info:
            refuse_overwrite(out, [tmp_path / "other.h5", src])
        assert _one_line(info) == (f"{out}: is the input {src}; refusing to overwrite an input "
                                   "(choose another output path)")
    refuse_overwrite(tmp_path / "new.h5", [src, None, tmp_path / "missing.h5"])  # fine
    assert src.read_text() == "data"


def test_require_finite_names_the_first_bad_row() -> None:
    require_finite(np.zeros((3, 4)), "x")
    require_finite(np.array(["a"]), "x")  # not numbers: nothing to check
    bad = np.zeros((3, 4), np.float32)
    bad[2, 1] = np.inf
    bad[1, 3] = np.nan
    with pytest.raises(EmosteerError) as info:
        require_finite(bad, "out.h5: dataset 'v'")
    assert str(info.value) == "out.h5: dataset 'v': NaN or inf at index 1; refusing to write it"
