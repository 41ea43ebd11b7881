"""The command line: every subcommand listed, and only the command that runs is imported."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from emosteer.commands import (
    bench,
    cli,
    data_check,
    estimate,
    featurize,
    params_check,
    predict,
    review,
    signals,
    verdicts,
)

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out, name


def test_every_command_is_one_module_of_the_commands_room() -> None:
    """Each subcommand's module, its argparse half included, sits in emosteer.commands."""
    modules = {
        "predict": predict,
        "featurize": featurize,
        "data": data_check,
        "params": params_check,
        "verdicts": verdicts,
        "signals": signals,
        "bench": bench,
        "estimate": estimate,
        "review": review,
    }
    assert {name: m.__name__ for name, m in modules.items()} == cli.COMMANDS
    for name, module in modules.items():
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        assert list(sub.choices) == [name]


@pytest.mark.parametrize(
    "argv, torch",
    [
        (["data", "check", str(REPO / "tests/fixtures/emo_soundscapes"), "--frames", "16"], False),
        (["params", "check", "--params", str(REPO / "params.yaml")], False),
        (["signals", "inspect", "missing.json"], False),
        (["predict", "--help"], True),
    ],
)
def test_a_command_imports_what_it_uses_only(argv: list[str], torch: bool, tmp_path: Path) -> None:
    """`data check` and `params check` start without torch (and predict with it): start-up was
    mostly torch's and scipy.stats' imports, for every command."""
    code = (
        "import sys\nfrom emosteer.commands import cli\ntry:\n    code = cli.main(sys.argv[1:])\n"
        "except SystemExit as exc:\n    code = exc.code\nprint('torch' in sys.modules, code)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path)
    loaded, _ = proc.stdout.split()[-2:]
    assert loaded == str(torch), proc.stdout + proc.stderr
