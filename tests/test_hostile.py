"""Inputs built to break a command (issue 27): each is refused in one line, exit 2, or handled as
data; none is a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from emosteer import errors
from emosteer.commands import cli


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.mark.parametrize(
    "exc, expected",
    [
        (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), "x" * 300 + ": File name too long"),
        (PermissionError(errno.EACCES, "Permission denied", "/proc/1/mem"), "/proc/1/mem: Permission denied"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed"), "not valid UTF-8"),
    ],
)
def test_errors_of_bad_input_that_no_reader_named_are_one_line(exc, expected, capsys):
    def fail() -> None:
        raise exc

    assert errors.run("emosteer x", fail) == 2
    assert expected in _one_line(capsys)


def test_a_bug_keeps_its_traceback():
    def fail() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        errors.run("emosteer x", fail)


def test_params_nested_100k_deep_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("deep.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    for argv in (
        ["params", "check", "--params", "deep.yaml"],
        ["estimate", "--params", "deep.yaml"],
        ["params", "check", "--params", "deep.yaml", "-S", "grid=3"],
    ):
        assert cli.main(argv) == 2
        assert _one_line(capsys).endswith("deep.yaml: not valid YAML (nested too deeply)")


def test_params_not_utf8_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_bytes(b"grid: \xff\n")
    assert cli.main(["params", "check", "--params", "bad.yaml"]) == 2
    assert "bad.yaml: not valid YAML (not UTF-8 text: byte 6)" in _one_line(capsys)


def test_a_path_component_over_255_bytes_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    long = "a" * 300
    assert cli.main(["params", "check", "--params", long]) == 2
    assert "File name too long" in _one_line(capsys)
    assert cli.main(["data", "check", long]) == 2
    _one_line(capsys)


EVIL_AUDIO = "evil\x1b[2J\nline.wav"  # an escape code (clear the screen) and a newline in a file name
EVIL_RATED = "<img src=https://example.invalid/p.png>"  # rated in both files, no audio


def malicious_names_table(root: Path) -> Path:
    """The committed Emo-Soundscapes fixture, plus an unrated audio file whose name drives a
    terminal and a rated clip without audio whose name is HTML."""
    import shutil

    from tests.emo_fixture import copy_fixture

    copy_fixture(root)
    shutil.copy(next(root.rglob("*.wav")), root / "600_Sounds" / EVIL_AUDIO)
    for name in ("Valence.csv", "Arousal.csv"):
        path = next(root.rglob(name))
        path.write_text(path.read_text() + f"{EVIL_RATED},0.5\n")
    return root


def test_data_check_escapes_names_as_featurize_does(tmp_path, capsys):
    root = malicious_names_table(tmp_path / "emo")
    assert cli.main(["data", "check", str(root), "--frames", "16"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "evil\\x1b[2J\\nline.wav" in out
    assert EVIL_RATED in out  # a terminal shows HTML as text; the review escapes it (test_review)


def test_a_non_utf8_audio_file_name_passes_params_check(tmp_path, monkeypatch, capsys):
    """A file name whose bytes are not UTF-8 (Python keeps them as surrogates) once made
    `params check` and check_params end in a UnicodeEncodeError traceback (the fingerprint)."""
    import shutil

    import yaml

    from tests.emo_fixture import copy_fixture

    root = copy_fixture(tmp_path / "emo")
    shutil.copy(next(root.rglob("*.wav")), root / os.fsdecode(b"x\xff.wav"))
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["data"].update(source="emo_soundscapes", path=str(root), frames=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["params", "check"]) == 0
    assert "data.path" in capsys.readouterr().out


def test_the_backstop_names_the_text_that_is_not_utf8(capsys):
    def fail() -> None:
        ("see " + os.fsdecode(b"x\xff.wav")).encode()

    assert errors.run("emosteer x", fail) == 2
    assert "not valid UTF-8 (surrogates not allowed) in 'see x\\udcff.wav'" in _one_line(capsys)
