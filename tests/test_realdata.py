"""The real-data path end to end: the README's Emo-Soundscapes command on the committed fixture.

A tiny copy of the project runs `dvc exp run` with the README's real-data overrides, as documented
(quoted values: a checkpoint named `Cnn6_mAP=0.343.pth` in a folder whose name has a space),
`data.drop: [low_rate]`, the fixture's groups table and 3 seeds. Then the failures of issue #20
are replayed on that finished run: each is refused with a non-zero exit and one line naming the
param, and not one output of the previous run changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from tests.emo_fixture import WINDOW_FRAMES, copy_fixture, panns_checkpoint
from tests.pipeline_copy import DVC, TINY, env, make_repo, run, up_to_date

pytestmark = pytest.mark.slow

SIZES = {**TINY, ("seeds",): [0, 1, 2]}
RESULTS = ("data", "metrics", "plots", "reports")


def _outputs(repo: Path) -> dict[str, str]:
    """sha256 of every pipeline output in the workspace (dvc.lock included)."""
    files = [repo / "dvc.lock"] + [p for d in RESULTS for p in sorted((repo / d).rglob("*")) if p.is_file()]
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(DVC + list(args), cwd=repo, env=env(), capture_output=True, text=True)


def _refused(repo: Path, args: list[str], *expected: str) -> tuple[str, bool]:
    """Run dvc; it must fail, say `expected` in one line of ours (or DVC's), and change no output.
    Returns the line and whether params.yaml was left changed: DVC writes `-S` overrides into it
    before it runs a stage, and a refused run leaves them there (restored here with git checkout)."""
    before = _outputs(repo)
    proc = _dvc(repo, *args)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("emosteer stage")]
    line = ours[0] if ours else next(line for line in proc.stderr.splitlines() if "ERROR" in line)
    assert len(ours) <= 1, proc.stderr
    for text in expected:
        assert text in line, line
    assert _outputs(repo) == before
    left = run(["git", "status", "--porcelain", "params.yaml"], repo).strip() != ""
    run(["git", "checkout", "params.yaml"], repo)
    return line, left


def test_readme_emo_soundscapes_command_then_every_failure_keeps_the_results(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", SIZES)
    data = copy_fixture(tmp_path / "Emo Soundscapes=v1")
    ckpt = tmp_path / "my models" / "Cnn6_mAP=0.343.pth"
    state = panns_checkpoint(ckpt)
    # The README's command, with the fixture's paths and the tiny window.
    out = run(
        DVC
        + [
            "exp",
            "run",
            "-S",
            "data.source=emo_soundscapes",
            "-S",
            f"data.path='{data}'",
            "-S",
            f"data.frames={WINDOW_FRAMES}",
            "-S",
            f"model.panns_checkpoint='{ckpt}'",
            "-S",
            "data.drop=[low_rate]",
            "-S",
            f"data.groups='{data / 'groups.csv'}'",
        ],
        repo,
    )
    assert "s05.wav: 0.05 s is shorter than the 0.15-s window" in out  # the data stage says so

    # The backbone (bn0 and the four conv blocks, frozen) is the checkpoint's in every seed's model;
    # fc1 belongs to the read-out (set from the ridge fit), fc_audioset is never used.
    backbone = [k for k in state if k.startswith(("bn0.", "conv_block"))]
    assert len(backbone) == 29  # bn0: 5 tensors; each block: a conv weight and 5 BatchNorm tensors
    for seed in (0, 1, 2):
        model = torch.load(repo / f"data/models/s{seed}.pt", weights_only=True)["model"]
        for key in backbone:
            assert torch.equal(model[f"visual_system.base.{key}"], state[key]), (seed, key)
        train = json.loads((repo / f"metrics/seeds/train/s{seed}.json").read_text())
        assert train["panns_checkpoint"] == str(ckpt)
        assert train["panns_checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()

    # What the run ran on: metrics/data.json and the report's Data section.
    facts = json.loads((repo / "metrics/data.json").read_text())
    assert facts["source"] == "emo_soundscapes" and facts["path"] == str(data)
    assert facts["n_clips"] == 25 and facts["n_rated"] == 27  # 26 rated with audio, s04 dropped
    assert facts["skipped"] == {"missing_audio": 1, "missing_rating": 1, "low_rate": 1, "short": 0}
    assert facts["skipped_files"]["missing_audio"] == ["s23.wav"]
    assert facts["skipped_files"]["missing_rating"] == ["x01.wav"]
    assert facts["skipped_files"]["low_rate"] == ["s04.wav"]
    assert facts["sample_rates"] == {"32000": 22, "44100": 2, "48000": 1}
    assert facts["channels"] == {"1": 23, "2": 2}
    assert facts["duration_seconds"]["min"] == 0.05 and facts["duration_seconds"]["max"] == 0.16
    assert len(facts["warnings"]) == 2 and "dropped (data.drop: low_rate)" in facts["warnings"][0]
    report = (repo / "reports/report.md").read_text()
    data_section = report.split("## Data", 1)[1].split("\n## ", 1)[0]
    assert report.index("## Data") < report.index("## Verdicts")
    for text in (
        f"{data} (emo_soundscapes): 25 clips used, of 27 rated",
        "1 missing audio (s23.wav); 1 missing rating (x01.wav); 1 low rate (s04.wav)",
        "-> resampled to 32000 Hz",
        "-> averaged to mono",
        "warning: ",
        f"checkpoint (seeds 0, 1, 2): `{ckpt}` (`model.panns_checkpoint`), sha256 "
        f"`{hashlib.sha256(ckpt.read_bytes()).hexdigest()}`",
    ):
        assert text in data_section, text

    # The verdicts, over 3 seeds, and no mixed clip on the other side of a split from its sources.
    for which in ("3x3", "5x5"):
        for f in sorted((repo / "metrics/pooled" / which).glob("*.json")):
            m = json.loads(f.read_text())
            assert m["n_seeds"] == 3 and all(
                m[f"{d}_verdict"] in ("helps", "hurts", "none") for d in ("valence", "arousal")
            )
    headline = json.loads((repo / "metrics/verdicts.json").read_text())
    assert set(headline) >= {"3x3", "5x5", "control"}
    for seed in (0, 1, 2):
        names = json.loads((repo / f"data/splits/s{seed}.json").read_text())["names"]
        side = {n: part for part, ns in names.items() for n in ns}
        for group in (
            ["m01.wav", "s07.wav", "s08.wav", "m04.wav", "s13.wav"],
            ["m02.wav", "s09.wav", "s10.wav"],
            ["m03.wav", "s11.wav", "s12.wav"],
        ):
            assert len({side[n] for n in group}) == 1, (seed, group, side)
    assert up_to_date(repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "results"], repo)

    # The failures of issue #20, each on top of this finished run.
    # 1. The README's command as it was written: DVC's own parser refuses the unquoted '=' before
    #    any stage runs (its message names no param: `emosteer params check` does, test_inputs.py).
    _refused(
        repo, ["exp", "run", "-S", f"model.panns_checkpoint={ckpt.parent}/Cnn6_mAP=0.343.pth"], "mismatched input '='"
    )
    # 2. A path param naming the wrong kind of thing.
    line, left = _refused(
        repo,
        ["exp", "run", "-S", f"model.panns_checkpoint='{ckpt.parent}'"],
        "emosteer stage check_params: error: params.yaml: model.panns_checkpoint: ",
        "is a folder, expected a PANNs Cnn6 checkpoint file (.pth)",
    )
    assert left  # what the README tells the user to undo (another -S, or git checkout params.yaml)
    # 3. A ratings file with a header row, and 4. ratings on a 1-9 scale, in another folder.
    bad = copy_fixture(tmp_path / "header")
    valence = bad / "Valence.csv"
    valence.write_text("FileName,Rating\n" + valence.read_text())
    _refused(
        repo,
        ["exp", "run", "-S", f"data.path='{bad}'"],
        "params.yaml: data.path: ",
        "Valence.csv: field 'Rating': 'Rating' is not a number at index 0: a header row?",
    )
    nine = copy_fixture(tmp_path / "nine")
    arousal = nine / "Arousal.csv"
    arousal.write_text(
        "".join(
            f"{n},{5 + 4 * float(r):.2f}\n" for n, r in (line.split(",") for line in arousal.read_text().splitlines())
        )
    )
    _refused(
        repo,
        ["exp", "run", "-S", f"data.path='{nine}'"],
        "params.yaml: data.path: ",
        "Arousal.csv: field 'Rating': ",
        "they look like a 1 to 9 scale: set data.rating_range: [1, 9]",
    )
    # 5. The run's own data changed in place (no param changes): check_params runs on every repro
    #    and refuses it before the data stage removes features.h5. Put back, nothing reruns.
    kept = (data / "Arousal.csv").read_bytes()
    shutil.copy(arousal, data / "Arousal.csv")
    _refused(repo, ["repro"], "params.yaml: data.path: ", "set data.rating_range: [1, 9]")
    (data / "Arousal.csv").write_bytes(kept)
    out = run(DVC + ["repro"], repo)
    assert "Stage 'data' didn't change, skipping" in out and "Running stage 'data'" not in out
    # 6. A valid change in place reruns exactly the stage that reads the file: the groups table in
    #    another row order (same groups) reruns prepare_split, whose splits come out the same.
    groups = data / "groups.csv"
    lines = groups.read_text().splitlines()
    groups.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    before = _outputs(repo)
    out = run(DVC + ["repro"], repo)
    assert "Running stage 'prepare_split'" in out
    for stage in ("data", "train", "report"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    changed = {k for k, v in _outputs(repo).items() if before.get(k) != v}
    assert changed <= {"dvc.lock", "data/inputs/data.groups.json"}, changed
