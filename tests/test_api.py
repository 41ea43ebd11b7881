"""emosteer.api, the notebook's entry: a run's seeds, models, signals, predictions and results, the
same numbers and the same one-line errors as `emosteer predict`; and examples/steer_a_clip.ipynb,
executed on the committed audio fixture."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from emosteer import api
from emosteer.commands import predict as predict_cli
from emosteer.constants import SAMPLE_RATE
from emosteer.data.frontend import load_audio
from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.jsonsafe import read_metrics
from emosteer.model.checkpoints import save_model
from emosteer.model.lrm import EmotionLRM
from emosteer.steering.signals import Provenance, aggregate, write_json

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests/fixtures/emo_soundscapes/600_Sounds"
NOTEBOOK = REPO / "examples/steer_a_clip.ipynb"


def make_run(root: Path) -> Path:
    """A checkout as `dvc repro` leaves it, in small: the committed params.yaml and metrics/, and
    for seed 0 only a model (random weights: nothing downloaded) and 3x3 and 5x5 signal tables."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    shutil.copytree(REPO / "metrics", root / "metrics")
    torch.manual_seed(0)
    model_file = root / "data/models/s0.pt"
    model_file.parent.mkdir(parents=True)
    save_model(EmotionLRM().eval(), model_file, {"note": "test"})
    rng = np.random.default_rng(0)
    v, a = rng.uniform(-1, 1, 80), rng.uniform(-1, 1, 80)
    acts = rng.uniform(0, 1, (80, 128)).astype(np.float32)
    for g in (3, 5):
        path = root / f"data/signals/{g}x{g}/s0.json"
        path.parent.mkdir(parents=True)
        table = aggregate(acts, acts[::-1].copy(), v, a, Grid(g), min_count=1)
        write_json(table, path, Provenance.of_model(model_file, split="train", seed=0))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> api.Run:
    return api.open_run(make_run(tmp_path_factory.mktemp("run")))


def _cli(tmp: Path, *argv: str) -> pd.DataFrame:
    """`emosteer predict` itself, its CSV read back."""
    parser = argparse.ArgumentParser(prog="emosteer")
    predict_cli.register(parser.add_subparsers(dest="command", required=True))
    out = tmp / "p.npz"
    args = parser.parse_args(["predict", *argv, "--out", str(out)])
    args.func(args)
    return pd.read_csv(out.with_suffix(".csv"))


def test_seeds_model_and_signals(run: api.Run) -> None:
    assert run.seeds == [0, 1, 2, 3, 4]  # params.yaml's
    model, meta = run.model(0)
    assert isinstance(model, EmotionLRM) and meta["note"] == "test"
    table = run.signals(0, grid=5)
    assert table.grid.size == 5 and table.valence.shape == (25, 128)


def test_predict_is_the_commands_prediction(run: api.Run, tmp_path: Path) -> None:
    clip = CLIPS / "s01.wav"
    ckpt, table = str(run.model_path(0)), str(run.signals_path(0, 3))
    got = run.predict(clip)
    want = _cli(tmp_path, "--checkpoint", ckpt, "--audio", str(clip))
    assert list(got.columns) == ["audio_name", "valence", "arousal"]
    np.testing.assert_allclose(got[["valence", "arousal"]], want[["valence", "arousal"]], atol=1e-6)
    # bin (valence 2, arousal 0) of 3x3 is the original's positive_weak; target and strength as flags
    steered = run.predict(clip, bin=(2, 0), strength=2)
    want = _cli(
        tmp_path,
        "--checkpoint",
        ckpt,
        "--audio",
        str(clip),
        "--steering-json",
        table,
        "--category",
        "positive_weak",
        "--strength",
        "2",
    )
    np.testing.assert_allclose(steered[["valence", "arousal"]], want[["valence", "arousal"]], atol=1e-6)
    toward = run.predict(clip, target=(-0.5, 0.2), strength=(0.5, 2))
    want = _cli(
        tmp_path,
        "--checkpoint",
        ckpt,
        "--audio",
        str(clip),
        "--steering-json",
        table,
        "--target=-0.5,0.2",
        "--strength=0.5,2",
    )
    np.testing.assert_allclose(toward[["valence", "arousal"]], want[["valence", "arousal"]], atol=1e-6)
    assert not np.allclose(steered[["valence", "arousal"]], got[["valence", "arousal"]])


def test_a_waveform_predicts_as_its_file(run: api.Run) -> None:
    clip = CLIPS / "s01.wav"  # 32 kHz mono: the waveform the front end reads from it
    by_file = run.predict(clip, bin=(0, 1))
    by_wave = run.predict(load_audio(clip), bin=(0, 1))
    assert list(by_wave["audio_name"]) == ["waveform"]
    np.testing.assert_allclose(by_wave[["valence", "arousal"]], by_file[["valence", "arousal"]], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"seed": 7}, r"seed 7: not a seed of this run \(params.yaml seeds: \[0, 1, 2, 3, 4\]\)"),
        ({"seed": 1}, r"data/models/s1.pt: no such file \(the seed's trained model; `dvc repro` or `dvc pull`"),
        ({"bin": (3, 0)}, r"bin: \(3, 0\) is not a bin of the 3x3 grid \(two integers in 0..2\)"),
        ({"bin": (0, 0), "target": (0.0, 0.0)}, "predict: bin and target are two ways to steer; give one"),
        # the command's own messages: its parser's (prefixed predict:) and its checks'
        ({"target": (1.5, 0.0)}, r"predict: argument --target: V and A must be in \[-1, 1\], got '1.5,0.0'"),
        ({"strength": float("nan")}, r"--strength: Input should be a finite number"),
        ({"interpolation": "idw"}, "predict: --interpolation applies to --target only"),
        ({"grid": 7, "bin": (0, 0)}, r"data/signals/7x7/s0.json: no such file"),
    ],
)
def test_bad_input_is_one_line(run: api.Run, kwargs: dict, message: str) -> None:
    with pytest.raises(EmosteerError, match=message) as caught:
        run.predict(CLIPS / "s01.wav", **kwargs)
    assert "\n" not in str(caught.value)


def test_bad_waveforms_and_files(run: api.Run, tmp_path: Path) -> None:
    with pytest.raises(EmosteerError, match="waveform: sample_rate 44100 Hz, the front end takes 32000"):
        run.predict(np.zeros(4410, np.float32), sample_rate=44100)
    with pytest.raises(EmosteerError, match=r"waveform: expected a non-empty mono \(1-D\) float array"):
        run.predict(np.zeros((2, SAMPLE_RATE), np.float32))
    with pytest.raises(EmosteerError, match=r"waveform: nan \(not finite\) at index 3"):
        run.predict(np.array([0, 0, 0, np.nan], np.float32))
    with pytest.raises(EmosteerError, match="no such audio file or folder"):
        run.predict(tmp_path / "missing.wav")
    with pytest.raises(EmosteerError, match=r"params.yaml: file not found \(open_run takes a checkout"):
        api.open_run(tmp_path)


def test_results_are_the_committed_tables(run: api.Run) -> None:
    tables = run.results()
    verdicts, pooled, baseline = tables["verdicts"], tables["pooled"], tables["baseline"]
    row = verdicts.query("grid == '5x5' and method == 'oracle_categorical' and dim == 'arousal'").iloc[0]
    headline = read_metrics(REPO / "metrics/verdicts.json")["5x5"]["oracle_categorical"]["arousal"]
    assert (row.verdict, row.verdict_corrected, row.dr) == (
        headline["verdict"],
        headline["verdict_corrected"],
        headline["dr"],
    )
    # 5 methods and 4 fusion twins at 3x3 and 5x5, the global mean and the feedback row, 2 dims
    assert len(verdicts) == 2 * 20
    p = pooled.query("grid == '3x3' and method == 'predicted_idw' and dim == 'valence'").iloc[0]
    committed = read_metrics(REPO / "metrics/pooled/3x3/predicted_idw.json")
    assert (p.dr, p.dr_lo, p.dr_hi, p.verdict) == (
        committed["valence_dr"],
        committed["valence_dr_lo"],
        committed["valence_dr_hi"],
        committed["valence_verdict"],
    )
    committed = read_metrics(REPO / "metrics/pooled/baseline.json")
    assert list(baseline["seed"]) == [0, 1, 2, 3, 4]
    assert list(baseline["arousal_r"]) == committed["arousal_r_per_seed"]


@pytest.mark.slow  # a kernel and 16 predictions: 33 s of CPU on the 2-core machine
def test_the_notebook_runs_on_the_fixture(run: api.Run) -> None:
    """examples/steer_a_clip.ipynb, every cell executed in a fresh kernel on the committed fixture
    clip and the small run above (EMOSTEER_RUN; by default it opens the checkout it sits in)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"EMOSTEER_RUN": str(run.root)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them
    try:
        nbclient.NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the shift per bin and the target sweep
