"""Replication over seeds from a fabricated `dvc exp show --json` (DVC 3's shape)."""

from __future__ import annotations

import argparse
import copy
import json
import re

import numpy as np
import pytest

from emosteer.evaluation import replicate
from emosteer.errors import EmosteerError

PARAMS = {"seed": 0, "grid": 5, "steering": {"coarse_grid": 3, "strength": "dev", "strengths": [1.0, 5.0]},
          "evaluate": {"n_boot": 1000, "bilinear": True}}

FINE = "metrics/fine/oracle_categorical.json"
COARSE = "metrics/coarse/predicted_idw.json"


def _method(name: str, bins: int, v: tuple[float, float, float], a: tuple[float, float, float]) -> dict:
    return {"method": name, "bins": bins, "grid": int(round(bins ** 0.5)),
            "valence_dr": v[0], "valence_dr_lo": v[1], "valence_dr_hi": v[2],
            "arousal_dr": a[0], "arousal_dr_lo": a[1], "arousal_dr_hi": a[2]}


def _data(seed: int, fine_v, fine_a, coarse_v, coarse_a, **override) -> dict:
    params = copy.deepcopy(PARAMS)
    params["seed"] = seed
    params.update(override)
    return {
        "rev": f"{seed:040d}", "timestamp": "2024-01-01T00:00:00", "meta": {"has_checkpoints": False},
        "params": {"params.yaml": {"data": params}},
        "metrics": {
            "metrics/train.json": {"data": {"best_epoch": 3, "valence_dr": 9.0}},  # not a method
            "metrics/baseline/baseline.json": {"data": {"valence_r": 0.7, "arousal_r": 0.7}},
            FINE: {"data": _method("oracle_categorical", 25, fine_v, fine_a)},
            COARSE: {"data": _method("predicted_idw", 9, coarse_v, coarse_a)},
        },
        "deps": {}, "outs": {},
    }


def _exp(name: str, data: dict, error: dict | None = None) -> dict:
    return {"revs": [{"rev": data["rev"], "name": name, "data": data, "error": error,
                      "experiments": None}],
            "executor": None, "name": name}


# (fine valence Δr, lo, hi), (fine arousal ...), (coarse valence ...), (coarse arousal ...)
SEEDS = {
    0: ((0.030, 0.010, 0.050), (0.040, 0.020, 0.060), (0.000, -0.010, 0.010), (-0.020, -0.030, -0.010)),
    1: ((0.020, -0.001, 0.041), (0.050, 0.030, 0.070), (0.010, -0.005, 0.025), (-0.010, -0.020, 0.001)),
    2: ((0.040, 0.020, 0.060), (0.030, 0.010, 0.050), (-0.010, -0.020, 0.000), (-0.030, -0.040, -0.020)),
}


def records() -> list[dict]:
    workspace = {"rev": "workspace", "name": None, "error": None, "experiments": None,
                 "data": _data(9, *SEEDS[0])}  # a dirty workspace must not count
    commit = {"rev": "c" * 40, "name": "main", "error": None, "data": _data(0, *SEEDS[0]),
              "experiments": [
                  _exp("exp-seed1", _data(1, *SEEDS[1])),
                  _exp("exp-grid7", _data(3, *SEEDS[2], grid=7)),  # other non-seed param
                  _exp("exp-seed2", _data(2, *SEEDS[2])),
                  _exp("exp-seed1-again", _data(1, *SEEDS[2])),  # duplicate seed: first one kept
                  _exp("exp-failed", _data(4, *SEEDS[2]), error={"msg": "boom", "type": "ReproductionError"}),
              ]}
    return [workspace, commit]


def test_select_runs_keeps_one_run_per_seed_with_the_commits_params():
    runs, skipped = replicate.select_runs(records())
    assert [r.params["seed"] for r in runs] == [0, 1, 2]
    assert [r.name for r in runs] == ["main", "exp-seed1", "exp-seed2"]
    assert skipped == ["exp-grid7 (other params)", "exp-seed1-again (seed 1 again; exp-seed1 kept)",
                       "exp-failed (failed: boom)"]
    assert all(FINE in r.metrics and r.metrics[FINE]["method"] == "oracle_categorical" for r in runs)


def test_select_runs_compares_nested_params():
    recs = records()
    nested = copy.deepcopy(PARAMS["steering"])
    nested["strengths"] = [5.0]
    recs[1]["experiments"].append(_exp("exp-strength", _data(5, *SEEDS[2], steering=nested)))
    runs, skipped = replicate.select_runs(recs)
    assert "exp-strength (other params)" in skipped and 5 not in [r.params["seed"] for r in runs]


def test_select_runs_without_a_committed_result_is_one_clear_error():
    recs = records()
    recs[1]["data"]["metrics"] = {}
    with pytest.raises(EmosteerError, match="no commit with metrics"):
        replicate.select_runs(recs)
    with pytest.raises(EmosteerError):
        replicate.select_runs([records()[0]])  # only the workspace


def test_summarise_mean_sd_and_ci_counts():
    runs, _ = replicate.select_runs(records())
    rows = replicate.summarise(runs)
    assert [(r["file"], r["dimension"]) for r in rows] == [
        (COARSE, "valence"), (COARSE, "arousal"), (FINE, "valence"), (FINE, "arousal")]
    by = {(r["file"], r["dimension"]): r for r in rows}
    for (f, dim), col in (((FINE, "valence"), 0), ((FINE, "arousal"), 1),
                          ((COARSE, "valence"), 2), ((COARSE, "arousal"), 3)):
        r = by[(f, dim)]
        dr = np.array([SEEDS[s][col][0] for s in (0, 1, 2)])
        assert r["n_seeds"] == 3
        assert r["mean_dr"] == pytest.approx(dr.mean())
        assert r["sd_dr"] == pytest.approx(np.std(dr, ddof=1))
        assert r["ci_above_zero"] == sum(SEEDS[s][col][1] > 0 for s in (0, 1, 2))
        assert r["ci_below_zero"] == sum(SEEDS[s][col][2] < 0 for s in (0, 1, 2))
    assert (by[(FINE, "valence")]["ci_above_zero"], by[(FINE, "valence")]["ci_below_zero"]) == (2, 0)
    assert (by[(FINE, "arousal")]["ci_above_zero"], by[(FINE, "arousal")]["ci_below_zero"]) == (3, 0)
    assert (by[(COARSE, "arousal")]["ci_above_zero"], by[(COARSE, "arousal")]["ci_below_zero"]) == (0, 2)
    assert by[(FINE, "valence")]["method"] == "oracle_categorical" and by[(FINE, "valence")]["bins"] == 25
    assert by[(COARSE, "valence")]["bins"] == 9


def test_summarise_one_seed_has_no_sd():
    runs, _ = replicate.select_runs(records())
    rows = replicate.summarise(runs[:1])
    assert all(r["n_seeds"] == 1 and np.isnan(r["sd_dr"]) for r in rows)


def test_render_table():
    runs, skipped = replicate.select_runs(records())
    text = replicate.render(replicate.summarise(runs), runs, skipped)
    assert "Seeds: 0, 1, 2 (3 runs" in text
    assert "Skipped: exp-grid7 (other params); exp-seed1-again (seed 1 again; exp-seed1 kept); " in text
    assert "Baseline r valence: mean 0.700, sd 0.000, min 0.700, max 0.700 (0.700, 0.700, 0.700)." in text
    assert "| 25 | oracle_categorical | valence | +0.0300 | 0.0100 | 3 | 2 | 0 |" in text
    assert "| 9 | predicted_idw | arousal | -0.0200 | 0.0100 | 3 | 0 | 2 |" in text
    assert text.endswith("\n")


def test_replicate_main_writes_the_table(tmp_path):
    exp_json = tmp_path / "exp.json"
    exp_json.write_text(json.dumps(records()))
    out = tmp_path / "reports" / "replication.md"
    parser = argparse.ArgumentParser()
    replicate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["replicate", "--exp-json", str(exp_json), "--out", str(out)])
    args.func(args)
    runs, skipped = replicate.select_runs(records())
    assert out.read_text() == replicate.render(replicate.summarise(runs), runs, skipped)


def test_cli_replicate(tmp_path, capsys):
    cli = pytest.importorskip("emosteer.cli")
    try:
        cli.build_parser()
    except ImportError as exc:  # another subcommand's module is not on main yet
        pytest.skip(f"emosteer CLI incomplete: {exc}")
    exp_json = tmp_path / "exp.json"
    exp_json.write_text(json.dumps(records()))
    out = tmp_path / "replication.md"
    assert cli.main(["replicate", "--exp-json", str(exp_json), "--out", str(out)]) == 0
    assert "| 25 | oracle_categorical | valence | +0.0300 |" in out.read_text()

    assert cli.main(["replicate", "--exp-json", str(exp_json)]) == 0
    assert capsys.readouterr().out == out.read_text()

    bad = records()
    bad[1]["data"]["metrics"] = {}
    exp_json.write_text(json.dumps(bad))
    assert cli.main(["replicate", "--exp-json", str(exp_json)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emosteer replicate: error: ") and err.count("\n") == 1


def test_baseline_r_per_seed():
    recs = records()
    recs[1]["experiments"][0]["revs"][0]["data"]["metrics"]["metrics/baseline/baseline.json"]["data"] = {
        "valence_r": 0.5, "arousal_r": 0.6}
    runs, _ = replicate.select_runs(recs)
    assert replicate.baseline_r(runs) == {"valence": [0.7, 0.5, 0.7], "arousal": [0.7, 0.6, 0.7]}
    text = replicate.render(replicate.summarise(runs), runs, [])
    assert "Baseline r valence: mean 0.633, sd 0.115, min 0.500, max 0.700 (0.700, 0.500, 0.700)." in text


def test_experiment_without_data_is_listed_as_skipped():
    recs = records()
    recs[1]["experiments"].append({"revs": [{"rev": "d" * 40, "name": "exp-empty", "data": {},
                                             "error": None, "experiments": None}], "name": "exp-empty"})
    _, skipped = replicate.select_runs(recs)
    assert "exp-empty (failed: no data)" in skipped


@pytest.mark.parametrize("content, message", [
    (None, r"missing\.json: cannot read: No such file or directory"),
    ("{not json", r"bad\.json: not JSON"),
    ('{"rev": "workspace"}', r"bad\.json: expected the list that `dvc exp show --json` writes"),
])
def test_cli_replicate_bad_exp_json_is_one_line(tmp_path, capsys, content, message):
    cli = pytest.importorskip("emosteer.cli")
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    assert cli.main(["replicate", "--exp-json", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("emosteer replicate: error: ")
    assert re.search(message, err), err
