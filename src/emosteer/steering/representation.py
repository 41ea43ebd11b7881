"""How much of a signal table is only the bins' value: the representation measure.

A steering signal is a bin's mean 128-d over its training clips. If each clip's 128-d were a
function of its own estimate (as with `train.heads: ridge`, whose 128-d is a population code of it),
every bin's signal would be determined by the values of its clips, and steering could carry nothing
but the value. The measure asks how much of the table's between-bin variance that accounts for.

"A function of the value" has to be read at the level of clips. A population code is a nonlinear
curve in 128-d, and the mean of a curve over a bin's spread of values is not the curve at the bin's
mean value, so neither a function of the bin's mean value nor a straight line in the value would
reproduce the bins of a population code (the straight line is kept as `linear`, to show how far it
falls short). Here each clip's 128-d is replaced by what its value implies: the mean 128-d of the k
clips whose values are nearest its own, itself left out (so noise in a clip's own 128-d cannot
explain itself). The bins' means of those stand-ins are compared with the bins' actual means:

    between = SS_between / SS_total              SS_between = sum_b n_b |m_b - m|^2
    value   = 1 - sum_b n_b |m_b - g_b|^2 / SS_between      g_b = bin mean of the stand-ins
    noise   = (B - 1) SS_total / (N - 1) / SS_between

m_b a bin's mean, m the mean of all clips, |.| the Euclidean norm over the 128 units, B bins, N
clips. `noise` is the share of SS_between that bins of the same sizes drawn at random would have on
average (the permutation expectation), i.e. what sampling alone puts between bin means. A `value`
near 1 says the table is the value; the rest of SS_between, beyond `noise`, is what the bins carry
besides it. `value` can be slightly negative for units that the value does not predict, since the
stand-ins add their own noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emosteer.errors import EmosteerError

NEIGHBOURS = 10  # clips averaged into a clip's stand-in


@dataclass(frozen=True)
class Share:
    """Shares of one signal table's variance (see the module docstring)."""

    between: float  # of the clips' 128-d variance, the part between bin means
    value: float  # of the between-bin part, what the clips' values reproduce (nearest neighbours)
    linear: float  # the same with a straight line in the value per unit
    noise: float  # of the between-bin part, what random bins of the same sizes would have
    n_bins: int
    n_clips: int


def value_share(acts: np.ndarray, value: np.ndarray, bins: np.ndarray, k: int = NEIGHBOURS) -> Share:
    """The measure for clips with 128-d `acts` (N, D), scalar `value` (N,) and bin labels (N,)."""
    x = np.asarray(acts, dtype=np.float64)
    v = np.asarray(value, dtype=np.float64)
    b = np.asarray(bins)
    n = len(v)
    if x.ndim != 2 or x.shape[0] != n or b.shape != (n,) or v.ndim != 1:
        raise EmosteerError(
            f"representation: need acts (N, D), value (N,), bins (N,); got {x.shape}, {v.shape}, {b.shape}"
        )
    if not 1 <= k < n:
        raise EmosteerError(f"representation: k must be in 1..{n - 1} for {n} clips, got {k}")
    if not (np.isfinite(x).all() and np.isfinite(v).all()):
        raise EmosteerError("representation: acts and value must be finite")
    labels, inverse, counts = np.unique(b, return_inverse=True, return_counts=True)
    centred = x - x.mean(axis=0)
    means = _bin_means(centred, inverse, counts)
    ss_between = float((counts * (means**2).sum(axis=1)).sum())
    ss_total = float((centred**2).sum())

    def explained(stand_in: np.ndarray) -> float:
        residual = means - _bin_means(stand_in - x.mean(axis=0), inverse, counts)
        return 1.0 - float((counts * (residual**2).sum(axis=1)).sum()) / ss_between

    design = np.stack([np.ones(n), v], axis=1)
    line = design @ np.linalg.lstsq(design, x, rcond=None)[0]
    if ss_between == 0:
        share = lin = noise = float("nan")
    else:
        share, lin = explained(neighbour_means(x, v, k)), explained(line)
        noise = (len(labels) - 1) * ss_total / (n - 1) / ss_between
    return Share(
        between=ss_between / ss_total if ss_total else float("nan"),
        value=share,
        linear=lin,
        noise=noise,
        n_bins=len(labels),
        n_clips=n,
    )


def neighbour_means(acts: np.ndarray, value: np.ndarray, k: int) -> np.ndarray:
    """(N, D): for each clip, the mean of `acts` over the k other clips whose value is nearest its
    own (equal distances: the lower value first)."""
    v = np.asarray(value, dtype=np.float64)
    n = len(v)
    order = np.argsort(v, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    # the k nearest of a clip lie among the k sorted neighbours on either side of it
    offsets = np.concatenate([np.arange(-k, 0), np.arange(1, k + 1)])
    cand = pos[:, None] + offsets[None, :]
    valid = (cand >= 0) & (cand < n)
    idx = order[np.clip(cand, 0, n - 1)]
    dist = np.where(valid, np.abs(v[idx] - v[:, None]), np.inf)
    nearest = np.take_along_axis(idx, np.argsort(dist, axis=1, kind="stable")[:, :k], axis=1)
    return np.asarray(acts, dtype=np.float64)[nearest].mean(axis=1)


def _bin_means(x: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> np.ndarray:
    sums = np.zeros((len(counts), x.shape[1]))
    np.add.at(sums, inverse, x)
    return sums / counts[:, None]
