"""emosteer.jobs.cost: the workload is counted as the stages run it, the estimate is rounds x passes x the
measured pass time, the notice appears only above its threshold, and `emosteer estimate` works.
Mixed precision that cannot run is refused before any stage removes an output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from emosteer.commands.cli import main as cli_main
from emosteer.data import split
from emosteer.errors import EmosteerError
from emosteer.jobs import cost, steerability
from emosteer.runtime import autocast, check_amp
from emosteer.schema import params
from stages import check_params
from tests.pipeline_copy import env

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def p() -> params.Params:
    return params.load(REPO / "params.yaml")


def with_(p: params.Params, **sections: dict) -> params.Params:
    """params with some fields of sections replaced (top-level fields as plain values)."""
    update = {}
    for key, value in sections.items():
        if isinstance(value, dict):
            update[key] = getattr(p, key).model_copy(update=value)
        else:
            update[key] = value
    return p.model_copy(update=update)


def test_default_workload_is_the_readme_count(p: params.Params) -> None:
    """600 clips: 357 train, 63 dev, 180 val per seed. Training: BatchNorm calibration (357), pass 1
    for the ridge and the cache (357 + 63 dev), a budget of 5 epochs of 357 steps of 2 passes and
    63 dev passes each, 63 more for the start (epoch 0, scored with patience); the one-pass twin
    reads the cached pass 1 and runs no conv: 4725. Extraction 2 x 600 and the twin's 600;
    evaluate: 3 strengths x 63 dev clips and 180 val clips, times 1 (the global-mean control) or 5
    variants, and the permuted-feedback control's 2 passes of the 180 val clips; steerability 9
    bins x 180 in 3 tasks. 62,820 over 5 seeds at most; early stopping ends training sooner."""
    assert cost.split_sizes(600, p) == (357, 63, 180)
    phases = [(ph.stage, ph.tasks, ph.passes) for ph in cost.workload(p, 600)]
    assert phases == [
        ("train", 1, 4725),
        ("extract_activations", 1, 1800),
        ("evaluate_baseline", 3, 63),
        ("evaluate_baseline", 1, 180),
        ("evaluate_baseline", 1, 360),
        ("evaluate_9bin", 3, 315),
        ("evaluate_9bin", 1, 900),
        ("evaluate_25bin", 3, 315),
        ("evaluate_25bin", 1, 900),
        ("steerability", 3, 540),
    ]
    assert cost.estimate(p, 0.02, cost.Shape(600, 101, "test")).passes == 62_820


def test_fan_out_restated_in_cost_equals_the_experiments() -> None:
    assert cost.STEERABILITY_PARTS == steerability.STEERABILITY_PARTS


def test_each_steering_method_adds_its_passes(p: params.Params) -> None:
    """The evaluate stages' passes follow the methods' registry: bilinear on adds one oracle and
    one predicted method per grid, none to the baseline stage."""
    on = p.model_copy(update={"evaluate": p.evaluate.model_copy(update={"bilinear": True})})
    _, _, n_val = cost.split_sizes(600, p)
    grid = [(ph.stage, ph.passes) for ph in cost.workload(p, 600) if ph.stage == "evaluate_9bin"]
    grid_on = [(ph.stage, ph.passes) for ph in cost.workload(on, 600) if ph.stage == "evaluate_9bin"]
    assert grid_on[-1][1] - grid[-1][1] == 2 * n_val
    assert [ph for ph in cost.workload(on, 600) if ph.stage == "evaluate_baseline"] == [
        ph for ph in cost.workload(p, 600) if ph.stage == "evaluate_baseline"
    ]


@pytest.mark.parametrize("n", [40, 600, 1213])
@pytest.mark.parametrize("mode", ["group", "original"])
def test_split_sizes_equal_prepare_splits(p: params.Params, n: int, mode: str) -> None:
    rng = np.random.default_rng(n)
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    parts = split.make_split(
        [f"c{i}" for i in range(n)],
        v,
        a,
        p.split.val_fraction,
        p.split.dev_fraction,
        seed=3,
        mode=mode,
        stratify_grid=p.steering.grids[0],
    )
    q = with_(p, split={"mode": mode})
    assert cost.split_sizes(n, q) == (len(parts["train"]), len(parts["dev"]), len(parts["val"]))


def test_training_passes_follow_the_model_params(p: params.Params) -> None:
    assert cost.train_passes(p, 357, 63) == 4725
    panns = with_(p, model={"panns_checkpoint": "x.pth"})  # no BatchNorm calibration
    assert cost.train_passes(panns, 357, 63) == 4725 - 357
    assert cost.train_passes(with_(p, model={"trained_checkpoint": "m.pt"}), 357, 63) == 0
    last = with_(p, train={"epochs": 3, "patience": None})  # no epoch 0 scored
    assert cost.train_passes(last, 357, 63) == 357 + 420 + 3 * (357 * 2 + 63)
    eager = with_(last, train={"cache_first_pass": False, "heads": "trained"})  # both passes every step
    # ... and the one-pass twin its one pass every step
    assert cost.train_passes(eager, 357, 63) == 357 + 3 * (357 * 2 * 2 + 63 * 2) + 3 * (357 * 2 + 63)
    one = with_(eager, model={"forward_passes": 1})  # no twin beside a model without feedback
    assert cost.train_passes(one, 357, 63) == 357 + 3 * (357 * 2 + 63)


def test_steering_passes(p: params.Params) -> None:
    assert cost.steered_passes(p) == 1  # alpha 1, first pass steered: pass 2 reuses pass 1
    assert cost.steered_passes(with_(p, steering={"alpha": 0.5})) == 2
    assert cost.steered_passes(with_(p, steering={"first_pass": False})) == 2
    fixed = with_(p, steering={"strength": 5.0})  # no dev strength search
    assert [ph.stage for ph in cost.workload(fixed, 600)].count("evaluate_9bin") == 1


def test_estimate_is_rounds_of_tasks_times_the_pass_time(p: params.Params) -> None:
    shape = cost.Shape(600, 101, "test")
    est = cost.estimate(with_(p, workers=1), 0.01, shape)
    assert est.stages["train"] == pytest.approx(5 * 4725 * 0.01)  # one worker: 5 seeds in a row
    assert est.stages["evaluate_9bin"] == pytest.approx((15 * 315 + 5 * 900) * 0.01)
    two = cost.estimate(p, 0.01, shape)  # 2 workers: 3 rounds of seeds, 8 of 15 (seed, strength) tasks
    assert two.stages["train"] == pytest.approx(3 * 4725 * 0.01)
    assert two.stages["evaluate_9bin"] == pytest.approx((8 * 315 + 3 * 900) * 0.01)
    assert two.total < est.total


def test_clip_count_of_each_source(p: params.Params, tmp_path: Path) -> None:
    assert cost.data_shape(p) == cost.Shape(600, 101, "synthetic")
    seg = with_(p, data=p.data.model_copy(update={"synthetic": p.data.synthetic.model_copy(update={"segments": 3})}))
    assert cost.data_shape(seg).clips == 1800

    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f["feature"] = np.zeros((7, 33, 64), np.float32)
        f["valence"] = f["arousal"] = np.zeros(7, np.float32)
        f["audio_name"] = np.array([f"c{i}.wav".encode() for i in range(7)])
    shape = cost.data_shape(with_(p, data={"source": "features_h5", "path": str(h5), "frames": 101}))
    assert (shape.clips, shape.frames) == (7, 33)  # the file's own frames: data.frames is for audio

    root = tmp_path / "emo"
    (root / "ratings").mkdir(parents=True)
    (root / "ratings" / "Valence.csv").write_text('a.wav,0.1\nb.wav,0.2\n"c, with comma.wav",0.3\nonly_v.wav,0\n')
    (root / "ratings" / "Arousal.csv").write_text('b.wav,0.5\na.wav,-0.5\n"c, with comma.wav",0.1\n')
    emo = with_(p, data={"source": "emo_soundscapes", "path": str(root), "frames": 601})
    assert (cost.data_shape(emo).clips, cost.data_shape(emo).frames) == (3, 601)
    (root / "ratings" / "Arousal.csv").unlink()
    with pytest.raises(EmosteerError, match="no Arousal.csv"):
        cost.data_shape(emo)


def test_calibration_measures_a_positive_time() -> None:
    seconds = cost.calibrate(24, 1, "cpu", "off")
    assert 0 < seconds < 1


def test_calibration_times_a_bounded_sample_and_scales_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run at T = 6001 (the bound) is timed at CALIBRATION_MAX_FRAMES and scaled by T / that:
    the sample's size, not the run's, is what calibrating costs."""
    from emosteer.model.lrm import EmotionLRM

    seen: list[tuple[int, ...]] = []
    forward = EmotionLRM.forward

    def recording(self, x, *args, **kwargs):
        seen.append(tuple(x.shape))
        return forward(self, x, *args, **kwargs)

    monkeypatch.setattr(EmotionLRM, "forward", recording)
    monkeypatch.setattr(cost.time, "process_time", iter(float(i) for i in range(100)).__next__)
    seconds = cost.calibrate(6001, 1, "cpu", "off")
    assert {shape[1] for shape in seen} == {cost.CALIBRATION_MAX_FRAMES}
    clips = seen[0][0]
    assert clips == 2  # 1200 clip-frames at 601 frames
    assert seconds == pytest.approx(1.0 / clips * 6001 / cost.CALIBRATION_MAX_FRAMES)  # each call: 1 s


def test_estimate_ends_on_sigterm_while_calibrating(tmp_path: Path) -> None:
    """SIGTERM during calibration: one line, exit 143 (the calls are short, so Python's handler
    runs between two of them)."""
    import signal

    script = (
        "import sys; from emosteer import errors; from emosteer.jobs import cost\n"
        "def forever():\n"
        "    while True:\n"
        "        cost.calibrate(6001, 1, 'cpu', 'off'); print('calibrated', flush=True)\n"
        "sys.exit(errors.run('emosteer estimate', forever))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )
    try:
        assert proc.stdout.readline() == "calibrated\n"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)  # a guard against a hang, not a time limit on the test
    finally:
        proc.kill()
    assert (
        proc.returncode == 143
        and err.strip() == "emosteer estimate: stopped by SIGTERM; its temporary files were removed"
    )


def test_size_params_are_bounded_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's values: each refused by params check in one line naming the key."""
    for override, key in (
        ("data.frames=1000000", "data.frames"),
        ("data.synthetic.n_clips=100000000", "data.synthetic.n_clips"),
        ("data.synthetic.clip_seconds=1e9", "data.synthetic.clip_seconds"),
        ("data.synthetic.segments=1000000", "data.synthetic.segments"),
        ("train.epochs=100000", "train.epochs"),
        ("train.batch_size=100000", "train.batch_size"),
        ("evaluate.batch_size=100000", "evaluate.batch_size"),
        ("model.forward_passes=1000", "model.forward_passes"),
    ):
        for command in (["params", "check"], ["estimate"]):
            assert cli_main([*command, "--params", str(REPO / "params.yaml"), "-S", override]) == 2, override
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"params.yaml: {key}: Input should be less than or equal to" in err, err
    assert (
        cli_main(
            [
                "params",
                "check",
                "--params",
                str(REPO / "params.yaml"),
                "-S",
                "data.synthetic.n_clips=50000",
                "-S",
                "data.synthetic.segments=10",
            ]
        )
        == 2
    )
    assert "n_clips x segments = 50000 x 10 = 500000 rows, more than 100000" in capsys.readouterr().err


def test_notice_only_above_the_threshold(
    p: params.Params, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_calibration(*args: object) -> float:
        raise AssertionError("a run this small needs no calibration")

    tiny = with_(
        p,
        seeds=[0],
        data=p.data.model_copy(update={"frames": 24, "synthetic": p.data.synthetic.model_copy(update={"n_clips": 48})}),
    )
    monkeypatch.setattr(cost, "calibrate", no_calibration)
    assert cost.notice(tiny) is None and capsys.readouterr().err == ""

    monkeypatch.setattr(cost, "calibrate", lambda *args: 0.001)  # fast: 10 s in all, said nothing
    assert cost.notice(p).total < cost.NOTICE_SECONDS and capsys.readouterr().err == ""

    monkeypatch.setattr(cost, "calibrate", lambda *args: 0.1)  # slow: announced, with the ways out
    cost.notice(p)
    err = capsys.readouterr().err
    assert err.startswith("cost: this run computes about 62,820 clip-passes (5 seeds x 600 clips x 101 frames)")
    assert "-S 'seeds=[0]'" in err and "device: cuda" in err and "docs/scale.md" in err


def test_check_params_announces_before_writing(
    p: params.Params, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cost, "calibrate", lambda *args: 0.1)
    check_params.main(p)
    assert "cost: this run" in capsys.readouterr().err
    assert (tmp_path / "data" / "params.ok").read_text() == "params.yaml: valid\n"


def test_estimate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(
        [
            "estimate",
            "--params",
            str(REPO / "params.yaml"),
            "-S",
            "seeds=[0]",
            "-S",
            "data.synthetic.n_clips=40",
            "-S",
            "data.frames=24",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "(1 seed x 40 clips x 24 frames)" in out and "train" in out
    assert cli_main(["estimate", "--params", str(REPO / "params.yaml"), "-S", "gird=7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emosteer estimate: error: ") and err.endswith(
        "-S gird: not a key of params.yaml, so DVC refuses to override it (mistyped?)\n"
    )
    assert cli_main(["estimate", "--params", str(REPO / "params.yaml"), "-S", "grid"]) == 2
    assert capsys.readouterr().err == (
        "emosteer estimate: error: -S grid: DVC cannot parse this override (Error parsing "
        "override 'grid'); an override is KEY=VALUE\n"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal on a machine without CUDA")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_refused_on_the_cpu_in_one_line(
    p: params.Params, amp: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmosteerError) as info:
        check_params.main(with_(p, amp=amp))  # device auto resolves to the CPU here
    assert str(info.value).startswith(f"amp: {amp} is mixed precision on CUDA, and this run computes on the cpu")
    assert not (tmp_path / "data" / "params.ok").exists()
    with pytest.raises(EmosteerError, match=f"amp: {amp}"):
        with autocast(torch.device("cpu"), amp):
            pass
    check_amp(torch.device("cpu"), "off")  # float32 on the CPU is fine


@pytest.mark.slow
def test_real_size_stand_in_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """bench/real_size.py (the integrator runs it at 1213 x 601): every stage timed beside the
    estimate, a 5-seed projection, and the pipeline's outputs in its copy."""
    workdir = tmp_path / "stand-in"
    proc = subprocess.run(
        [
            sys.executable,
            REPO / "bench" / "real_size.py",
            workdir,
            "--clips",
            "40",
            "--frames",
            "24",
            "-S",
            "evaluate.n_boot=100",
            "-S",
            "steering.strengths=[1.0,5.0]",
            "-S",
            "train.epochs=1",
        ],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout.split("\nstage ", 1)[1].splitlines()
    stages = [line.split()[0] for line in table[1:-1]]
    assert stages == list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]) + ["total"]
    assert "5 seeds (workers 2, threads 1): " in proc.stdout
    assert (workdir / "metrics" / "headline.json").is_file()
    p = params.load(workdir / "params.yaml")
    assert p.seeds == [0] and p.data.frames == 24 and p.data.synthetic.n_clips == 40
