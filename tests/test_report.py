"""The generated report: seed table beside ours, protocol table, verdicts, Δr plot rows, controls."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.evaluation import report
from emosteer.evaluation.report import Comparison


def _metrics(name: str, grid: int, dv: tuple[float, float, float], da: tuple[float, float, float],
             strength: float = 5.0) -> dict:
    selection = name.split("_")[0]
    return {
        "method": name, "selection": selection,
        "uses_true_labels": selection == "oracle" or name == "control_shuffled",
        "grid": grid, "bins": grid * grid, "strength": strength, "strength_chosen_on": "dev",
        "n": 120,
        "valence_r": 0.70 + dv[0], "valence_dr": dv[0], "valence_dr_lo": dv[1], "valence_dr_hi": dv[2],
        "valence_p_williams": 0.01,
        "arousal_r": 0.72 + da[0], "arousal_dr": da[0], "arousal_dr_lo": da[1], "arousal_dr_hi": da[2],
        "arousal_p_williams": 0.2,
    }


ZERO = (0.001, -0.010, 0.012)


@pytest.fixture()
def groups() -> dict:
    coarse = {
        "oracle_categorical": _metrics("oracle_categorical", 3, (-0.004, -0.015, 0.007), ZERO),
        "oracle_idw": _metrics("oracle_idw", 3, ZERO, ZERO),
        "predicted_categorical": _metrics("predicted_categorical", 3, ZERO, ZERO),
        "predicted_idw": _metrics("predicted_idw", 3, ZERO, ZERO),
        "control_shuffled": _metrics("control_shuffled", 3, ZERO, ZERO),
        "control_global_mean": _metrics("control_global_mean", 3, ZERO, ZERO),
    }
    fine = {
        "oracle_categorical": _metrics("oracle_categorical", 5, (0.031, 0.012, 0.050), (0.044, 0.021, 0.066)),
        "oracle_idw": _metrics("oracle_idw", 5, (0.027, 0.009, 0.046), (0.038, 0.017, 0.059), 2.0),
        "predicted_categorical": _metrics("predicted_categorical", 5, (0.002, -0.011, 0.014), ZERO),
        "predicted_idw": _metrics("predicted_idw", 5, (-0.021, -0.040, -0.003), ZERO),
        "control_shuffled": _metrics("control_shuffled", 5, ZERO, ZERO),
        "control_global_mean": _metrics("control_global_mean", 5, ZERO, ZERO),
    }
    return {"coarse": coarse, "fine": fine}


BASELINE = {"n": 120, "valence_r": 0.702, "arousal_r": 0.718, "forward_passes": 2}
TRAIN = {"source": "synthetic"}


def _controls(groups: dict, sign: int) -> dict:
    c = {1: Comparison(0.02, 0.01, 0.03), 0: Comparison(0.0, -0.01, 0.01)}[sign]
    return {which: {name: {ctl: {"valence": c, "arousal": c}
                           for ctl in ("control_shuffled", "control_global_mean")}
                    for name, m in methods.items() if m["selection"] != "control"}
            for which, methods in groups.items()}


def _verdict_line(text: str, label: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(f"- **{label}**")]
    assert len(lines) == 1, label
    return lines[0]


# --------------------------------------------------------------------------------------------
# render


def test_render_puts_the_seed_table_beside_ours(groups):
    text = report.render(TRAIN, BASELINE, groups, _controls(groups, 0))
    for value in ("0.741", "0.744", "0.736", "0.739", "0.764", "0.784",
                  "(-0.006)", "(-0.005)", "(+0.023)", "(+0.040)"):
        assert value in text, value
    seed_rows = {line.split(" | ")[0]: line for line in text.splitlines()
                 if line.startswith(("| Baseline", "| 9-bin", "| 25-bin"))}
    assert "r = 0.702" in seed_rows["| Baseline"] and "r = 0.718" in seed_rows["| Baseline"]
    # 25-bin categorical row: ours oracle then predicted, valence then arousal, each with its CI
    row = seed_rows["| 25-bin categorical (ours: 25-bin)"]
    assert row.index("+0.031 [+0.012, +0.050]") < row.index("+0.044 [+0.021, +0.066]") \
        < row.index("+0.002 [-0.011, +0.014]")
    # interpolation row is our IDW
    assert "+0.027 [+0.009, +0.046]" in seed_rows["| 25-bin interpolation (ours: 25-bin)"]
    assert "-0.004 [-0.015, +0.007]" in seed_rows["| 9-bin categorical"]


def test_render_all_methods_table_and_protocol(groups):
    text = report.render(TRAIN, BASELINE, groups, _controls(groups, 0))
    assert "n = 120" in text and "synthetic" in text
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith(("| 9-bin | ", "| 25-bin | "))]
    assert len(rows) == 12
    idw = next(line for line in rows if line.startswith("| 25-bin | oracle, IDW interpolation |"))
    assert "| 2 (dev) |" in idw and "+0.027 [+0.009, +0.046]" in idw and "0.727" in idw
    assert "## Protocol: the seed report vs emosteer" in text
    for what, seed, ours in report.PROTOCOL:
        assert f"| {what} | {seed} | {ours} |" in lines


def test_render_verdicts_mark_oracle_as_upper_bound_only(groups):
    text = report.render(TRAIN, BASELINE, groups, _controls(groups, 0))
    verdicts = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(verdicts) == 8  # 2 grids x (oracle, predicted) x (categorical, idw); no control verdicts
    oracle = _verdict_line(text, "25-bin oracle, categorical")
    assert "upper bound" in oracle and "valence +0.031 [+0.012, +0.050] (gain)" in oracle
    predicted = _verdict_line(text, "25-bin predicted, categorical")
    assert "upper bound" not in predicted and "(no detectable change)" in predicted
    assert "upper bound" not in _verdict_line(text, "9-bin predicted, IDW interpolation")
    assert "upper bound" in _verdict_line(text, "9-bin oracle, IDW interpolation")
    assert "(loss)" in _verdict_line(text, "25-bin predicted, IDW interpolation")
    assert "no better than the shuffled control" in predicted


def test_render_uses_the_fine_grids_bin_count(groups):
    fine7 = {name: {**m, "grid": 7, "bins": 49} for name, m in groups["fine"].items()}
    text = report.render(TRAIN, BASELINE, {**groups, "fine": fine7}, {})
    assert "25-bin categorical (ours: 49-bin)" in text
    assert "- **49-bin oracle, categorical**" in text


# --------------------------------------------------------------------------------------------
# verdict


def test_verdict_gain_loss_and_no_change():
    m = _metrics("predicted_idw", 5, (0.03, 0.01, 0.05), (-0.02, -0.03, -0.01))
    text = report.verdict(m, {})
    assert text == "valence +0.030 [+0.010, +0.050] (gain); arousal -0.020 [-0.030, -0.010] (loss)."
    m = _metrics("predicted_idw", 5, (0.01, -0.01, 0.03), (0.0, 0.0, 0.01))  # CI touching 0: no change
    assert report.verdict(m, {}).count("(no detectable change)") == 2


def test_verdict_against_controls():
    m = _metrics("predicted_categorical", 5, (0.03, 0.01, 0.05), (0.03, 0.01, 0.05))
    beat, tie = Comparison(0.02, 0.005, 0.04), Comparison(0.0, -0.02, 0.02)
    text = report.verdict(m, {"control_shuffled": {"valence": tie, "arousal": tie},
                              "control_global_mean": {"valence": beat, "arousal": beat}})
    assert "no better than the shuffled control" in text
    assert "better than the global-mean control on valence and arousal" in text
    text = report.verdict(m, {"control_shuffled": {"valence": beat, "arousal": tie}})
    assert "better than the shuffled control on valence" in text and "arousal" not in text.split("control")[-1]
    assert "upper bound" not in text and text.endswith(".")
    oracle = dict(m, uses_true_labels=True)
    assert report.verdict(oracle, {}).endswith("an upper bound, not a deployable method.")


def test_comparison_text_and_sign():
    assert Comparison(0.0234, 0.0011, 0.0456).text() == "+0.023 [+0.001, +0.046]"
    assert Comparison(0.01, 0.001, 0.02).sign == 1
    assert Comparison(-0.01, -0.02, -0.001).sign == -1
    assert Comparison(0.0, -0.01, 0.01).sign == 0
    assert Comparison(0.01, 0.0, 0.02).sign == 0  # a CI that touches zero does not exclude it


# --------------------------------------------------------------------------------------------
# delta_rows


def test_delta_rows_one_row_per_grid_method_dimension(groups):
    rows = report.delta_rows(groups)
    assert set(rows) == {"method", "delta", "lo", "hi", "p_williams"}
    n = 2 * (len(groups["coarse"]) + len(groups["fine"]))
    assert all(len(col) == n for col in rows.values())
    assert len(set(rows["method"])) == n
    i = rows["method"].index("25-bin oracle, categorical · arousal")
    assert (rows["delta"][i], rows["lo"][i], rows["hi"][i], rows["p_williams"][i]) == (0.044, 0.021, 0.066, 0.2)
    assert rows["method"][0] == "9-bin oracle, categorical · valence"
    assert "9-bin control: shuffled bins · arousal" in rows["method"]


# --------------------------------------------------------------------------------------------
# against_controls


def _predictions(n: int = 300, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tv, ta = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return {
        "true_valence": tv, "true_arousal": ta,
        "oracle_categorical_valence": tv + rng.normal(0, 0.2, n),
        "oracle_categorical_arousal": ta + rng.normal(0, 0.2, n),
        "control_shuffled_valence": tv + rng.normal(0, 0.8, n),
        "control_shuffled_arousal": ta + rng.normal(0, 0.8, n),
        "control_global_mean_valence": tv + rng.normal(0, 0.8, n),
        "control_global_mean_arousal": ta + rng.normal(0, 0.8, n),
    }


def test_against_controls_a_clearly_better_method_beats_both():
    preds = _predictions()
    out = report.against_controls(preds, "oracle_categorical", n_boot=300, seed=0)
    assert set(out) == {"control_shuffled", "control_global_mean"}
    for ctl, by_dim in out.items():
        assert set(by_dim) == {"valence", "arousal"}
        for dim, c in by_dim.items():
            assert c.sign == 1 and c.lo <= c.delta <= c.hi
            r = lambda p: np.corrcoef(preds[f"true_{dim}"], p)[0, 1]  # noqa: E731
            assert c.delta == pytest.approx(r(preds[f"oracle_categorical_{dim}"]) - r(preds[f"{ctl}_{dim}"]))
    # the other way round it is a loss; a control is never compared with itself
    back = report.against_controls(preds, "control_shuffled", n_boot=300, seed=0)
    assert set(back) == {"control_global_mean"}


def test_against_controls_worse_method_and_missing_control():
    preds = _predictions()
    preds["predicted_idw_valence"] = preds["true_valence"] + np.random.default_rng(1).normal(0, 2.0, 300)
    preds["predicted_idw_arousal"] = preds["true_arousal"] + np.random.default_rng(2).normal(0, 2.0, 300)
    del preds["control_global_mean_valence"], preds["control_global_mean_arousal"]
    out = report.against_controls(preds, "predicted_idw", n_boot=300, seed=0)
    assert set(out) == {"control_shuffled"}
    assert out["control_shuffled"]["valence"].sign == -1 and out["control_shuffled"]["arousal"].sign == -1
