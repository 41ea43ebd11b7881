"""The embedded synthetic affective-sound set: clips whose acoustics follow a latent (valence, arousal).

Why synthetic: the pipeline must run offline on a fresh machine with nothing but this repo, yet
behave like Emo-Soundscapes -- a learnable but noisy mapping from sound to two ratings in [-1, 1],
with a dense centre and sparse corners (so fine label grids have empty training bins).

What drives what (docs/data.md has the table):
- arousal -> event/onset rate, loudness, amplitude-modulation tempo, spectral brightness (partial
  roll-off, noise cut-off), noisiness (share of noise energy);
- valence -> one per-clip "tension" knob (0 pleasant .. 1 unpleasant) that every family reads:
  consonant intervals and major/minor triads vs dissonant clusters, harmonic vs inharmonic partials
  (partial k scattered by up to +-0.3 f0), roughness (a detuned copy of every partial and AM beating
  at 15-30 Hz, depth up to 1), and harshness (a boost of up to ~14 dB around 2.5-4 kHz).
Each family carries the valence cues in its own way besides the common roughness and harshness:
tones (scale mode, melodic and harmonic intervals), chords (triads vs clusters), noise bursts
(sparse harmonic resonances vs dense inharmonic ones over a flatter floor), clicks (triad vs cluster
pitches, metronomic vs irregular timing), chirps (arpeggiated glides through a triad, mostly rising,
vs through a cluster, mostly falling), textures (scale vs microtonal grains). Every mapping is
jittered per clip, and the families bring their own nuisance variation (base pitch, gain offset,
background noise, durations), so no single feature gives the answer. Observed labels are the latent
plus rater noise.

Determinism: each clip i draws from its own Generator(PCG64(SeedSequence(seed, spawn_key=(i,)))),
so clip i is the same whatever n_clips is; only the optional rank mapping looks at all clips.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

from emosteer.constants import HOP_LENGTH, MAX_CLIP_SECONDS, MAX_CLIPS, MAX_SEGMENTS, MIN_CLIP_SECONDS, SAMPLE_RATE
from emosteer.errors import EmosteerError

FAMILIES = ("tones", "chords", "noise_bursts", "clicks", "chirps", "textures", "mixtures")

# Latent label distribution: correlated Gaussian squashed by tanh -> dense centre, sparse corners.
LATENT_SCALE = 0.5
LATENT_RHO = 0.35

CONSONANT = (3, 4, 5, 7, 8, 9, 12)  # thirds, fourth, fifth, sixths, octave (semitones)
DISSONANT = (1, 2, 6, 10, 11, 13)  # seconds, tritone, sevenths, minor ninth
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11, 12)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 12)
MAJOR_TRIAD = (0, 4, 7)
MINOR_TRIAD = (0, 3, 7)
BACKGROUND_DB = (-62.0, -40.0)  # label-free background noise level range (RMS dBFS)
FADE_SECONDS = 0.005
PEAK = 0.99
MIN_PARTIAL_AMP = 0.01  # partials quieter than -40 dB re the fundamental are not worth synthesizing


@dataclass(frozen=True)
class SynthConfig:
    """Size, seed and label options of the synthetic set (defaults: the default pipeline's data).

    600 one-second clips: featurizing takes seconds and a CPU Cnn6 (~100 clips/s at T=101) trains
    a few epochs well inside the 5-minute budget, while 420 training clips still leave the 5x5 and
    7x7 corner bins sparse, as in the report.
    """

    n_clips: int = 600
    clip_seconds: float = 1.0
    seed: int = 0
    segments: int = 0  # 0: whole clips; k > 0: k equal segments `<clip>_seg<i>`, labels copied
    rank_labels: bool = False  # map each label to its rank, uniform on [-1, 1] (Emo-Soundscapes)
    label_noise: float = 0.15  # rater noise sd added to the latent labels

    def __post_init__(self) -> None:
        if not 1 <= self.n_clips <= MAX_CLIPS:
            raise EmosteerError(f"synthetic: n_clips must be in [1, {MAX_CLIPS}], got {self.n_clips}")
        if not MIN_CLIP_SECONDS <= self.clip_seconds <= MAX_CLIP_SECONDS:
            raise EmosteerError(
                f"synthetic: clip_seconds must be in [{MIN_CLIP_SECONDS:g}, {MAX_CLIP_SECONDS:g}], "
                f"got {self.clip_seconds}"
            )
        if not 0 <= self.segments <= MAX_SEGMENTS:
            raise EmosteerError(f"synthetic: segments must be in [0, {MAX_SEGMENTS}], got {self.segments}")
        if self.n_items > MAX_CLIPS:
            raise EmosteerError(f"synthetic: n_clips x segments = {self.n_items} rows, more than {MAX_CLIPS}")
        if self.segments and self.clip_samples // self.segments < HOP_LENGTH:
            raise EmosteerError(
                f"synthetic: {self.segments} segments of a {self.clip_seconds} s clip are shorter "
                f"than one hop ({HOP_LENGTH} samples, {1000 * HOP_LENGTH / SAMPLE_RATE:g} ms)"
            )
        if not 0.0 <= self.label_noise <= 1.0:
            raise EmosteerError(f"synthetic: label_noise must be in [0, 1], got {self.label_noise}")

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * SAMPLE_RATE))

    @property
    def item_samples(self) -> int:
        """Samples per yielded item: a whole clip, or one segment."""
        return self.clip_samples // self.segments if self.segments else self.clip_samples

    @property
    def n_items(self) -> int:
        """Rows the set produces: clips x segments."""
        return self.n_clips * max(1, self.segments)

    def to_json(self) -> str:
        """Stable JSON recorded in the features file, so the data can be regenerated."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Acoustics:
    """Per-clip sound parameters drawn from the latent labels plus jitter."""

    event_rate: float  # events per second (arousal)
    level_db: float  # target RMS in dBFS (arousal + gain nuisance)
    am_rate: float  # amplitude-modulation tempo in Hz (arousal)
    am_depth: float
    slope: float  # partial amplitude ~ k**-slope; small = bright (arousal)
    cutoff_hz: float  # noise low-pass cut-off (arousal)
    noise_mix: float  # share of noise in the signal (arousal)
    tension: float  # 0 = pleasant .. 1 = unpleasant: the valence knob every family reads
    p_consonant: float  # chance an interval / chord is consonant rather than a cluster (valence)
    p_major: float  # chance of major scale/triad (valence)
    inharmonicity: float  # partial k sits at (k + inharmonicity * u_k) f0, u_k ~ U(-1, 1) (low valence)
    harshness_db: float  # boost of a band around 2.5-4 kHz, where sharp/harsh sounds put energy (low valence)
    harsh_hz: float
    roughness: float  # depth of beating: a detuned copy of every partial + AM (low valence)
    beat_hz: float
    f0: float  # base pitch (nuisance)


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """The generator owned by clip `index`: independent of how many clips are drawn."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


def _draw_labels(rng: np.random.Generator, label_noise: float) -> tuple[float, float, float, float]:
    """(latent v, latent a, observed v, observed a); always the first draws of a clip's rng."""
    g = rng.standard_normal(2)
    z_v = LATENT_SCALE * g[0]
    z_a = LATENT_SCALE * (LATENT_RHO * g[0] + np.sqrt(1.0 - LATENT_RHO**2) * g[1])
    lat_v, lat_a = float(np.tanh(z_v)), float(np.tanh(z_a))
    noise = label_noise * rng.standard_normal(2)
    obs_v = float(np.clip(lat_v + noise[0], -1.0, 1.0))
    obs_a = float(np.clip(lat_a + noise[1], -1.0, 1.0))
    return lat_v, lat_a, obs_v, obs_a


def rank_to_unit(x: np.ndarray) -> np.ndarray:
    """Average ranks mapped linearly onto [-1, 1] (uniform marginals, ties share a value)."""
    if x.size < 2:
        return np.zeros_like(x, dtype=np.float64)
    return -1.0 + 2.0 * (rankdata(x) - 1.0) / (x.size - 1.0)


def sample_labels(cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Observed (valence, arousal) per clip, without synthesizing audio (cheap)."""
    obs = np.array([_draw_labels(clip_rng(cfg.seed, i), cfg.label_noise)[2:] for i in range(cfg.n_clips)])
    v, a = obs[:, 0], obs[:, 1]
    if cfg.rank_labels:
        v, a = rank_to_unit(v), rank_to_unit(a)
    return v.astype(np.float32), a.astype(np.float32)


def clip_name(index: int, family: str) -> str:
    return f"clip{index:05d}_{family}"


def generate_clips(cfg: SynthConfig) -> Iterator[tuple[str, np.ndarray, float, float]]:
    """Yield (name, float32 mono audio at SAMPLE_RATE, valence, arousal) per clip or segment."""
    valence, arousal = sample_labels(cfg)
    for i in range(cfg.n_clips):
        rng = clip_rng(cfg.seed, i)
        lat_v, lat_a, _, _ = _draw_labels(rng, cfg.label_noise)
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        audio = synthesize(family, lat_v, lat_a, cfg.clip_samples, rng)
        name = clip_name(i, family)
        if not cfg.segments:
            yield name, audio, float(valence[i]), float(arousal[i])
            continue
        step = cfg.item_samples
        for k in range(cfg.segments):
            yield f"{name}_seg{k}", audio[k * step : (k + 1) * step], float(valence[i]), float(arousal[i])


def draw_acoustics(valence: float, arousal: float, rng: np.random.Generator) -> Acoustics:
    """Map latent labels to jittered sound parameters (the only place labels touch acoustics)."""
    ua = (arousal + 1.0) / 2.0
    jit = rng.standard_normal(12)
    tension = float(np.clip(0.5 - 0.75 * valence + 0.1 * jit[10], 0.0, 1.0))
    return Acoustics(
        event_rate=0.8 * 2.0 ** (3.2 * ua + 0.35 * jit[0]),
        level_db=-30.0 + 16.0 * ua + 5.0 * jit[1],  # 5 dB gain nuisance
        am_rate=(1.0 + 10.0 * ua) * 2.0 ** (0.3 * jit[2]),
        am_depth=float(rng.uniform(0.1, 0.35) + 0.35 * ua),
        slope=max(0.3, 2.4 - 1.8 * ua + 0.3 * jit[3]),
        cutoff_hz=min(15000.0, 700.0 * 2.0 ** (4.0 * ua + 0.5 * jit[4])),
        noise_mix=float(np.clip(0.05 + 0.35 * ua + 0.08 * jit[5], 0.0, 0.7)),
        tension=tension,
        p_consonant=_sigmoid(6.0 * valence + 0.5 * jit[6]),
        p_major=_sigmoid(4.0 * valence + 0.5 * jit[7]),
        inharmonicity=float(min(0.4, 0.3 * tension**1.5 * 2.0 ** (0.4 * jit[8]))),
        harshness_db=float(max(0.0, 20.0 * tension + 3.0 * jit[11])),
        harsh_hz=float(rng.uniform(2500.0, 4000.0)),
        roughness=float(np.clip(1.5 * (tension - 0.15) + 0.1 * jit[9], 0.0, 1.0)),
        beat_hz=float(rng.uniform(15.0, 30.0)),
        f0=float(np.exp(rng.uniform(np.log(110.0), np.log(520.0)))),
    )


def synthesize(family: str, valence: float, arousal: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of `n` samples of a family, driven by latent labels; float32 in [-1, 1]."""
    p = draw_acoustics(valence, arousal, rng)
    y = _FAMILY_SYNTHS[family](n, p, rng)
    return _finish(y, p, rng)


# --- building blocks -------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _semitones(f: float, st: float) -> float:
    return f * 2.0 ** (st / 12.0)


def _interval(rng: np.random.Generator, p: Acoustics) -> int:
    """A consonant interval with probability p_consonant, else a dissonant one."""
    pool = CONSONANT if rng.random() < p.p_consonant else DISSONANT
    return int(pool[int(rng.integers(len(pool)))])


def _chord(rng: np.random.Generator, p: Acoustics) -> tuple[float, ...]:
    """A major/minor triad (p_major) with probability p_consonant, else a dissonant cluster.

    Clusters stack seconds / tritone / sevenths on the root (e.g. 0, 1, 6, 11) and are detuned by up
    to a quarter tone with the tension: dense, unresolved, beating.
    """
    if rng.random() < p.p_consonant:
        triad = MAJOR_TRIAD if rng.random() < p.p_major else MINOR_TRIAD
        return tuple(float(st) for st in triad)
    picks = rng.choice(len(DISSONANT), size=int(rng.integers(2, 4)), replace=False)
    steps = (0.0,) + tuple(float(DISSONANT[int(k)]) for k in np.sort(picks))
    return tuple(st + 0.5 * p.tension * float(rng.uniform(-1.0, 1.0)) for st in steps)


def _onsets(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson onset positions in samples; at least one event, the first near the start."""
    seconds = n / SAMPLE_RATE
    count = max(1, int(rng.poisson(rate * seconds)))
    first = rng.uniform(0.0, min(0.1, seconds / 4))
    rest = rng.uniform(0.0, seconds, count - 1)
    return np.sort((np.concatenate([[first], rest]) * SAMPLE_RATE).astype(np.int64))


def _grid_onsets(n: int, rate: float, irregularity: float, rng: np.random.Generator) -> np.ndarray:
    """Isochronous onsets at `rate`, each shifted by up to +-irregularity/2 of a period (0: a metronome)."""
    period = SAMPLE_RATE / max(rate, 0.5)
    base = rng.uniform(0.0, period) + period * np.arange(max(1, int(np.ceil(n / period))))
    shifted = base + irregularity * period * rng.uniform(-0.5, 0.5, base.size)
    shifted = shifted[(shifted >= 0) & (shifted < n)]
    return np.sort(shifted.astype(np.int64)) if shifted.size else np.zeros(1, np.int64)


def _partials(
    f0: float, p: Acoustics, rng: np.random.Generator, max_partials: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (k + inharmonicity*u_k) f0, u_k ~ U(-1, 1), and amplitudes k**-slope below Nyquist."""
    k = np.arange(1, max_partials + 1, dtype=np.float64)
    offset = p.inharmonicity * rng.uniform(-1.0, 1.0, k.size)
    offset[0] = 0.0  # the fundamental keeps the pitch
    freqs = f0 * (k + offset)
    amps = k ** (-p.slope)
    keep = (freqs < 0.45 * SAMPLE_RATE) & (amps >= MIN_PARTIAL_AMP)
    return freqs[keep], amps[keep]


def _sines(freqs: np.ndarray, amps: np.ndarray, phases: np.ndarray, length: int) -> np.ndarray:
    t = np.arange(length) / SAMPLE_RATE
    arg = np.multiply.outer(2 * np.pi * freqs, t)
    arg += phases[:, None]
    np.sin(arg, out=arg)
    arg *= amps[:, None]
    return arg.sum(axis=0)  # numpy's own summation, not BLAS: the same bits at any thread count


def _tone(f0: float, length: int, p: Acoustics, rng: np.random.Generator, max_partials: int = 10) -> np.ndarray:
    """A complex tone with a beating, detuned copy whose level is the roughness."""
    freqs, amps = _partials(f0, p, rng, max_partials)
    phases = rng.uniform(0, 2 * np.pi, freqs.size)
    if p.roughness > 0.05:  # each partial gets a copy beat_hz higher: it beats against it
        freqs = np.concatenate([freqs, freqs + p.beat_hz])
        amps = np.concatenate([amps, p.roughness * amps])
        phases = np.concatenate([phases, np.zeros_like(phases)])
    return _sines(freqs, amps, phases, length)


def _decay(length: int, attack_s: float, decay_s: float) -> np.ndarray:
    """Linear attack then exponential decay envelope."""
    t = np.arange(length) / SAMPLE_RATE
    return np.minimum(1.0, t / max(attack_s, 1e-4)) * np.exp(-t / max(decay_s, 1e-3))


def _place(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add `event` into `out` at `start`, cut at the clip end."""
    end = min(out.size, start + event.size)
    if end > start:
        out[start:end] += event[: end - start]


def _audible(length: int, start: int, n: int) -> int:
    """Samples of an event that fall inside the clip: nothing past the end is synthesized.

    Only for events whose waveform does not depend on their total length (same samples either way).
    """
    return max(1, min(length, n - start))


def _noise(n: int, cutoff_hz: float, rng: np.random.Generator) -> np.ndarray:
    """White noise low-passed (smoothly, in the frequency domain) at `cutoff_hz`; unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spec *= 1.0 / np.sqrt(1.0 + (f / cutoff_hz) ** 4)
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def _resonant_noise(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Noise through resonances; unit RMS. Pleasant: a sparse harmonic comb on f0 and a consonant
    interval above it. Unpleasant: the comb's partials scattered (inharmonicity), many extra
    resonances at random frequencies (dense, 'harsh'), and a flatter noise floor between them."""
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    centres, gains = [], []
    for root in (p.f0, _semitones(p.f0, _interval(rng, p))):
        fr, am = _partials(root, p, rng, 8)
        centres.append(fr)
        gains.append(np.sqrt(am))
    extra = int(round(24 * p.tension * p.tension))
    if extra:
        centres.append(p.f0 * np.exp(rng.uniform(0.0, np.log(12.0), extra)))
        gains.append(np.full(extra, 0.7))
    c, g = np.concatenate(centres), np.concatenate(gains)
    h = np.full(f.size, 0.02 + 0.25 * p.tension)
    for fc, gc in zip(c, g):  # narrow bands, 1.5 % of their centre wide
        lo, hi = np.searchsorted(f, [fc * 0.94, fc * 1.06])
        h[lo:hi] += gc * np.exp(-0.5 * ((f[lo:hi] - fc) / (0.015 * fc)) ** 2)
    spec = np.fft.rfft(rng.standard_normal(n)) * h / np.sqrt(1.0 + (f / p.cutoff_hz) ** 4)
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def _coloured_background(n: int, rng: np.random.Generator) -> np.ndarray:
    """Label-free background: white, pink or brown noise of unit RMS."""
    exponent = float(rng.choice([0.0, 0.5, 1.0]))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spec *= 1.0 / np.maximum(f, 20.0) ** exponent
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y**2)) + 1e-12)


# --- families ----------------------------------------------------------------------------------


def _tones(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """A melody of dyads: notes from a major or minor scale, steps and the dyad's harmonic interval
    mostly consonant or dissonant."""
    out = np.zeros(n)
    scale = MAJOR_SCALE if rng.random() < p.p_major else MINOR_SCALE
    degree = 0.0
    for start in _onsets(n, p.event_rate, rng):
        degree = float(scale[int(rng.integers(len(scale)))]) if rng.random() < 0.5 else degree + _interval(rng, p)
        length = _audible(int(SAMPLE_RATE * rng.uniform(0.12, 0.5)), int(start), n)
        env = _decay(length, 0.01, rng.uniform(0.08, 0.3))
        root = _semitones(p.f0, degree % 24)
        dyad = _tone(root, length, p, rng) + 0.8 * _tone(_semitones(root, _interval(rng, p)), length, p, rng)
        _place(out, env * dyad, int(start))
    return out


def _chords(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Struck chords: major/minor triads or dissonant clusters, re-struck at half the event rate."""
    out = np.zeros(n)
    for start in _onsets(n, 0.5 * p.event_rate, rng):
        root = _semitones(p.f0, float(rng.integers(-3, 4)))
        length = _audible(int(SAMPLE_RATE * rng.uniform(0.3, 0.9)), int(start), n)
        env = _decay(length, 0.02, rng.uniform(0.2, 0.6))
        chord = sum(_tone(_semitones(root, st), length, p, rng, 8) for st in _chord(rng, p))
        _place(out, env * chord, int(start))
    return out


def _noise_bursts(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Bursts of resonant noise (sparse harmonic resonances vs dense inharmonic ones), beating at
    beat_hz with the roughness."""
    out = np.zeros(n)
    noise = _resonant_noise(n, p, rng)
    for start in _onsets(n, 1.5 * p.event_rate, rng):
        length = min(n, int(SAMPLE_RATE * rng.uniform(0.05, 0.25)))
        offset = int(rng.integers(0, n - length + 1))
        burst = _decay(length, 0.003, rng.uniform(0.03, 0.12)) * noise[offset : offset + length]
        _place(out, burst, int(start))
    t = np.arange(n) / SAMPLE_RATE
    return out * (1.0 - p.roughness * 0.5 * (1.0 + np.cos(2 * np.pi * p.beat_hz * t)))


def _clicks(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Pitched clicks (ringing resonances) from a triad or a cluster; timing from a metronome
    (pleasant) to irregular (unpleasant)."""
    out = np.zeros(n)
    pitches = [_semitones(p.f0 * 2.0, st) for st in _chord(rng, p)]
    for start in _grid_onsets(n, 2.5 * p.event_rate, 0.1 + 0.9 * p.tension, rng):
        length = _audible(int(SAMPLE_RATE * 0.08), int(start), n)
        f = pitches[int(rng.integers(len(pitches)))]
        env = _decay(length, 0.0005, rng.uniform(0.01, 0.03))
        _place(out, env * _tone(f, length, p, rng, 6), int(start))
    return out


def _chirps(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Arpeggiated glides through a major/minor triad (pleasant, mostly rising) or a cluster
    (unpleasant, mostly falling); faster and more of them with arousal; a parallel voice at a
    (dis)sonant interval."""
    out = np.zeros(n)
    for start in _onsets(n, p.event_rate, rng):
        length = _audible(int(SAMPLE_RATE * rng.uniform(0.15, 0.45)), int(start), n)
        steps = np.array(_chord(rng, p) + (12.0,))
        if rng.random() < p.tension:  # falling contour
            steps = steps[::-1]
        # each step held, then a quick glide to the next (portamento); arousal speeds it up
        pos = np.linspace(0.0, steps.size - 1.0, length)
        frac = np.clip((pos - np.floor(pos) - 0.7) / 0.3, 0.0, 1.0)
        idx = np.minimum(np.floor(pos).astype(int), steps.size - 1)
        semis = steps[idx] + frac * (steps[np.minimum(idx + 1, steps.size - 1)] - steps[idx])
        inst = p.f0 * 2.0 ** (semis / 12.0)
        voice = np.zeros(length)
        for ratio in (1.0, 2.0 ** (_interval(rng, p) / 12.0)):
            freqs, amps = _partials(1.0, p, rng, 6)
            phase = 2 * np.pi * np.cumsum(inst * ratio) / SAMPLE_RATE
            voice += (amps[:, None] * np.sin(freqs[:, None] * phase)).sum(axis=0)
        _place(out, _decay(length, 0.01, rng.uniform(0.15, 0.4)) * voice, int(start))
    t = np.arange(n) / SAMPLE_RATE
    return out * (1.0 - p.roughness * 0.5 * (1.0 + np.cos(2 * np.pi * p.beat_hz * t)))


def _textures(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Dense grains: density with arousal; pitches from a major/minor scale or a microtonal cluster."""
    out = np.zeros(n)
    scale = MAJOR_SCALE if rng.random() < p.p_major else MINOR_SCALE
    for start in _onsets(n, 6.0 * p.event_rate, rng):
        length = int(SAMPLE_RATE * rng.uniform(0.03, 0.1))
        st = scale[int(rng.integers(len(scale)))] if rng.random() < p.p_consonant else rng.uniform(0, 12)
        grain = np.hanning(length) * _tone(_semitones(p.f0 * 2.0, float(st)), length, p, rng, 6)
        _place(out, grain, int(start))
    return out


def _mixtures(n: int, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Two other families of the same clip, at a random balance."""
    picks = rng.choice(len(FAMILIES) - 1, size=2, replace=False)
    a, b = (_FAMILY_SYNTHS[FAMILIES[int(k)]](n, p, rng) for k in picks)
    w = rng.uniform(0.3, 0.7)
    return w * a / _rms(a) + (1.0 - w) * b / _rms(b)


_FAMILY_SYNTHS: dict[str, Callable[[int, Acoustics, np.random.Generator], np.ndarray]] = {
    "tones": _tones,
    "chords": _chords,
    "noise_bursts": _noise_bursts,
    "clicks": _clicks,
    "chirps": _chirps,
    "textures": _textures,
    "mixtures": _mixtures,
}


def _harshen(y: np.ndarray, p: Acoustics) -> np.ndarray:
    """Boost a half-octave-wide band around harsh_hz by harshness_db (a smooth bell in log frequency);
    unit RMS."""
    if p.harshness_db <= 0.0:
        return y
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1.0 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(f, 1.0) / p.harsh_hz)
    spec *= 10.0 ** (p.harshness_db * np.exp(-0.5 * (octaves / 0.25) ** 2) / 20.0)
    y = np.fft.irfft(spec, y.size)
    return y / _rms(y)


def _finish(y: np.ndarray, p: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """Noise share, AM, level, background noise, fades and a peak limit, common to all families."""
    n = y.size
    t = np.arange(n) / SAMPLE_RATE
    y = y / _rms(y)
    y = np.sqrt(1.0 - p.noise_mix) * y + np.sqrt(p.noise_mix) * _noise(n, p.cutoff_hz, rng)
    y = _harshen(y, p)
    y = y * (1.0 - p.am_depth * 0.5 * (1.0 + np.sin(2 * np.pi * p.am_rate * t + rng.uniform(0, 2 * np.pi))))
    y = y * (1.0 - p.roughness * 0.5 * (1.0 + np.sin(2 * np.pi * p.beat_hz * t)))  # sensory roughness
    y = y * (10.0 ** (p.level_db / 20.0) / _rms(y))
    background_db = rng.uniform(*BACKGROUND_DB)
    y = y + 10.0 ** (background_db / 20.0) * _coloured_background(n, rng)
    fade = min(n // 2, int(FADE_SECONDS * SAMPLE_RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        y[:fade] *= ramp
        y[n - fade :] *= ramp[::-1]
    peak = float(np.max(np.abs(y)))
    if peak > PEAK:
        y = y * (PEAK / peak)
    return y.astype(np.float32)
