"""Stage-level checks that need no model: the signal tables come from training clips only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emosteer import pipeline
from emosteer.data import split
from emosteer.errors import EmosteerError
from emosteer.jobs import tables
from emosteer.model import activations
from emosteer.schema import params

REPO = Path(__file__).resolve().parents[1]


def _activations(n: int, seed: int) -> activations.Activations:
    rng = np.random.default_rng(seed)
    v, a = rng.uniform(-1, 1, n).astype(np.float32), rng.uniform(-1, 1, n).astype(np.float32)
    return activations.Activations(
        names=[f"clip{i}" for i in range(n)],
        valence=v,
        arousal=a,
        pred_valence=(v * 0.5).astype(np.float32),
        pred_arousal=(a * 0.5).astype(np.float32),
        valence_128d=rng.random((n, 128), dtype=np.float32),
        arousal_128d=rng.random((n, 128), dtype=np.float32),
        forward_passes=2,
        activations_pass=1,
        pass1_valence=(v * 0.4).astype(np.float32),
        pass1_arousal=(a * 0.4).astype(np.float32),
    )


SEED = pipeline.SeedPaths(0)


def _signal_bytes() -> dict[str, bytes]:
    return {f"{w}.{s}": SEED.signals(w, s).read_bytes() for w in ("3x3", "5x5") for s in ("h5", "json")}


def test_validation_rows_cannot_change_the_signal_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    raw = params.load(REPO / "params.yaml").model_copy(update={"seeds": [0]})
    n = 120
    acts = _activations(n, seed=0)
    names = acts.names
    parts = split.make_split(names, acts.valence, acts.arousal, seed=0)
    split.write_split(SEED.split, parts, names, {"seed": 0})
    SEED.model.parent.mkdir(parents=True)
    SEED.model.write_bytes(b"a model file: its sha256 goes into the tables' provenance")
    activations.write(SEED.activations, acts)
    tables.bin_seed(0, raw)
    before = _signal_bytes()
    assert set(before) == {"3x3.h5", "3x3.json", "5x5.h5", "5x5.json"}

    # Change every validation and dev clip's activations and labels; train rows stay as they were.
    held_out = np.array(parts["val"] + parts["dev"])
    other = _activations(n, seed=1)
    changed = {k: getattr(acts, k).copy() for k in ("valence", "arousal", "valence_128d", "arousal_128d")}
    for k in changed:
        changed[k][held_out] = getattr(other, k)[held_out]
    activations.write(
        SEED.activations,
        activations.Activations(
            names=names,
            pred_valence=acts.pred_valence,
            pred_arousal=acts.pred_arousal,
            pass1_valence=acts.pass1_valence,
            pass1_arousal=acts.pass1_arousal,
            forward_passes=2,
            activations_pass=1,
            **changed,
        ),
    )
    tables.bin_seed(0, raw)
    assert _signal_bytes() == before

    # And the check can fail: changing one training clip changes the tables.
    changed["valence_128d"][parts["train"][0]] += 1.0
    activations.write(
        SEED.activations,
        activations.Activations(
            names=names,
            pred_valence=acts.pred_valence,
            pred_arousal=acts.pred_arousal,
            pass1_valence=acts.pass1_valence,
            pass1_arousal=acts.pass1_arousal,
            forward_passes=2,
            activations_pass=1,
            **changed,
        ),
    )
    tables.bin_seed(0, raw)
    assert _signal_bytes() != before


from stages import (  # noqa: E402
    bin_and_aggregate,
    check_params,
    data,
    evaluate_baseline,
    evaluate_steering,
    extract_activations,
    prepare_split,
    report,
    steerability,
    train,
)

STAGE_MODULES = (
    check_params,
    data,
    prepare_split,
    train,
    extract_activations,
    bin_and_aggregate,
    evaluate_baseline,
    evaluate_steering,
    report,
    steerability,
)


@pytest.mark.parametrize("module", STAGE_MODULES, ids=lambda m: m.__name__)
def test_each_stage_schema_reads_the_repo_params_and_its_sections_only(module) -> None:
    """A stage's main takes its schema (the params.yaml sections it reads): it loads the repo's
    params.yaml, holds exactly what the whole file holds for those sections, and nothing else."""
    import typing

    from emosteer.schema import base

    schema = typing.get_type_hints(module.main)["p"]
    got = base.load(schema, REPO / "params.yaml")
    whole = params.load(REPO / "params.yaml")
    for name in schema.model_fields:
        assert getattr(got, name) == getattr(whole, name), name
    assert (schema is params.Params) == (module is check_params)  # the whole file: check_params only


@pytest.mark.parametrize("module", STAGE_MODULES, ids=lambda m: m.__name__)
def test_each_stage_refuses_an_unknown_top_level_key(module, tmp_path) -> None:
    """`gird: 7` appended to params.yaml stops every stage's schema in one line naming the key, not
    only the whole-file check (a stage validates its own sections and used to drop the rest)."""
    import typing

    from emosteer.schema import base

    schema = typing.get_type_hints(module.main)["p"]
    bad = tmp_path / "params.yaml"
    bad.write_text((REPO / "params.yaml").read_text() + "gird: 7\n")
    with pytest.raises(EmosteerError, match=r"params.yaml: gird: unknown key \(did you mean grid\?\)$"):
        base.load(schema, bad)


def test_the_check_params_stage_refuses_a_top_level_typo_before_writing(tmp_path) -> None:
    """The stage module itself, as dvc runs it: exit 2, one line, and no output written."""
    import os
    import subprocess
    import sys

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text() + "gird: 7\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "stages.check_params"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr == ("emosteer stage check_params: error: params.yaml: gird: unknown key (did you mean grid?)\n")
    assert not (tmp_path / "data").exists()
