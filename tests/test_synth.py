"""The synthetic set: deterministic per clip, labels in range with sparse corners, options work."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.constants import SAMPLE_RATE
from emosteer.data.synth import (
    FAMILIES,
    SynthConfig,
    clip_rng,
    generate_clips,
    rank_to_unit,
    sample_labels,
    synthesize,
)
from emosteer.errors import EmosteerError


def _bins(x: np.ndarray, g: int) -> np.ndarray:
    return np.minimum(np.floor((x + 1.0) / 2.0 * g).astype(int), g - 1)


def test_same_params_same_clips_and_clip_i_independent_of_n() -> None:
    small = list(generate_clips(SynthConfig(n_clips=4, clip_seconds=0.3, seed=7)))
    again = list(generate_clips(SynthConfig(n_clips=4, clip_seconds=0.3, seed=7)))
    more = list(generate_clips(SynthConfig(n_clips=6, clip_seconds=0.3, seed=7)))
    other = list(generate_clips(SynthConfig(n_clips=4, clip_seconds=0.3, seed=8)))
    for a, b, c in zip(small, again, more):
        assert a[0] == b[0] == c[0]
        assert a[1].tobytes() == b[1].tobytes() == c[1].tobytes()
        assert a[2:] == b[2:] == c[2:]
    assert any(a[1].tobytes() != o[1].tobytes() for a, o in zip(small, other))


def test_audio_format() -> None:
    for name, y, v, a in generate_clips(SynthConfig(n_clips=len(FAMILIES) * 2, clip_seconds=0.25)):
        assert y.dtype == np.float32 and y.shape == (int(0.25 * SAMPLE_RATE),)
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0 and np.std(y) > 1e-4
        assert -1.0 <= v <= 1.0 and -1.0 <= a <= 1.0
        assert name.split("_", 1)[1] in FAMILIES


def test_every_family_survives_very_short_clips() -> None:
    for _, y, _, _ in generate_clips(SynthConfig(n_clips=40, clip_seconds=0.05, seed=5)):
        assert y.size == 1600 and np.all(np.isfinite(y))


def _beating(y: np.ndarray) -> float:
    """Share of the 1 kHz RMS envelope's modulation (1-60 Hz) that lies at 14-32 Hz: roughness."""
    env = np.sqrt(np.convolve(y.astype(np.float64) ** 2, np.ones(64) / 64, "same")[::32])
    power = np.abs(np.fft.rfft(env - env.mean())) ** 2
    f = np.fft.rfftfreq(env.size, 1.0 / (SAMPLE_RATE / 32))
    return float(power[(f >= 14) & (f <= 32)].sum() / (power[(f >= 1) & (f <= 60)].sum() + 1e-12))


def _harsh_share(y: np.ndarray) -> float:
    """Share of 0.1-8 kHz energy in the 2.2-4.5 kHz band, where harsh sounds put theirs."""
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(y.size, 1.0 / SAMPLE_RATE)
    return float(power[(f > 2200) & (f < 4500)].sum() / power[(f > 100) & (f < 8000)].sum())


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_carries_valence(family: str) -> None:
    """Across valence at fixed arousal, each family's clips get rougher and harsher as valence falls
    (9 half-second clips; the generator's other cues -- intervals, clusters, inharmonicity -- come on top)."""
    vs = np.linspace(-0.8, 0.8, 9)
    clips = [synthesize(family, float(v), 0.0, SAMPLE_RATE // 2, clip_rng(123, i)) for i, v in enumerate(vs)]
    assert np.corrcoef(vs, np.log([_beating(y) for y in clips]))[0, 1] < -0.5
    assert np.corrcoef(vs, np.log([_harsh_share(y) for y in clips]))[0, 1] < -0.5


def test_default_label_distribution_dense_centre_sparse_corners() -> None:
    cfg = SynthConfig()
    v, a = sample_labels(cfg)
    assert v.shape == (cfg.n_clips,) and v.dtype == np.float32
    assert np.all(np.abs(v) <= 1.0) and np.all(np.abs(a) <= 1.0)
    assert 0.15 < np.corrcoef(v, a)[0, 1] < 0.5  # mildly correlated
    train = np.random.default_rng(0).permutation(cfg.n_clips)[: int(0.7 * cfg.n_clips)]
    for g in (5, 7):
        counts = np.zeros((g, g), int)
        np.add.at(counts, (_bins(v[train], g), _bins(a[train], g)), 1)
        centre = counts[g // 2, g // 2]
        assert (counts < 5).sum() >= 2, counts  # some bins get few or no training clips
        assert centre > 5 * min(counts[0, -1], counts[-1, 0]) + 10, counts  # dense centre
    counts3 = np.zeros((3, 3), int)
    np.add.at(counts3, (_bins(v, 3), _bins(a, 3)), 1)
    assert counts3.min() > 0


def test_rank_labels_are_uniform_on_unit_interval() -> None:
    v, a = sample_labels(SynthConfig(n_clips=101, rank_labels=True))
    np.testing.assert_allclose(np.sort(v), np.linspace(-1, 1, 101), atol=1e-6)
    np.testing.assert_allclose(np.sort(a), np.linspace(-1, 1, 101), atol=1e-6)
    raw_v, _ = sample_labels(SynthConfig(n_clips=101))
    assert np.array_equal(np.argsort(raw_v, kind="stable"), np.argsort(v, kind="stable"))
    assert rank_to_unit(np.array([0.3, 0.3, 0.9])).tolist() == [-0.5, -0.5, 1.0]


def test_segments_named_and_labelled_like_their_clip() -> None:
    whole = list(generate_clips(SynthConfig(n_clips=2, clip_seconds=0.6, seed=3)))
    segs = list(generate_clips(SynthConfig(n_clips=2, clip_seconds=0.6, seed=3, segments=3)))
    assert len(segs) == 6
    for i, (name, y, v, a) in enumerate(segs):
        clip = whole[i // 3]
        assert name == f"{clip[0]}_seg{i % 3}"
        assert (v, a) == clip[2:]
        step = clip[1].size // 3
        assert y.tobytes() == clip[1][(i % 3) * step : (i % 3 + 1) * step].tobytes()
    assert SynthConfig(n_clips=2, segments=3).n_items == 6


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_clips": 0}, "n_clips"),
        ({"clip_seconds": 0.0}, "clip_seconds"),
        ({"segments": -1}, "segments"),
        ({"clip_seconds": 0.1, "segments": 20}, "shorter than one hop"),
        ({"label_noise": -0.1}, "label_noise"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(EmosteerError, match=message):
        SynthConfig(**kwargs)


def test_config_json_is_stable() -> None:
    assert SynthConfig().to_json() == SynthConfig().to_json()
    assert '"n_clips": 600' in SynthConfig().to_json()
