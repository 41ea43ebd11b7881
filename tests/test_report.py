"""The report: verdict table first with the seed report's claims beside it, headline and plot rows."""

from __future__ import annotations

from pathlib import Path

from emosteer.evaluation import report

REPO = Path(__file__).resolve().parents[1]


def _m(name, bins, v_verdict="none", a_verdict="hurts", v_p=0.5, a_p=0.001):
    m = {
        "method": name,
        "bins": bins,
        "grid": int(bins**0.5),
        "n_seeds": 5,
        "strength": 2.0,
        "strength_dev_clips": 315,
        "selection": name.split("_")[0],
    }
    for dim, verdict, dr, p in (("valence", v_verdict, 0.01, v_p), ("arousal", a_verdict, -0.04, a_p)):
        m.update(
            {
                f"{dim}_verdict": verdict,
                f"{dim}_dr": dr,
                f"{dim}_dr_lo": dr - 0.02,
                f"{dim}_dr_hi": dr + 0.01,
                f"{dim}_sign_agreement": 4,
                f"{dim}_dr_vs_global_mean": 0.0,
                f"{dim}_dr_vs_global_mean_lo": -0.01,
                f"{dim}_dr_vs_global_mean_hi": 0.01,
                f"{dim}_verdict_p": p,
            }
        )
    return m


def _feedback(v_verdict="hurts", v_p=0.002):
    m = {
        "method": "two_passes_vs_one",
        "selection": "feedback",
        "forward_passes": 2,
        "n_seeds": 5,
        "compares": "pass 2 vs a separately trained one-pass model",
    }
    for dim, verdict, dr, p in (("valence", v_verdict, -0.013, v_p), ("arousal", "none", 0.002, 0.4)):
        m.update(
            {
                f"{dim}_verdict": verdict,
                f"{dim}_dr": dr,
                f"{dim}_dr_lo": dr - 0.005,
                f"{dim}_dr_hi": dr + 0.005,
                f"{dim}_sign_agreement": 5,
                f"{dim}_verdict_p": p,
            }
        )
    return m


POOLED = {
    "coarse": {"oracle_categorical": _m("oracle_categorical", 9)},
    "fine": {"oracle_categorical": _m("oracle_categorical", 25, "helps"), "predicted_idw": _m("predicted_idw", 25)},
    "control": {"control_global_mean": _m("control_global_mean", 0)},
}
BASELINE = {
    "n_seeds": 2,
    "n_val_per_seed": [180, 180],
    "valence_r": 0.6,
    "arousal_r": 0.7,
    "valence_r_per_seed": [0.61, 0.59],
    "arousal_r_per_seed": [0.71, 0.69],
}
MACHINE = {"cpu": "X", "cpu_isa": "AVX2", "torch": "2", "threads": 1}
TRAIN = {
    "s0": {"epochs_run": 3, "source": "trained here", "machine": MACHINE},
    "s1": {"epochs_run": 4, "source": "x", "machine": MACHINE},
}


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
    train = {"s0": {"machine": MACHINE}, "s1": {"machine": other}, "s2": {"machine": MACHINE}, "s3": {}}
    assert report.machine_lines(train)[2:] == [
        "| 0, 2 | X | AVX2 | 2 | 1 |",
        "| 1 | X | AVX512 | 2 | 1 |",
        "| 3 | ? | ? | ? | ? |",
    ]


def test_headline_and_delta_rows_are_small_and_long():
    head = report.verdicts_file(POOLED)
    assert head["fine"]["oracle_categorical"]["valence"] == {
        "verdict": "helps",
        "verdict_corrected": "none",
        "dr": 0.01,
    }
    fams = head["correction"]["families"]
    assert head["correction"]["procedure"] == "holm"
    assert list(fams) == ["primary", "secondary"] and fams["primary"]["size"] == 2
    assert fams["secondary"]["size"] == 6
    rows = report.delta_rows(POOLED)
    assert len(rows["method"]) == 8 and set(rows["dim"]) == {"valence", "arousal"}
    assert rows["grid"][:2] == ["coarse", "coarse"]


def test_console_table_names_each_method_and_verdict():
    text = report.console_table(POOLED)
    assert "helps +0.010 [-0.010, +0.020]" in text and "control: global mean" in text


def test_steerability_paragraph_says_which_way_each_dim_moves():
    m = {"strength": 5.0, "n_clips": 180}
    for dim, (r, lo, hi) in (("valence", (0.1, -0.3, 0.5)), ("arousal", (0.8, 0.6, 0.9))):
        m.update(
            {
                f"{dim}_direction_r": r,
                f"{dim}_direction_lo": lo,
                f"{dim}_direction_hi": hi,
                f"{dim}_slope": 0.01,
                f"{dim}_slope_lo": 0.0,
                f"{dim}_slope_hi": 0.02,
                f"{dim}_common_shift": -0.4,
            }
        )
    text = "\n".join(report.steerability_lines({"coarse": {"pooled": m}}))
    assert "higher-valence bins has no detectable direction: r = +0.10 [-0.30, +0.50]" in text
    assert "higher-arousal bins moves it toward the bin: r = +0.80 [+0.60, +0.90]" in text


def test_a_pair_or_negative_strength_reads_as_its_label():
    pooled = {
        "coarse": {"oracle_categorical": {**_m("oracle_categorical", 9), "strength": [0.5, 2.0]}},
        "fine": {"oracle_categorical": {**_m("oracle_categorical", 25), "strength": -1.0}},
    }
    assert report.verdict_table(pooled)["strength (dev clips)"].tolist() == ["0.5/2 (315)", "-1 (315)"]
    m = {"strength": [-1.0, 3.0], "n_clips": 180}
    for dim in ("valence", "arousal"):
        m.update(
            {
                f"{dim}_direction_r": 0.1,
                f"{dim}_direction_lo": -0.3,
                f"{dim}_direction_hi": 0.5,
                f"{dim}_slope": 0.01,
                f"{dim}_slope_lo": 0.0,
                f"{dim}_slope_hi": 0.02,
                f"{dim}_common_shift": -0.4,
            }
        )
    assert "(strength -1/3, 180 validation clips" in "\n".join(report.steerability_lines({"coarse": {"pooled": m}}))


def test_report_opens_with_the_data_and_the_checkpoint():
    from emosteer.data import sources
    from emosteer.data.synth import SynthConfig

    facts = sources.survey("synthetic", None, 101, synth=SynthConfig(n_clips=10)).facts
    train = {
        "s0": {**TRAIN["s0"], "panns_checkpoint": "/m/Cnn6_mAP=0.343.pth", "panns_checkpoint_sha256": "ab12"},
        "s1": {**TRAIN["s1"], "panns_checkpoint": None, "panns_checkpoint_sha256": None},
    }
    text = report.render(BASELINE, POOLED, train, data=facts)
    assert text.index("## Data") < text.index("## Verdicts")
    data = text.split("## Data", 1)[1].split("\n## ", 1)[0]
    assert "- the embedded generator (synthetic): 10 clips used, of 10 rated" in data
    assert "- sample rates: 32000 Hz x 10\n" in data  # generated at the front end's rate: no resampling
    assert "- checkpoint (seeds 0): `/m/Cnn6_mAP=0.343.pth` (`model.panns_checkpoint`), sha256 `ab12`" in data
    assert "- checkpoint (seeds 1): none: a random backbone, BatchNorm statistics from the training clips" in data
    assert "## Data" not in report.render(BASELINE, POOLED, TRAIN)  # an older run's files: no section


def test_one_seed_claims_no_agreement_and_no_verdict():
    pooled = {k: {n: {**m, "n_seeds": 1} for n, m in v.items()} for k, v in POOLED.items()}
    text = report.render({**BASELINE, "n_seeds": 1, "n_val_per_seed": [180]}, pooled, {"s0": TRAIN["s0"]})
    assert "seeds agree" not in text and "(one seed)" in text
    assert "One seed is one split and one model: the CI carries only the sampling of its validation clips" in text


def test_holm_column_withdraws_calls_the_family_cannot_support():
    """Holm runs within each family: predicted rows (primary, 2 verdicts) and the oracle and control
    rows (secondary, 6). Secondary: p 0.001 x3 (arousal, 'hurts') and 0.5 x3: 6 * 0.001 < 0.05, so
    the arousal calls survive; a plain 'helps' at p 0.5 does not."""
    holm = report.corrected_verdicts(POOLED)
    assert len(holm) == 8
    assert holm[("fine", "oracle_categorical", "valence", "dr")].verdict == "none"
    assert holm[("fine", "predicted_idw", "arousal", "dr")].family == "primary"
    assert all(holm[(w, n, "arousal", "dr")].verdict == "hurts" for w, group in POOLED.items() for n in group)
    weak = {**POOLED, "coarse": {"oracle_categorical": _m("oracle_categorical", 9, a_p=0.012)}}
    # secondary sorted p: 0.001 x2, 0.012, 0.5 x3 -> 0.012 * 4 = 0.048 < 0.05: kept; at 0.013, 0.052: not
    assert report.corrected_verdicts(weak)[("coarse", "oracle_categorical", "arousal", "dr")].verdict == "hurts"
    weaker = {**POOLED, "coarse": {"oracle_categorical": _m("oracle_categorical", 9, a_p=0.013)}}
    assert report.corrected_verdicts(weaker)[("coarse", "oracle_categorical", "arousal", "dr")].verdict == "none"
    table = report.verdict_table(POOLED)
    assert table["arousal Holm"].tolist() == ["hurts"] * 4 and table["valence Holm"].tolist() == ["none"] * 4
    assert "Holm" in report.console_table(POOLED).splitlines()[0]


def test_beyond_fusion_rows_are_a_family_of_their_own_in_table_headline_and_summary():
    """Issue 28: steering vs its fusion twin is a verdict of its own, corrected in its own family,
    shown beside the variant, in the headline and in the report's first lines."""
    m = _m("predicted_categorical", 9)
    m.update(
        {
            "fusion_weight": 0.3,
            "valence_beyond_fusion": -0.02,
            "valence_beyond_fusion_lo": -0.03,
            "valence_beyond_fusion_hi": -0.01,
            "valence_beyond_fusion_verdict": "hurts",
            "valence_beyond_fusion_p": 0.001,
            "arousal_beyond_fusion": 0.001,
            "arousal_beyond_fusion_lo": -0.01,
            "arousal_beyond_fusion_hi": 0.01,
            "arousal_beyond_fusion_verdict": "none",
            "arousal_beyond_fusion_p": 0.8,
        }
    )
    pooled = {"3x3": {"predicted_categorical": m}}
    holm = report.corrected_verdicts(pooled)
    assert holm[("3x3", "predicted_categorical", "valence", "beyond_fusion")].family == "beyond_fusion"
    assert holm[("3x3", "predicted_categorical", "valence", "beyond_fusion")].verdict == "hurts"
    row = report.verdict_table(pooled).iloc[0]
    assert row["valence beyond fusion"] == "**hurts** -0.020 [-0.030, -0.010] (Holm hurts)"
    head = report.verdicts_file(pooled)["3x3"]["predicted_categorical"]["valence"]
    assert head["beyond_fusion"] == "hurts" and head["beyond_fusion_dr"] == -0.02
    short = report.headline(pooled, BASELINE)
    assert short["unsteered_r"] == {"valence": 0.6, "arousal": 0.7}
    assert short["families"] == {"primary": 2, "beyond_fusion": 2}
    assert short["3x3"]["valence"] == {
        "predicted": "none",
        "predicted_dr": 0.01,
        "beyond_fusion": "hurts",
        "beyond_fusion_dr": -0.02,
    }
    text = report.render(BASELINE, pooled, TRAIN)
    first = text.split("## Verdicts")[0]
    assert (
        "9-bin steering with the model's own bin: valence none (Δr +0.010 [-0.010, +0.020]), vs its "
        "fusion twin hurts (Δr -0.020 [-0.030, -0.010], twin weight 0.3)"
    ) in first
    assert "- beyond_fusion (2 verdicts" in text


def test_feedback_row_in_table_headline_and_report():
    pooled = {**POOLED, "feedback": {"two_passes_vs_one": _feedback()}}
    table = report.verdict_table(pooled)
    row = table[table["method"] == "feedback: 2 passes vs 1"].iloc[0]
    assert row["grid"] == "—" and row["valence vs global mean"] == "—"
    assert row["strength (dev clips)"] == "—" and row["seed report Δr V / A"] == "—"
    assert row["valence"].startswith("**hurts** -0.013") and row["valence Holm"] == "hurts"
    head = report.verdicts_file(pooled)
    assert head["feedback"]["two_passes_vs_one"]["valence"]["verdict_corrected"] == "hurts"
    short = report.headline(pooled, BASELINE)
    assert short["feedback"]["valence"] == {"feedback": "hurts", "feedback_dr": -0.013}
    assert short["fine"]["arousal"] == {"oracle": "hurts", "oracle_dr": -0.04}  # the main rows only
    assert "coarse" in short and "control" not in short
    assert head["correction"]["families"]["secondary"]["size"] == 8
    text = report.render(BASELINE, pooled, TRAIN)
    assert "| — | feedback: 2 passes vs 1 |" in text and "## Multiple comparisons" in text
    assert "- secondary (8 verdicts" in text
    assert "`feedback: 2 passes vs 1` compares pass 2 vs a separately trained one-pass model" in text
    perm = _feedback()
    perm.update(
        {
            f"{d}_{k}": v
            for d in ("valence", "arousal")
            for k, v in (
                ("dr_permuted", -0.03),
                ("dr_permuted_lo", -0.05),
                ("dr_permuted_hi", -0.01),
                ("permuted_verdict", "hurts"),
                ("permuted_p", 0.001),
            )
        }
    )
    text = report.render(BASELINE, {**POOLED, "feedback": {"two_passes_vs_one": perm}}, TRAIN)
    assert "- secondary (10 verdicts" in text
    assert "Δr permuted − own: valence **hurts** -0.030 [-0.050, -0.010]" in text


def test_read_pooled_tolerates_a_run_without_the_feedback_row(tmp_path):
    from emosteer import pipeline
    from emosteer.jobs import results

    for which, group in POOLED.items():
        for name, m in group.items():
            pipeline.write_json(tmp_path / which / f"{name}.json", m)
    assert set(results.read_pooled(tmp_path)) == {"coarse", "fine", "control"}


def test_read_pooled_takes_the_grids_params_name_and_orders_the_rest_by_bins(tmp_path):
    """An experiment's folder may still hold its baseline's grid (-S grid=7 writes 7x7/ beside
    5x5/): the report and `emosteer verdicts` read the grids params name; without them, every grid
    folder, fewest bins first, then control and feedback."""
    from emosteer import pipeline
    from emosteer.jobs import grids, results

    for which, bins in (("5x5", 25), ("3x3", 9), ("7x7", 49)):
        pipeline.write_json(tmp_path / "pooled" / which / "oracle_categorical.json", _m("oracle_categorical", bins))
    pipeline.write_json(tmp_path / "pooled" / "control" / "control_global_mean.json", _m("control_global_mean", 0))
    assert list(results.read_pooled(tmp_path / "pooled")) == ["3x3", "5x5", "7x7", "control"]
    params = (REPO / "params.yaml").read_text().replace("\ngrid: 5\n", "\ngrid: 7\n")
    (tmp_path / "params.yaml").write_text(params)
    assert grids.names_in(tmp_path / "params.yaml") == ["3x3", "7x7"]
    assert list(results.read_pooled(tmp_path / "pooled", grids.names_in(tmp_path / "params.yaml"))) == [
        "3x3",
        "7x7",
        "control",
    ]
    assert grids.names_in(tmp_path / "none.yaml") is None


def _found(bins, joint=(0.47, 0.44, 0.5)):
    m = {"bins": bins, "n_val_per_seed": [180] * 5, "n_right_per_seed": [85] * 5}
    for axis, (mean, lo, hi) in (("joint", joint), ("valence", (0.62, 0.6, 0.65)), ("arousal", (0.73, 0.7, 0.76))):
        m.update({f"{axis}_accuracy": mean, f"{axis}_accuracy_lo": lo, f"{axis}_accuracy_hi": hi})
    group = {
        f"{d}_dmae{s}": v
        for d in ("valence", "arousal")
        for s, v in (("", -0.0095), ("_lo", -0.02), ("_hi", float("nan")))
    }
    m["decomposition"] = {
        "categorical": {
            "predicted": {"right": group, "wrong": group, "all": group},
            "oracle": {"right": group, "wrong": group, "all": group},
        }
    }
    return m


def _even(bins, statuses=("crossed", "crossed")):
    m = {"bins": bins, "model_accuracy": 0.47, "model_accuracy_lo": 0.44, "model_accuracy_hi": 0.5}
    for dim, status, p_star in zip(("valence", "arousal"), statuses, (0.62, 0.0)):
        m.update(
            {
                f"{dim}_p_star": p_star,
                f"{dim}_p_star_status": status,
                f"{dim}_dr_at_p1": 0.087,
                f"{dim}_dr_at_p1_lo": 0.05,
                f"{dim}_dr_at_p1_hi": 0.1,
                f"{dim}_p_star_estimate": 0.55,
                f"{dim}_dr_at_model_accuracy": 0.01,
                f"{dim}_dr_at_model_accuracy_lo": -0.01,
                f"{dim}_dr_at_model_accuracy_hi": 0.02,
                f"{dim}_dr_predicted_categorical": -0.01,
            }
        )
    return m


def test_deployable_section_states_p_star_beside_the_models_accuracy():
    lines = report.deployable_lines(
        {"coarse": _found(9)},
        {"coarse": _even(9, ("crossed", "above_everywhere")), "fine": _even(25, ("never_above", "crossed"))},
    )
    text = "\n".join(lines)
    assert "| 9-bin | 0.47 [0.44, 0.50] | 0.62 [0.60, 0.65] | 0.73 [0.70, 0.76] |" in text
    assert "| 9-bin | categorical | right (425 of 900) | -0.0095 [CI n/a] |" in text
    assert "| 9-bin | categorical | all (900 of 900) | -0.0095 [CI n/a] |" in text
    assert (
        "**9-bin**: steering with a detected bin would need bin accuracy valence ≥ 0.62 (estimate "
        "0.55), arousal: the model's own (the lower bound is above 0 already at 0.00); the model "
        "has 0.47 [0.44, 0.50]"
    ) in text
    assert "**25-bin**: steering with a detected bin would need bin accuracy valence: none" in text
    assert "the model's own bins at the oracle's strength +0.010 [-0.010, +0.020]" in text


def test_the_break_even_curve_is_described_as_the_models_own_errors_repaired():
    text = "\n".join(report.deployable_lines({"coarse": _found(9)}, {"coarse": _even(9)}))
    assert "Break-even from the model's own errors" in text and "corrupt" not in text


def test_the_seed_claims_sit_beside_their_grid_only():
    """The seed report's claims were made for 9 and 25 bins: a 49-bin row (-S grid=7) gets none."""
    rows = report.verdict_table(
        {
            "3x3": {"oracle_categorical": _m("oracle_categorical", 9)},
            "7x7": {"oracle_idw": _m("oracle_idw", 49), "oracle_categorical": _m("oracle_categorical", 49)},
        }
    )
    assert rows["grid"].tolist() == ["9-bin", "49-bin", "49-bin"]
    assert rows["seed report Δr V / A"].tolist() == ["-0.006 / -0.005", "—", "—"]
