"""The report: verdict table first with the seed report's claims beside it, headline and plot rows."""

from __future__ import annotations

from emosteer.evaluation import report


def _m(name, bins, v_verdict="none", a_verdict="hurts"):
    m = {"method": name, "bins": bins, "grid": int(bins ** 0.5), "n_seeds": 5, "strength": 2.0,
         "strength_dev_clips": 315, "selection": name.split("_")[0]}
    for dim, verdict, dr in (("valence", v_verdict, 0.01), ("arousal", a_verdict, -0.04)):
        m.update({f"{dim}_verdict": verdict, f"{dim}_dr": dr, f"{dim}_dr_lo": dr - 0.02,
                  f"{dim}_dr_hi": dr + 0.01, f"{dim}_sign_agreement": 4,
                  f"{dim}_dr_vs_global_mean": 0.0, f"{dim}_dr_vs_global_mean_lo": -0.01,
                  f"{dim}_dr_vs_global_mean_hi": 0.01})
    return m


POOLED = {"coarse": {"oracle_categorical": _m("oracle_categorical", 9)},
          "fine": {"oracle_categorical": _m("oracle_categorical", 25, "helps"),
                   "predicted_idw": _m("predicted_idw", 25)},
          "control": {"control_global_mean": _m("control_global_mean", 0)}}
BASELINE = {"n_seeds": 2, "n_val_per_seed": [180, 180], "valence_r": 0.6, "arousal_r": 0.7,
            "valence_r_per_seed": [0.61, 0.59], "arousal_r_per_seed": [0.71, 0.69]}
MACHINE = {"cpu": "X", "cpu_isa": "AVX2", "torch": "2", "threads": 1}
TRAIN = {"s0": {"epochs_run": 3, "source": "trained here", "machine": MACHINE},
         "s1": {"epochs_run": 4, "source": "x", "machine": MACHINE}}


def test_report_opens_with_verdicts_and_the_seed_claims():
    text = report.render(BASELINE, POOLED, TRAIN)
    lines = text.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("| grid"))
    assert "Verdicts, pooled over 2 seeds" in "\n".join(lines[:first_table])
    row = next(line for line in lines if line.startswith("| 25-bin | oracle, categorical"))
    assert "**helps** +0.010 [-0.010, +0.020] (4/5 seeds agree)" in row
    assert row.endswith("| +0.023 / +0.040 |")  # the seed report's claim for 25-bin categorical
    idw = next(line for line in lines if line.startswith("| 25-bin | predicted, IDW"))
    assert idw.endswith("| +0.023 / +0.040 |") and "**hurts** -0.040" in idw
    assert "| 0 | 0.610 | 0.710 | 3 |" in text and "| 0, 1 | X | AVX2 | 2 | 1 |" in text


def test_machine_table_has_a_row_per_machine_that_trained_seeds():
    """On a cluster seeds may train on different nodes: each machine is named with its seeds."""
    other = {**MACHINE, "cpu_isa": "AVX512"}
    train = {"s0": {"machine": MACHINE}, "s1": {"machine": other}, "s2": {"machine": MACHINE},
             "s3": {}}
    assert report.machine_lines(train)[2:] == ["| 0, 2 | X | AVX2 | 2 | 1 |",
                                               "| 1 | X | AVX512 | 2 | 1 |", "| 3 | ? | ? | ? | ? |"]


def test_headline_and_delta_rows_are_small_and_long():
    head = report.headline(POOLED)
    assert head["fine"]["oracle_categorical"]["valence"] == {"verdict": "helps", "dr": 0.01}
    rows = report.delta_rows(POOLED)
    assert len(rows["method"]) == 8 and set(rows["dim"]) == {"valence", "arousal"}
    assert rows["grid"][:2] == ["coarse", "coarse"]


def test_console_table_names_each_method_and_verdict():
    text = report.console_table(POOLED)
    assert "helps +0.010 [-0.010, +0.020]" in text and "control: global mean" in text


def test_steerability_paragraph_says_which_way_each_dim_moves():
    m = {"strength": 5.0, "n_clips": 180}
    for dim, (r, lo, hi) in (("valence", (0.1, -0.3, 0.5)), ("arousal", (0.8, 0.6, 0.9))):
        m.update({f"{dim}_direction_r": r, f"{dim}_direction_lo": lo, f"{dim}_direction_hi": hi,
                  f"{dim}_slope": 0.01, f"{dim}_slope_lo": 0.0, f"{dim}_slope_hi": 0.02,
                  f"{dim}_common_shift": -0.4})
    text = "\n".join(report.steerability_lines({"coarse": {"pooled": m}}))
    assert "higher-valence bins has no detectable direction: r = +0.10 [-0.30, +0.50]" in text
    assert "higher-arousal bins moves it toward the bin: r = +0.80 [+0.60, +0.90]" in text


def test_a_pair_or_negative_strength_reads_as_its_label():
    pooled = {"coarse": {"oracle_categorical": {**_m("oracle_categorical", 9), "strength": [0.5, 2.0]}},
              "fine": {"oracle_categorical": {**_m("oracle_categorical", 25), "strength": -1.0}}}
    assert report.verdict_table(pooled)["strength (dev clips)"].tolist() == ["0.5/2 (315)", "-1 (315)"]
    m = {"strength": [-1.0, 3.0], "n_clips": 180}
    for dim in ("valence", "arousal"):
        m.update({f"{dim}_direction_r": 0.1, f"{dim}_direction_lo": -0.3, f"{dim}_direction_hi": 0.5,
                  f"{dim}_slope": 0.01, f"{dim}_slope_lo": 0.0, f"{dim}_slope_hi": 0.02,
                  f"{dim}_common_shift": -0.4})
    assert "(strength -1/3, 180 validation clips" in "\n".join(report.steerability_lines({"coarse": {"pooled": m}}))
