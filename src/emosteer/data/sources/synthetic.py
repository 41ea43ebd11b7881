"""The embedded synthetic set (emosteer.data.synth): generated offline, no files needed; its
configuration is params' data.synthetic."""

from __future__ import annotations

from pathlib import Path

from emosteer.constants import SAMPLE_RATE, UNIT_RANGE
from emosteer.data import features
from emosteer.data.featurize import DEFAULT_FRONTEND, _frontend_attrs, _progress, _warm_up, _write
from emosteer.data.frontend import check_flavour, frames_for_samples, frames_for_seconds, logmel
from emosteer.data.sources.base import Source
from emosteer.data.survey import Survey, _facts, _range, window_seconds
from emosteer.data.synth import SynthConfig, generate_clips, sample_labels


def survey(
    path: Path | None,
    frames: int,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    synth: SynthConfig | None = None,
    progress: bool = False,
) -> Survey:
    return _survey(synth, frames)


def _survey(cfg: SynthConfig | None, frames: int) -> Survey:
    """The embedded set: generated mono at SAMPLE_RATE; labels drawn without synthesizing audio."""
    cfg = cfg or SynthConfig()
    valence, arousal = sample_labels(cfg)
    seconds = cfg.item_samples / SAMPLE_RATE
    warnings = []
    if frames_for_seconds(seconds) < frames:
        warnings.append(
            f"synthetic: every clip is {seconds:.2f} s, shorter than the "
            f"{window_seconds(frames):.2f}-s window ({frames} frames): the rest is padding"
        )
    facts = _facts(
        "synthetic",
        None,
        frames,
        n_clips=cfg.n_items,
        n_rated=cfg.n_items,
        sample_rates={str(SAMPLE_RATE): cfg.n_items},
        channels={"1": cfg.n_items},
        duration_seconds={"min": seconds, "median": seconds, "max": seconds},
        rating_range={"valence": _range(valence), "arousal": _range(arousal)},
        resampled_to=None,
        mono=None,
        warnings=warnings,
    )
    return Survey(facts, [], [])


def featurize(
    path: Path | None,
    out: Path,
    frontend: str | None,
    frames: int | None,
    synth: SynthConfig | None = None,
    progress: bool = True,
    rating_range: tuple[float, float] = UNIT_RANGE,
    drop: tuple[str, ...] = (),
    surveyed: Survey | None = None,
) -> features.FeaturesInfo:
    flavour = DEFAULT_FRONTEND if frontend is None else frontend
    check_flavour(flavour)
    return _featurize(synth or SynthConfig(), out, flavour, frames, progress)


def _featurize(cfg: SynthConfig, out: Path, flavour: str, frames: int | None, progress: bool) -> features.FeaturesInfo:
    """Generate and featurize the embedded set; the config is stored so it can be regenerated."""
    frames = frames or frames_for_samples(cfg.item_samples)
    _warm_up(flavour)
    rows = ((name, logmel(audio, flavour, frames), v, a) for name, audio, v, a in generate_clips(cfg))
    attrs = _frontend_attrs(flavour, frames, "synthetic")
    attrs["synth_config"] = cfg.to_json()
    return _write(out, cfg.n_items, frames, _progress(rows, cfg.n_items, "synthesize", progress), attrs)


def clips(path: Path | None, frames: int, synth: SynthConfig | None) -> tuple[int, int, str]:
    """Clips (or segments) the set will hold, at data.frames."""
    return (synth or SynthConfig()).n_items, frames, "synthetic"


SOURCE = Source("synthetic", None, "no path (the embedded set)", survey, featurize, clips)
