"""Is steering directional? Steer every clip with each bin's signal and measure where predictions move.

For one seed: each POPULATED bin's signal (its own training mean; bins that fell back would repeat
another bin) is applied to every validation clip; a clip's passes under the bins run next to each
other, so they share its block-1 output. The bin's
effect is the mean over clips of (steered - unsteered) predicted valence and arousal, with a 95%
percentile bootstrap CI over clips. Directionality per dimension is the Pearson r, across bins,
between the bin centre on that axis and the mean shift it induces on that dimension: r near +1
means steering toward high-arousal bins raises predicted arousal; near 0, the signal's bin does
not matter; negative, steering pushes the other way. Its CI comes from the same bootstrap
resamples (clips resampled once, every bin's mean recomputed on them, r recomputed), so it shows
clip-sampling uncertainty for this model and table; seed-to-seed spread is what `pool` adds.

r says whether the ordering is right, not how much: every bin may also pull all predictions the
same way, so each summary carries the slope (shift per unit of centre) and the common shift (the
mean over bins) as well. Pooling over seeds averages r in Fisher-z space and the slope as it is,
with t intervals over seeds (one seed: its own bootstrap CIs), and averages each bin's shift over
the seeds where that bin is populated.

r is a statement about bin means; `toward` asks it per clip: the share of bins that move a clip's
own prediction toward the bin's centre (the experiment pools it over seeds and clips).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sps
from tqdm import tqdm

from emosteer import correlation
from emosteer.bootstrap import resamples
from emosteer.errors import EmosteerError
from emosteer.grid import Grid
from emosteer.steering.signals import SignalTable
from emosteer.strength import Value as StrengthValue
from emosteer.strength import key as strength_key
from emosteer.strength import label as strength_label
from emosteer.strength import to_json as strength_json

Predict = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, StrengthValue], tuple[np.ndarray, np.ndarray]]
"""predict(features, rows (m,), steer_valence (m,128), steer_arousal (m,128), strength) ->
(valence, arousal) (m,): row i is clip features[rows[i]] under the i-th steering vectors."""
CLIPS_PER_CALL = 32  # clips per predict call: each under every bin of the share, next to each other

DIMS = ("valence", "arousal")
CI_LEVEL = 0.95
MIN_BINS = 3  # a correlation across fewer bins says nothing
Z_CLIP = 1 - 1e-7  # |r| = 1 has an infinite Fisher z; pooled r of perfect seeds stays just below 1


@dataclass(frozen=True)
class Direction:
    """How a dimension's induced shift follows the bins' centres on that axis, with 95% CIs.

    r: Pearson r across bins between centre and mean shift (is the ordering right?); slope: the
    least-squares shift per unit of centre (how much, in prediction units: 2/G apart bins differ
    by slope*2/G); common: the mean shift over bins (what every bin does alike, e.g. a generic
    pull of all predictions that r and slope do not see).
    """

    dim: str
    r: float
    lo: float
    hi: float
    slope: float
    slope_lo: float
    slope_hi: float
    common: float
    n_bins: int
    n_seeds: int = 1


@dataclass(frozen=True, eq=False)
class Steerability:
    """Per populated bin (flat index in `bins`, increasing) the mean induced shift and its CI.

    shift_* (m,) mean of steered - unsteered prediction over clips; shift_*_lo/hi the 95% bootstrap
    CI; `valence`/`arousal` the directionality summary. For pooled results n_clips is the sum over
    seeds, the CIs of the per-bin shifts are NaN and `seeds_per_bin` says how many seeds had the bin.
    """

    grid: Grid
    strength: StrengthValue
    n_clips: int
    bins: np.ndarray
    shift_valence: np.ndarray
    shift_valence_lo: np.ndarray
    shift_valence_hi: np.ndarray
    shift_arousal: np.ndarray
    shift_arousal_lo: np.ndarray
    shift_arousal_hi: np.ndarray
    valence: Direction
    arousal: Direction
    seeds_per_bin: np.ndarray | None = None

    @property
    def centres(self) -> np.ndarray:
        """(m, 2) (valence, arousal) centres of `bins`."""
        return self.grid.centre_points()[self.bins]


def analyse(
    predict: Predict,
    table: SignalTable,
    features: np.ndarray,
    base_valence: np.ndarray,
    base_arousal: np.ndarray,
    strength: StrengthValue,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> Steerability:
    """Steer all clips with each populated bin's signal; per-bin mean shifts and directionality."""
    _check_n_boot(n_boot)
    bins = np.flatnonzero(table.populated)
    moved = shifts(predict, table, features, base_valence, base_arousal, strength, bins, progress)
    return summarise(table, bins, moved, strength, n_boot, seed)


def shifts(
    predict: Predict,
    table: SignalTable,
    features: np.ndarray,
    base_valence: np.ndarray,
    base_arousal: np.ndarray,
    strength: StrengthValue,
    bins: np.ndarray,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per dim, (len(bins), n): each listed bin's signal on every clip, minus the unsteered
    prediction. A bin's passes do not depend on which other bins run beside it, so the bins may
    be split over workers and the rows stacked back in order."""
    n = len(features)
    strength = strength_key(strength)  # a float, or a (neg, pos) tuple
    base = {dim: _vector(x, f"base_{dim}", n) for dim, x in zip(DIMS, (base_valence, base_arousal))}
    if n < 2:
        raise EmosteerError(f"steerability: need at least 2 clips, got {n}")
    m = len(bins)
    steered = {dim: np.empty((n, m)) for dim in DIMS}
    for start in tqdm(range(0, n, CLIPS_PER_CALL), desc="steerability", unit="call", disable=not progress, leave=False):
        stop = min(start + CLIPS_PER_CALL, n)
        rows = np.repeat(np.arange(stop - start), m)  # clip-major: clip i under bins[0..m-1]
        pred = predict(
            features[start:stop],
            rows,
            np.tile(table.valence[bins], (stop - start, 1)),
            np.tile(table.arousal[bins], (stop - start, 1)),
            strength,
        )
        for dim, x in zip(DIMS, pred):
            x = np.asarray(x, dtype=np.float64)
            if x.shape != rows.shape:  # finiteness is checked per bin below, naming the bin
                raise EmosteerError(f"steerability: steered {dim} must have shape {rows.shape}, got {x.shape}")
            steered[dim][start:stop] = x.reshape(stop - start, m)
    out = {dim: np.empty((m, n)) for dim in DIMS}
    for j, k in enumerate(bins):
        for dim in DIMS:
            out[dim][j] = (
                _vector(steered[dim][:, j], f"prediction steered by bin {table.names[k]!r}: {dim}", n) - base[dim]
            )
    return out


def toward(shift: np.ndarray, centre: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per clip, on one axis: the share of bins that move its prediction toward the bin, and the
    share its common shift alone would give.

    shift (m, n): clip i's steered - unsteered prediction under bin j; centre (m,): the bins'
    centres on the axis; base (n,): the clips' unsteered predictions. Clip i moves toward bin j
    when sign(shift[j, i]) = sign(centre[j] - base[i]); a bin centred exactly on the prediction has
    no direction and is left out (NaN for a clip with no other bin), and a zero shift is not
    toward. `common` replaces each shift by the clip's mean shift over the bins: a pull that knows
    nothing of the bin still moves a clip "toward" every bin on the side it pulls to (a pull to
    the middle, toward most bins of an extreme clip), so `toward` means something only above it.
    """
    shift = np.asarray(shift, dtype=np.float64)
    centre, base = np.asarray(centre, dtype=np.float64), np.asarray(base, dtype=np.float64)
    want = np.sign(centre[:, None] - base[None, :])
    if shift.shape != want.shape:
        raise EmosteerError(f"steerability: shifts {shift.shape} for {want.shape} (bins, clips)")
    valid = want != 0
    count = valid.sum(axis=0)
    hit = ((np.sign(shift) == want) & valid).sum(axis=0)
    common = ((np.sign(shift.mean(axis=0))[None, :] == want) & valid).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit / count, common / count


def measured_strengths(fixed: StrengthValue, chosen: StrengthValue | None) -> tuple[StrengthValue, ...]:
    """The strengths to measure steerability at: the params' `steerability.strength` (the report's
    5) and the strength chosen for the grid's oracle categorical variant (the one its verdicts
    steered with, each bin by its own mean, as steerability does), once when they are equal or
    nothing was chosen. Each costs one steered pass per populated bin and validation clip."""
    first = strength_key(fixed)
    if chosen is None or strength_key(chosen) == first:
        return (first,)
    return first, strength_key(chosen)


def toward_target(shift: np.ndarray, target: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Per clip, on one axis: 1 where its steered prediction moved toward the centre of the bin it
    was steered with (sign(shift) = sign(target - base)), 0 where it did not (a zero shift is not
    toward), NaN where the target equals the unsteered prediction (no direction). From a variant's
    own validation predictions at its chosen strength (shift = steered - unsteered, target = the
    centre of the clip's selected bin): per-clip direction with no extra pass, one bin per clip."""
    shift, target, base = (np.asarray(a, dtype=np.float64) for a in (shift, target, base))
    if not shift.shape == target.shape == base.shape or shift.ndim != 1:
        raise EmosteerError(
            f"steerability: shift {shift.shape}, target {target.shape} and base {base.shape} must be the same clips"
        )
    want = np.sign(target - base)
    return np.where(want == 0, np.nan, (np.sign(shift) == want).astype(np.float64))


def _check_n_boot(n_boot: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise EmosteerError(f"steerability: n_boot must be an integer >= 1, got {n_boot!r}")


def summarise(
    table: SignalTable, bins: np.ndarray, moved: dict[str, np.ndarray], strength: StrengthValue, n_boot: int, seed: int
) -> Steerability:
    """Per-bin mean shifts with bootstrap CIs and each dim's directionality, from `shifts` rows."""
    _check_n_boot(n_boot)
    strength = strength_key(strength)
    n = moved[DIMS[0]].shape[1]
    idx = resamples(n, n_boot, seed)
    weights = np.bincount((np.arange(n_boot)[:, None] * n + idx).ravel(), minlength=n_boot * n)
    weights = weights.reshape(n_boot, n) / n  # row b: the resample's clip multiplicities / n
    centres = table.grid.centre_points()[bins]
    fields: dict[str, np.ndarray] = {}
    directions = {}
    for axis, dim in enumerate(DIMS):
        mean = moved[dim].mean(axis=1)
        boot = moved[dim] @ weights.T  # (m, n_boot) per-bin means on each resample
        lo, hi = _percentile_ci(boot, axis=1)
        fields.update({f"shift_{dim}": mean, f"shift_{dim}_lo": lo, f"shift_{dim}_hi": hi})
        directions[dim] = _direction(dim, centres[:, axis], mean, boot)
    return Steerability(grid=table.grid, strength=strength, n_clips=n, bins=bins, **fields, **directions)


def pool(results: Sequence[Steerability]) -> Steerability:
    """Pool per-seed results: r averaged in Fisher z with a t CI over seeds; shifts averaged per bin."""
    if not results:
        raise EmosteerError("steerability: nothing to pool (no per-seed results)")
    grid = results[0].grid
    if any(r.grid != grid for r in results):
        raise EmosteerError("steerability: cannot pool results from different grids")
    strengths = {r.strength for r in results}
    if len(strengths) > 1:
        shown = ", ".join(sorted(strength_label(s) for s in strengths))
        raise EmosteerError(f"steerability: cannot pool results at different strengths ({shown})")
    k = grid.n_bins
    total = {dim: np.zeros(k) for dim in DIMS}
    seen = np.zeros(k, dtype=np.int64)
    for r in results:
        seen[r.bins] += 1
        for dim in DIMS:
            total[dim][r.bins] += getattr(r, f"shift_{dim}")
    bins = np.flatnonzero(seen)
    nan = np.full(len(bins), np.nan)
    fields = {}
    for dim in DIMS:
        fields.update({f"shift_{dim}": total[dim][bins] / seen[bins], f"shift_{dim}_lo": nan, f"shift_{dim}_hi": nan})
    return Steerability(
        grid=grid,
        strength=results[0].strength,
        n_clips=sum(r.n_clips for r in results),
        bins=bins,
        **fields,
        valence=_pool_direction([r.valence for r in results]),
        arousal=_pool_direction([r.arousal for r in results]),
        seeds_per_bin=seen[bins],
    )


def plot_rows(result: Steerability) -> list[dict[str, float | str]]:
    """One row per bin for a dvc plots heatmap or arrow field: centre and mean shift per dimension.

    `*_vs_common` is the shift minus the common shift (the mean over bins): the part that differs
    between bins, which is what an arrow field should show when every bin also pulls alike.
    """
    names = result.grid.names()
    common_v, common_a = result.valence.common, result.arousal.common
    return [
        {
            "bin": names[k],
            "valence_centre": round(float(c[0]), 6),
            "arousal_centre": round(float(c[1]), 6),
            "shift_valence": float(sv),
            "shift_arousal": float(sa),
            "shift_valence_vs_common": float(sv - common_v),
            "shift_arousal_vs_common": float(sa - common_a),
        }
        for k, c, sv, sa in zip(result.bins, result.centres, result.shift_valence, result.shift_arousal)
    ]


def metrics(result: Steerability) -> dict[str, float | int | list[float]]:
    """Flat numbers for a metrics JSON: directionality r and CI per dimension, and the sizes
    (the strength as a number, or [neg, pos])."""
    out: dict[str, float | int | list[float]] = {"strength": strength_json(result.strength), "n_clips": result.n_clips}
    for d in (result.valence, result.arousal):
        out.update(
            {
                f"{d.dim}_direction_r": d.r,
                f"{d.dim}_direction_lo": d.lo,
                f"{d.dim}_direction_hi": d.hi,
                f"{d.dim}_slope": d.slope,
                f"{d.dim}_slope_lo": d.slope_lo,
                f"{d.dim}_slope_hi": d.slope_hi,
                f"{d.dim}_common_shift": d.common,
                f"{d.dim}_n_bins": d.n_bins,
                f"{d.dim}_n_seeds": d.n_seeds,
            }
        )
    return out


def _vector(x: np.ndarray, field: str, n: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n,):
        raise EmosteerError(f"steerability: {field} must have shape ({n},), got {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        raise EmosteerError(f"steerability: {field} is not finite at index {int(np.argmin(finite))}")
    return arr


def _percentile_ci(samples: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail], axis=axis)
    return lo, hi


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """correlation.pearson, or NaN for a correlation over fewer than MIN_BINS points."""
    return correlation.pearson(x, y) if len(x) >= MIN_BINS else float("nan")


def _slopes(centre: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of `shifts` (m, b) on `centre` (m,); NaN if centre is constant."""
    c = centre - centre.mean()
    ss = float(c @ c)
    if len(centre) < 2 or ss == 0.0:
        return np.full(shifts.shape[1], np.nan)
    return (c @ (shifts - shifts.mean(axis=0))) / ss


def _direction(dim: str, centre: np.ndarray, mean: np.ndarray, boot: np.ndarray) -> Direction:
    """r and slope of mean shift on centre, with percentile CIs over the bootstrap resamples.

    A resample where the shifts are constant has no r; the CI is taken over the others and is NaN
    if none is defined.
    """
    r = _pearson(centre, mean)
    rs = np.array([_pearson(centre, boot[:, b]) for b in range(boot.shape[1])])
    rs = rs[np.isfinite(rs)]
    lo, hi = _percentile_ci(rs, axis=0) if rs.size else (np.nan, np.nan)
    slope = float(_slopes(centre, mean[:, None])[0])
    slopes = _slopes(centre, boot)
    s_lo, s_hi = _percentile_ci(slopes, axis=0) if np.isfinite(slopes).all() else (np.nan, np.nan)
    return Direction(
        dim=dim,
        r=r,
        lo=float(lo),
        hi=float(hi),
        slope=slope,
        slope_lo=float(s_lo),
        slope_hi=float(s_hi),
        common=float(mean.mean()),
        n_bins=len(centre),
    )


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, lo, hi): the 95% t interval of the mean over seeds."""
    s = len(values)
    half = sps.t.ppf(1 - (1 - CI_LEVEL) / 2, s - 1) * values.std(ddof=1) / np.sqrt(s)
    m = float(values.mean())
    return m, m - half, m + half


def _pool_direction(per_seed: list[Direction]) -> Direction:
    """r averaged in Fisher z, slope and common shift averaged; t CIs over the seeds with a defined r."""
    dim = per_seed[0].dim
    defined = [d for d in per_seed if np.isfinite(d.r)]
    n_bins = min(d.n_bins for d in per_seed)
    common = float(np.mean([d.common for d in per_seed]))
    if len(defined) <= 1:
        if not defined:
            nan = float("nan")
            return Direction(dim, nan, nan, nan, nan, nan, nan, common, n_bins, 0)
        return replace(defined[0], n_bins=n_bins, common=common)
    z, z_lo, z_hi = _t_interval(np.arctanh(np.clip([d.r for d in defined], -Z_CLIP, Z_CLIP)))
    slope, s_lo, s_hi = _t_interval(np.array([d.slope for d in defined]))
    return Direction(
        dim,
        float(np.tanh(z)),
        float(np.tanh(z_lo)),
        float(np.tanh(z_hi)),
        slope,
        s_lo,
        s_hi,
        common,
        n_bins,
        len(defined),
    )
