"""The three registries are complete: every grid of params.yaml has its evaluate stage and outputs in
dvc.yaml, every steering method and every data source entry has what the code that derives from
it needs (docs/architecture.md, "How to add ..."). Each check is a function that lists what an
entry lacks, so the tests also show it finding a crafted incomplete entry."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from emosteer.constants import STEER_DIM
from emosteer.data import sources
from emosteer.data.sources.base import Source
from emosteer.data.synth import SynthConfig
from emosteer.evaluation import methods, report
from emosteer.evaluation.evaluate import Clips
from emosteer.grid import Grid
from emosteer.jobs import grids
from emosteer.schema import params
from emosteer.schema.evaluate import Evaluate
from emosteer.steering.signals import aggregate
from tests.emo_fixture import FIXTURE, WINDOW_FRAMES

REPO = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
PER_GRID_OUTS = (
    "metrics/pooled/{}",
    "metrics/seeds/{}.json",
    "plots/strength/{}.csv",
    "plots/predictions/{}.csv",
    "plots/confusion/{}.csv",
    "plots/breakeven/{}.csv",
    "metrics/detection/{}.json",
    "metrics/breakeven/{}.json",
)


# --- grids ----------------------------------------------------------------------------------------


def _template(param: str) -> str:
    """dvc.yaml's name of the grid `param` sets: ${grid}x${grid}, ${steering.grids[1]}x..."""
    return f"${{{param}}}x${{{param}}}"


def grid_gaps(g: grids.RunGrid, stages: dict) -> list[str]:
    """What dvc.yaml lacks for one grid of the run: a stage whose command evaluates its param, the
    param as that stage's dependency, its signals folder as a dependency, its outputs by name."""
    arg = {"grid": "grid"}.get(g.param, repr(g.param))
    found = [n for n, s in stages.items() if s["cmd"] == f"python -m stages.evaluate_steering {arg}"]
    if len(found) != 1:
        return [f"{g.param}: {len(found)} stages run `python -m stages.evaluate_steering {arg}`"]
    stage = stages[found[0]]
    name, dep = _template(g.param), g.param.replace("[", ".").replace("]", "")
    outs = {next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics") for o in stage.get(key, [])}
    gaps = [f"{found[0]}: no param {dep}" for _ in [0] if dep not in stage.get("params", [])]
    gaps += [f"{found[0]}: no dep data/signals/{name}" for _ in [0] if f"data/signals/{name}" not in stage["deps"]]
    gaps += [f"{found[0]}: no out {o.format(name)}" for o in PER_GRID_OUTS if o.format(name) not in outs]
    return gaps


def test_every_grid_of_params_has_its_stage_and_outputs_in_dvc_yaml() -> None:
    p = params.load(REPO / "params.yaml")
    run = grids.grids(p)
    assert [g.name for g in run] == ["3x3", "5x5"] and [g.stage for g in run] == ["evaluate_9bin", "evaluate_25bin"]
    for g in run:
        assert grid_gaps(g, DVC["stages"]) == [], g
        assert g.stage in DVC["stages"]


def test_a_grid_added_without_its_stage_is_caught() -> None:
    extra = grids.RunGrid(7, "steering.grids[1]")
    assert grid_gaps(extra, DVC["stages"]) == [
        "steering.grids[1]: 0 stages run `python -m stages.evaluate_steering 'steering.grids[1]'`"
    ]
    stages = {
        **DVC["stages"],
        "evaluate_49bin": {
            **DVC["stages"]["evaluate_9bin"],
            "cmd": "python -m stages.evaluate_steering 'steering.grids[1]'",
        },
    }
    assert "evaluate_49bin: no param steering.grids.1" in grid_gaps(extra, stages)
    assert "evaluate_49bin: no out metrics/pooled/${steering.grids[1]}x${steering.grids[1]}" in grid_gaps(extra, stages)


def test_grid_names_stages_and_the_report_line_follow_params() -> None:
    p = params.load(REPO / "params.yaml").model_copy(update={"grid": 7})
    g = grids.by_param(p, "grid")
    assert (g.name, g.bins, g.label, g.stage) == ("7x7", 49, "49-bin", "evaluate_25bin")
    assert grids.renamed(p) == [
        "The stage evaluate_25bin keeps the design card's name; it evaluated `grid` = 7: the 7x7 grid, 49 bins."
    ]
    assert grids.renamed(params.load(REPO / "params.yaml")) == []
    assert grids.coarse(p).size == 3 and grids.stage_of("steering.grids[0]") == "evaluate_9bin"


# --- steering methods -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    n = 200
    return aggregate(
        rng.normal(size=(n, STEER_DIM)).astype(np.float32),
        rng.normal(size=(n, STEER_DIM)).astype(np.float32),
        rng.uniform(-1, 1, n),
        rng.uniform(-1, 1, n),
        Grid(3),
    )


def _clips(n: int = 20) -> Clips:
    rng = np.random.default_rng(1)
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return Clips(v, a, v + rng.normal(0, 0.5, n), a + rng.normal(0, 0.5, n), np.empty((n, 16, 64), np.float32))


def method_gaps(m: methods.Method, table, clips: Clips) -> list[str]:
    """What a method entry lacks for the code that derives from it: a label for the report, a
    selection the evaluation knows, signals of the right shape, a target where it selects by a
    point, and an option that names a switch of params' `evaluate` section."""
    gaps = []
    if not m.name or not m.label:
        gaps.append(f"{m.name!r}: no name or label")
    if m.selection not in ("oracle", "predicted", "control"):
        gaps.append(f"{m.name}: selection {m.selection!r}")
    if m.fuses:  # a fusion twin runs no network: it needs a target and a variant it twins
        if not any(methods.fusion_twin(o) is m for o in methods.METHODS.values()):
            gaps.append(f"{m.name}: a fusion twin of no steering method")
        if m.name not in report.LABELS:
            gaps.append(f"{m.name}: not in the report's labels")
    else:
        try:
            sv, sa = m.signals(table, clips, 0)
            if sv.shape != (len(clips.valence), STEER_DIM) or sa.shape != sv.shape:
                gaps.append(f"{m.name}: signals of shape {sv.shape}, {sa.shape}")
        except Exception as exc:  # noqa: BLE001  (any failure is a gap of the entry)
            gaps.append(f"{m.name}: signals fail ({type(exc).__name__}: {exc})")
    if m.selection in methods.SELECTIONS:
        target = m.target(table, clips) if m.interpolation is not None else None
        if target is None or target.shape != (len(clips.valence), 2) or np.abs(target).max() > 1:
            gaps.append(f"{m.name}: no target point in [-1, 1]^2")
    if m.option is not None and m.option not in Evaluate.model_fields:
        gaps.append(f"{m.name}: option {m.option!r} is not a key of params' evaluate section")
    if m.in_table and report.LABELS.get(m.name) != m.label:
        gaps.append(f"{m.name}: not in the report's labels")
    return gaps


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_every_method_entry_is_complete(name: str, table) -> None:
    assert method_gaps(methods.METHODS[name], table, _clips()) == []


def test_every_point_selecting_steering_method_has_a_fusion_twin() -> None:
    """Issue 28: each steering variant that steers toward a point has the twin that moves the
    prediction toward it instead; the controls (no point) have none."""
    for m in methods.METHODS.values():
        twin = methods.fusion_twin(m)
        if m.fuses or m.selection not in methods.SELECTIONS:
            assert twin is None, m.name
        else:
            assert twin is not None and twin.fuses and twin.interpolation is m.interpolation, m.name
            assert twin.selection == m.selection and twin.name == m.name + methods.FUSION


def test_the_method_registry_gives_the_tables_methods_in_order() -> None:
    assert len(set(methods.METHODS)) == len(methods.METHODS)
    assert [m.name for m in methods.table({"bilinear": False})] == [
        "oracle_categorical",
        "oracle_idw",
        "predicted_categorical",
        "predicted_idw",
        "control_shuffled",
        "control_global_mean",
    ]
    assert [m.name for m in methods.per_grid({"bilinear": True})][-1] == "control_shuffled"
    assert methods.twin(methods.METHODS["predicted_idw"], "oracle") is methods.METHODS["oracle_idw"]


def test_an_incomplete_method_is_caught(table) -> None:
    clips = _clips()
    bad = replace(methods.METHODS["oracle_idw"], name="oracle_new", label="", interpolation=None)
    gaps = method_gaps(bad, table, clips)
    assert "'oracle_new': no name or label" in gaps and any("signals fail" in g for g in gaps)
    assert "oracle_new: no target point in [-1, 1]^2" in gaps


# --- data sources ---------------------------------------------------------------------------------


def source_gaps(s: Source, path: Path | None, frames: int) -> list[str]:
    """What a source entry lacks: a path kind the path checks know, a message, options the schema
    holds, and a survey, a clip count and a featurizer that work on a small input of its kind."""
    gaps = []
    if s.path not in (None, "file", "folder") or not s.what:
        gaps.append(f"{s.name}: path kind {s.path!r}, what {s.what!r}")
    if not set(s.options) <= set(sources.OPTION_DEFAULTS):
        gaps.append(f"{s.name}: options {s.options} beyond {tuple(sources.OPTION_DEFAULTS)}")
    synth = SynthConfig(n_clips=6, clip_seconds=0.2, seed=1)
    try:
        found = s.survey(path, frames, (-1.0, 1.0), (), synth, False)
        n, _, counted = s.clips(path, frames, synth)
        if n < found.facts["n_clips"] or not counted:
            gaps.append(f"{s.name}: clips() counts {n}, the survey uses {found.facts['n_clips']}")
    except Exception as exc:  # noqa: BLE001  (any failure is a gap of the entry)
        gaps.append(f"{s.name}: survey or clips fail ({type(exc).__name__}: {exc})")
    return gaps


def _input_of(s: Source, tmp_path: Path) -> tuple[Path | None, int]:
    if s.path == "folder":
        return FIXTURE, WINDOW_FRAMES
    if s.path == "file":
        h5 = tmp_path / "features.h5"
        sources.get("synthetic").featurize(
            None, h5, "panns", None, SynthConfig(n_clips=6, clip_seconds=0.2, seed=1), False
        )
        return h5, 21
    return None, 21


@pytest.mark.parametrize("name", list(sources.SOURCES))
def test_every_source_entry_is_complete(name: str, tmp_path: Path) -> None:
    s = sources.SOURCES[name]
    assert s.name == name
    path, frames = _input_of(s, tmp_path)
    assert source_gaps(s, path, frames) == []
    # the schema takes its name, a path where it reads one and none where it reads none
    raw = params.read_raw(REPO / "params.yaml")
    raw["data"].update(source=name, path=None if path is None else str(path))
    assert params.validate(raw).data.source == name
    raw["data"]["path"] = None if path is not None else str(tmp_path)
    with pytest.raises(Exception, match="data.path"):
        params.validate(raw)


def test_an_incomplete_source_is_caught(tmp_path: Path) -> None:
    base = sources.SOURCES["features_h5"]
    bad = replace(base, name="wav_folder", path="disk", what="", options=("loudness",))
    gaps = source_gaps(bad, tmp_path / "missing.h5", 21)
    assert gaps[0] == "wav_folder: path kind 'disk', what ''"
    assert gaps[1].startswith("wav_folder: options ('loudness',)") and "survey or clips fail" in gaps[2]


def test_no_module_dispatches_on_a_source_name() -> None:
    """Only the sources' own modules name a source: elsewhere a source is looked up by params'
    data.source (`sources.get`), never compared with a literal name."""
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?["'](synthetic|features_h5|emo_soundscapes)["']""")
    found = [
        f"{f.relative_to(REPO)}:{i}"
        for f in sorted((REPO / "src" / "emosteer").rglob("*.py"))
        if "sources" not in f.parts
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
