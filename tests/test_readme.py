"""Every README command that sets params runs, as written, on the fixture: docs and code cannot drift.

Each `dvc exp run` line of README.md's bash blocks (continuations joined, comments dropped, in the
README's order, in one workspace, as a user would type them) runs in a tiny copy of the project,
with the README's example paths mapped to fixture files whose names hold spaces, `=` and
parentheses. The run stops after check_params, which validates the params DVC wrote and checks
every path param for what it names; tests/test_realdata.py runs the Emo-Soundscapes command to
the end. The `emosteer params check` example runs too (not its usage line, `[-S KEY=VALUE ...]`).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from emosteer.data.sources import build_features
from emosteer.model.checkpoints import save_model
from emosteer.model.lrm import EmotionLRM
from tests.emo_fixture import copy_fixture, panns_checkpoint
from tests.pipeline_copy import DVC, REPO, env, make_repo, run

README = REPO / "README.md"


def commands(text: str) -> list[list[str]]:
    """Shell commands of the ```bash blocks, continuation lines joined, `a && b` as two commands,
    as argument lists."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            args = shlex.split(line, comments=True)
            while "&&" in args:
                out.append(args[: args.index("&&")])
                args = args[args.index("&&") + 1 :]
            if args:
                out.append(args)
    return out


def test_the_readme_has_the_commands_this_test_runs() -> None:
    found = [c for c in commands(README.read_text()) if c[:3] == ["dvc", "exp", "run"]]
    # grid, seeds, the reviewer's named grid-7 experiment, two real-data runs, five variants of them
    assert len(found) == 10, found
    # the shell hands DVC the inner quotes: a path with '=' arrives quoted for DVC's parser
    assert [
        "dvc",
        "exp",
        "run",
        "-S",
        "data.source=emo_soundscapes",
        "-S",
        "data.path='/data/Emo-Soundscapes'",
        "-S",
        "data.frames=601",
        "-S",
        "model.panns_checkpoint='/models/Cnn6_mAP=0.343.pth'",
    ] in found


@pytest.mark.slow
def test_every_readme_params_command_runs_on_the_fixture(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    emo = copy_fixture(tmp_path / "Emo Soundscapes=v1")
    nine = copy_fixture(tmp_path / "Emo Soundscapes (1-9)")
    for name in ("Valence.csv", "Arousal.csv"):
        rows = [line.split(",") for line in (nine / name).read_text().splitlines()]
        (nine / name).write_text("".join(f"{n},{5 + 4 * float(r):.2f}\n" for n, r in rows))
    models = tmp_path / "my models"
    panns_checkpoint(models / "Cnn6_mAP=0.343.pth")
    save_model(EmotionLRM(), models / "best_model.pth", {})
    h5 = tmp_path / "feature files" / "emotion_features=1.h5"
    h5.parent.mkdir()
    build_features("emo_soundscapes", emo, h5, "panns", 16, progress=False)
    paths = {  # the README's example paths -> fixture files (longest first: one is a prefix)
        "/data/Emo-Soundscapes (1-9)": str(nine),
        "/data/Emo-Soundscapes": str(emo),
        "/data/emotion_features.h5": str(h5),
        "/data/groups.csv": str(emo / "groups.csv"),
        "/models/Cnn6_mAP=0.343.pth": str(models / "Cnn6_mAP=0.343.pth"),
        "/models/best_model.pth": str(models / "best_model.pth"),
    }

    def mapped(args: list[str]) -> list[str]:
        out = []
        for arg in args:
            for example, real in paths.items():
                arg = arg.replace(example, real)
            out.append(arg)
        return out

    pristine = tmp_path / "pristine"  # `emosteer params check` on the committed params.yaml
    pristine.mkdir()
    (pristine / "params.yaml").write_text((repo / "params.yaml").read_text())
    ran = 0
    for args in commands(README.read_text()):
        if args[:3] == ["dvc", "exp", "run"]:
            proc = subprocess.run(
                DVC + mapped(args)[1:] + ["check_params"], cwd=repo, env=env(), capture_output=True, text=True
            )
            if "device=cuda" in args and not torch.cuda.is_available():
                # the GPU line on a machine without one: refused by check_params, in one line,
                # before any stage could remove an output
                assert proc.returncode != 0, proc.stdout
                errors = [x for x in proc.stderr.splitlines() if x.startswith("emosteer stage")]
                assert errors == [
                    "emosteer stage check_params: error: device: cuda requested but "
                    "torch sees no CUDA device (use auto or cpu)"
                ], proc.stderr
                ran += 1
                continue
            assert proc.returncode == 0, f"{shlex.join(args)}:\n{proc.stdout}\n{proc.stderr}"
            assert "Running stage 'check_params'" in proc.stdout, proc.stdout
            ran += 1
        elif args[:3] == ["emosteer", "params", "check"] and not any(a.startswith("[") for a in args):
            out = run([str(Path(env()["PATH"].split(":")[0]) / "emosteer"), *mapped(args)[1:]], pristine)
            assert "with 4 overrides: valid" in out
            ran += 1
    assert ran >= 10
    params = yaml.safe_load((repo / "params.yaml").read_text())  # the values DVC wrote, last ones last
    assert params["data"]["path"] == str(nine) and params["data"]["rating_range"] == [1, 9]
    assert params["model"]["trained_checkpoint"] == paths["/models/best_model.pth"]
    assert (params["device"], params["amp"], params["split"]["mode"]) == ("cuda", "bf16", "original")


def test_the_readme_shows_what_data_check_prints_on_the_fixture(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from emosteer.commands.cli import main

    monkeypatch.chdir(REPO)
    assert main(["data", "check", "tests/fixtures/emo_soundscapes", "--frames", "16"]) == 0
    printed = capsys.readouterr().out
    shown = README.read_text().split("--frames 16`):\n\n```\n", 1)[1].split("```", 1)[0]
    assert shown == printed


def test_the_result_block_is_the_committed_runs() -> None:
    """README's result table is printed from the committed run's files (scripts/readme_result.py),
    never typed: a number the run did not write fails here."""
    import runpy

    block = runpy.run_path(str(REPO / "scripts" / "readme_result.py"))["block"](REPO)
    assert block in README.read_text()
