"""Steering evaluation: each method's steered predictions at its strengths, and the scores.

The methods (which signal each clip gets: oracle or predicted selection, categorical, IDW or
bilinear, the controls) are the entries of `evaluation.methods`. Strength is chosen per method on
the dev split (held out of the training split), never on the validation split that is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emosteer import correlation
from emosteer.evaluation import stats
from emosteer.evaluation.methods import Clips, Method
from emosteer.steering.signals import SignalTable
from emosteer.strength import Value as StrengthValue
from emosteer.strength import key as strength_key

Predict = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, StrengthValue], tuple[np.ndarray, np.ndarray]]
"""predict(features, rows, steer_valence, steer_arousal, strength) -> (valence, arousal): row i is
clip features[rows[i]] under the i-th steering vectors."""


def score(clips: Clips, valence: np.ndarray, arousal: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    """Flat metrics of one steered variant against the unsteered baseline, per dimension."""
    out: dict[str, float] = {}
    for dim, y, base, new in (
        ("valence", clips.valence, clips.pred_valence, valence),
        ("arousal", clips.arousal, clips.pred_arousal, arousal),
    ):
        out.update(dimension_metrics(dim, y, base, new, n_boot, seed))
    return out


def dimension_metrics(
    dim: str, y: np.ndarray, base: np.ndarray, new: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    cmp = stats.compare_correlations(y, base, new, n_boot=n_boot, seed=seed)
    return {
        f"{dim}_r": cmp["r_new"],
        f"{dim}_dr": cmp["delta"],
        f"{dim}_dr_lo": cmp["boot_lo"],
        f"{dim}_dr_hi": cmp["boot_hi"],
        f"{dim}_p_williams": cmp["williams_p"],
        f"{dim}_zou_lo": cmp["zou_lo"],
        f"{dim}_zou_hi": cmp["zou_hi"],
        f"{dim}_ccc": stats.ccc(y, new),
        f"{dim}_rmse": stats.rmse(y, new),
        f"{dim}_mae": stats.mae(y, new),
    }


def baseline_metrics(
    y_valence: np.ndarray, y_arousal: np.ndarray, valence: np.ndarray, arousal: np.ndarray
) -> dict[str, float]:
    """Unsteered scores; r carries its 95% Fisher-z CI (there is no reference to take a Δ from)."""
    out: dict[str, float] = {}
    for dim, y, p in (("valence", y_valence, valence), ("arousal", y_arousal, arousal)):
        r = correlation.pearson(y, p)
        lo, hi = stats.fisher_ci(r, len(y))
        out.update(
            {
                f"{dim}_r": r,
                f"{dim}_r_lo": lo,
                f"{dim}_r_hi": hi,
                f"{dim}_ccc": stats.ccc(y, p),
                f"{dim}_rmse": stats.rmse(y, p),
                f"{dim}_mae": stats.mae(y, p),
            }
        )
    return out


@dataclass(frozen=True)
class SeedPredictions:
    """One seed's clips of one split part: labels, unsteered and steered predictions.

    steered[variant][strength] = (valence (n,), arousal (n,)), keyed by `strength.key`: a float,
    or a (neg, pos) tuple.
    """

    seed: int
    names: list[str]
    valence: np.ndarray
    arousal: np.ndarray
    pred_valence: np.ndarray
    pred_arousal: np.ndarray
    steered: dict[str, dict[StrengthValue, tuple[np.ndarray, np.ndarray]]]


CLIP_CHUNK = 128  # clips per group of steered passes: memory stays bounded by the chunk


def steer_variants(
    predict: Predict,
    table: SignalTable,
    clips: Clips,
    variants_: tuple[Method, ...],
    strengths: dict[str, tuple[StrengthValue, ...]],
    seed: int,
    names: list[str],
) -> SeedPredictions:
    """Steered predictions of every variant at each of its strengths, on one seed's clips.

    A steered pass depends only on (clip, valence vector, arousal vector, strength), so where two
    variants give a clip the same vectors at the same strength (oracle and predicted categorical
    agree on the bin; the shuffled control maps a bin to itself) the pass runs once. Passes of one
    strength are batched across variants, a chunk of clips at a time, with a clip's passes next to
    each other so they share its block-1 output (`inference.predict`'s rows). Strengths are keyed by
    `strength.key` (a float, or a (neg, pos) tuple) and run in the order first given.
    """
    steers = {v.name: v.signals(table, clips, seed) for v in variants_}
    n = len(clips.valence)
    keys = {v.name: list(dict.fromkeys(strength_key(s) for s in strengths[v.name])) for v in variants_}
    out = {v.name: {k: (np.empty(n, np.float32), np.empty(n, np.float32)) for k in keys[v.name]} for v in variants_}
    for strength in dict.fromkeys(strength_key(s) for v in variants_ for s in strengths[v.name]):
        users = [v.name for v in variants_ if strength in keys[v.name]]
        for start in range(0, n, CLIP_CHUNK):
            stop = min(start + CLIP_CHUNK, n)
            rows: dict[tuple[int, bytes, bytes], int] = {}
            unique: list[tuple[int, np.ndarray, np.ndarray]] = []
            where: dict[str, list[int]] = {name: [] for name in users}
            for i in range(start, stop):
                for name in users:
                    sv, sa = steers[name]
                    key = (i, sv[i].tobytes(), sa[i].tobytes())
                    if key not in rows:
                        rows[key] = len(unique)
                        unique.append((i, sv[i], sa[i]))
                    where[name].append(rows[key])
            clip_rows = np.array([u[0] for u in unique]) - start
            sv_u = np.stack([u[1] for u in unique])
            sa_u = np.stack([u[2] for u in unique])
            v_u, a_u = predict(clips.features[start:stop], clip_rows, sv_u, sa_u, strength)
            for name in users:
                out[name][strength][0][start:stop] = v_u[where[name]]
                out[name][strength][1][start:stop] = a_u[where[name]]
    return SeedPredictions(
        seed=seed,
        names=names,
        valence=clips.valence,
        arousal=clips.arousal,
        pred_valence=clips.pred_valence,
        pred_arousal=clips.pred_arousal,
        steered=out,
    )
