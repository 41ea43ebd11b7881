"""The data survey on the committed fixture: what `emosteer data check` prints and metrics/data.json
holds, the warnings for low sample rates and short clips, `data.drop`, and `data.rating_range`."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.commands.cli import main
from emosteer.data import sources
from emosteer.data.features import read_labels
from emosteer.data.sources import build_features
from emosteer.data.synth import SynthConfig
from emosteer.errors import EmosteerError
from tests.emo_fixture import FIXTURE, WINDOW_FRAMES, copy_fixture

S04, S05 = FIXTURE / "600_Sounds" / "s04.wav", FIXTURE / "600_Sounds" / "s05.wav"


def test_data_check_prints_the_survey(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", str(FIXTURE), "--frames", str(WINDOW_FRAMES)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{FIXTURE} (emo_soundscapes): 26 clips used, of 27 rated",
        "skipped: 1 missing audio (s23.wav); 1 missing rating (x01.wav)",
        "sample rates: 8000 Hz x 1, 32000 Hz x 22, 44100 Hz x 2, 48000 Hz x 1 -> resampled to 32000 Hz (soxr_hq)",
        "channels: 1 x 24, 2 x 2 -> averaged to mono",
        "durations: 0.05 to 0.16 s, median 0.16 s; window 16 frames = 0.15 s",
        "ratings: valence [-0.805, 0.753], arousal [-0.891, 0.875] on the scale [-1, 1]",
        f"warning: {S04}: 8000 Hz is below 2 x 14000 Hz: 22 of its 64 mel bands lie above its Nyquist "
        "frequency and hold no signal; set data.drop: [low_rate] to leave it out",
        f"warning: {S05}: 0.05 s is shorter than the 0.15-s window (16 frames): the rest is padding; set "
        "data.drop: [short] to leave it out",
        MIXED_WARNING,
    ]
    assert captured.err == ""


MIXED_WARNING = (
    f"warning: {FIXTURE}: 4 mixed clips (613_MixedSounds/: m01.wav, m02.wav, m03.wav, ...) and no "
    "groups table: a mix and its sources can land on both sides of the split; set data.groups "
    "(--groups here; docs/data.md, data.groups)"
)


def test_data_check_warns_of_mixed_clips_without_a_groups_table(tmp_path, capsys) -> None:
    """Emo-Soundscapes' mixes (613_MixedSounds/) without data.groups: one line; with the table, or
    without a folder of mixes, none."""
    args = ["data", "check", str(FIXTURE), "--frames", str(WINDOW_FRAMES)]
    assert main([*args, "--groups", str(FIXTURE / "groups.csv")]) == 0
    assert "mixed clips" not in capsys.readouterr().out
    copy = copy_fixture(tmp_path / "emo")
    (copy / "613_MixedSounds").rename(copy / "more_sounds")
    assert main(["data", "check", str(copy), "--frames", str(WINDOW_FRAMES)]) == 0
    assert "mixed clips" not in capsys.readouterr().out
    bad = tmp_path / "groups.csv"
    bad.write_text("name,label\nm01.wav,m01\n")
    assert main([*args, "--groups", str(bad)]) == 2
    assert "expected the header line 'clip,group'" in capsys.readouterr().err


def test_data_check_defaults_to_the_six_second_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "window 601 frames = 6.00 s" in out and out.count("shorter than the 6.00-s window") == 26


def test_drop_leaves_the_flagged_clips_out_and_says_so() -> None:
    found = sources.survey("emo_soundscapes", FIXTURE, WINDOW_FRAMES, drop=("low_rate", "short"))
    f = found.facts
    assert f["n_clips"] == 24 and [c.name for c in found.clips if c.name in ("s04.wav", "s05.wav")] == []
    assert f["skipped"] == {"missing_audio": 1, "missing_rating": 1, "low_rate": 1, "short": 1}
    assert f["skipped_files"]["short"] == ["s05.wav"] and f["drop"] == ["low_rate", "short"]
    assert f["warnings"][0].endswith("dropped (data.drop: low_rate)")
    assert f["warnings"][1].endswith("dropped (data.drop: short)")
    assert f["sample_rates"] == {"32000": 21, "44100": 2, "48000": 1}
    with pytest.raises(EmosteerError, match="no clip left: data.drop \\['short'\\] drops all 26 clips"):
        sources.survey("emo_soundscapes", FIXTURE, 601, drop=("short",))


def test_rating_range_maps_another_scale_onto_the_unit_range(tmp_path) -> None:
    """The fixture's ratings written on a 1-9 scale (two decimals) and read with [1, 9] give the
    same labels, to the rounding of the rewritten file."""
    nine = copy_fixture(tmp_path / "nine")
    for name in ("Valence.csv", "Arousal.csv"):
        rows = [line.split(",") for line in (nine / name).read_text().splitlines()]
        (nine / name).write_text("".join(f"{n},{5 + 4 * float(r):.2f}\n" for n, r in rows))
    with pytest.raises(EmosteerError, match=r"they look like a 1 to 9 scale: set data.rating_range: \[1, 9\]"):
        sources.survey("emo_soundscapes", nine, WINDOW_FRAMES)
    a = build_features("emo_soundscapes", FIXTURE, tmp_path / "a.h5", "panns", WINDOW_FRAMES, progress=False)
    b = build_features(
        "emo_soundscapes", nine, tmp_path / "b.h5", "panns", WINDOW_FRAMES, progress=False, rating_range=(1.0, 9.0)
    )
    assert a.n == b.n == 26 and list(b.attrs["rating_scale"]) == [1.0, 9.0]
    (na, va, aa), (nb, vb, ab) = read_labels(tmp_path / "a.h5"), read_labels(tmp_path / "b.h5")
    assert na == nb
    np.testing.assert_allclose(vb, va, atol=0.005 / 4 + 1e-6)
    np.testing.assert_allclose(ab, aa, atol=0.005 / 4 + 1e-6)
    facts = sources.survey("emo_soundscapes", nine, WINDOW_FRAMES, (1.0, 9.0)).facts
    assert facts["rating_scale"] == [1.0, 9.0] and facts["rating_range"]["valence"][0] == pytest.approx(1.78)


def test_synthetic_and_features_sources(tmp_path) -> None:
    f = sources.survey("synthetic", None, 101, synth=SynthConfig(n_clips=8, clip_seconds=0.5)).facts
    assert f["n_clips"] == 8 and f["sample_rates"] == {"32000": 8} and f["channels"] == {"1": 8}
    assert f["warnings"] == [
        "synthetic: every clip is 0.50 s, shorter than the 1.00-s window (101 frames): the rest is padding"
    ]
    build_features("emo_soundscapes", FIXTURE, tmp_path / "f.h5", "panns", WINDOW_FRAMES, progress=False)
    f = sources.survey("features_h5", tmp_path / "f.h5", 101).facts
    assert f["n_clips"] == 26 and f["frames"] == WINDOW_FRAMES and f["frontend"] == "panns"
    assert f["warnings"] == [
        f"{tmp_path / 'f.h5'}: holds 16 frames per clip; data.frames 101 applies to "
        "audio sources only, the file's own are used"
    ]
