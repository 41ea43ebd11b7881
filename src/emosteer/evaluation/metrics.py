"""The metrics files' records, pooled over seeds: a steering method's Δr against the unsteered
model and against the global-mean control with its verdict, one seed's scores, the unsteered
baseline, the feedback row, how many clips steering moves toward a bin, and the validation
predictions as plot columns.

Every pooled number is made the same way: one (observed, resamples) pair per seed, pooled by the
two-level bootstrap (`pool_seeds`, over `pooling.pool`), and written as `key`, `key_lo`, `key_hi`
and `key_per_seed` (`record`). The functions take arrays, dataclasses and the numbers they need
(`n_boot`, the chosen strengths), never params.yaml: the jobs layer reads the files and hands them
over (tests/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emosteer import correlation
from emosteer.evaluation import evaluate, pooling
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import Method
from emosteer.model.activations import Activations
from emosteer.strength import Value as StrengthValue
from emosteer.strength import to_json as strength_json

DIMS = ("valence", "arousal")


@dataclass
class Choice:
    """A variant's strength, where it was chosen, and the pooled dev curve behind it."""

    strength: StrengthValue  # a key: float or (neg, pos) tuple
    chosen_on: str
    dev_clips: int
    curve: list[pooling.Pooled] = field(default_factory=list)


def pool_seeds(pairs: Iterable[tuple[float, np.ndarray]], n_boot: int) -> pooling.Pooled:
    """One statistic pooled over seeds: each pair is one seed's observed value and its values on
    the seed's clip resamples (`pooling.clip_bank`), in seed order."""
    observed, reps = [], []
    for o, r in pairs:
        observed.append(o)
        reps.append(r)
    return pooling.pool(observed, reps, n_boot)


def record(key: str, pooled: pooling.Pooled, per_seed: bool = True) -> dict[str, Any]:
    """A pooled statistic as metrics keys: `key` (the mean over seeds), `key_lo`, `key_hi` (its
    95% two-level CI) and `key_per_seed`."""
    out = {key: pooled.mean, f"{key}_lo": pooled.lo, f"{key}_hi": pooled.hi}
    if per_seed:
        out[f"{key}_per_seed"] = pooled.per_seed
    return out


def pooled_metrics(variant: Method, choice: Choice, val: list[SeedPredictions],
                   reference: list[dict[str, np.ndarray]], size: int, n_boot: int) -> dict[str, Any]:
    """One variant's pooled metrics: Δr vs unsteered and vs the global-mean control, per dim."""
    m: dict[str, Any] = {"method": variant.name, "selection": variant.selection,
                         "uses_true_labels": variant.uses_true_labels, "grid": size,
                         "bins": size * size, "n_seeds": len(val),
                         "n_val_per_seed": [len(d.valence) for d in val],
                         "strength": strength_json(choice.strength),
                         "strength_chosen_on": choice.chosen_on,
                         "strength_dev_clips": choice.dev_clips}
    for i, dim in enumerate(DIMS):
        vs_base, vs_gm, r_new = [], [], []
        for d, ref in zip(val, reference):
            bank = pooling.clip_bank(len(d.valence), n_boot, d.seed)
            y, new = getattr(d, dim), d.steered[variant.name][choice.strength][i]
            vs_base.append(pooling.delta_r(y, getattr(d, f"pred_{dim}"), new, bank))
            vs_gm.append(pooling.delta_r(y, ref[dim], new, bank))
            r_new.append(correlation.pearson(y, new))
        dr, gm = pool_seeds(vs_base, n_boot), pool_seeds(vs_gm, n_boot)
        m.update({f"{dim}_r": float(np.mean(r_new)), f"{dim}_r_per_seed": r_new,
                  **record(f"{dim}_dr", dr), f"{dim}_sign_agreement": dr.sign_agreement,
                  **record(f"{dim}_dr_vs_global_mean", gm, per_seed=False),
                  f"{dim}_verdict": pooling.verdict(dr, gm),
                  f"{dim}_verdict_p": pooling.verdict_p(pooling.seed_sides(dr.per_seed),
                                                        pooling.seed_sides(gm.per_seed))})
    return m


def seed_metrics(variant: Method, strength: StrengthValue, d: SeedPredictions,
                 n_boot: int) -> dict[str, Any]:
    """One seed's scores of one variant (r, Δr with its paired CI, Williams' p, CCC, RMSE, MAE)."""
    clips = evaluate.Clips(d.valence, d.arousal, d.pred_valence, d.pred_arousal, np.empty(0))
    v, a = d.steered[variant.name][strength]
    return {"strength": strength_json(strength),
            **evaluate.score(clips, v, a, n_boot=n_boot, seed=d.seed)}


def baseline_pooled(per_seed: dict[int, dict[str, float]], seeds: list[int], n_val: list[int],
                    forward_passes: int) -> dict[str, Any]:
    """The unsteered model's r per dim: its mean and minimum over seeds, and each seed's."""
    pooled: dict[str, Any] = {"method": "baseline", "n_seeds": len(seeds), "n_val_per_seed": n_val,
                              "forward_passes": forward_passes}
    for dim in DIMS:
        rs = [per_seed[s][f"{dim}_r"] for s in seeds]
        pooled.update({f"{dim}_r": float(np.mean(rs)), f"{dim}_r_min": float(np.min(rs)),
                       f"{dim}_r_per_seed": rs})
    return pooled


_COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def feedback_method(passes: int) -> str:
    """The feedback row's name: `two_passes_vs_one` for the default 2 passes."""
    word = _COUNTS[passes - 1] if passes <= len(_COUNTS) else str(passes)
    return f"{word}_pass{'es' if passes > 1 else ''}_vs_one"


def feedback_metrics(seeds: list[tuple[int, np.ndarray, Activations]], k: int, n_boot: int) -> dict[str, Any]:
    """Does the LRM feedback help? The final pass against pass 1 of the same unsteered forward call
    (both stored by extract_activations: no extra pass), on each seed's validation clips: pooled Δr
    with the two-level CI, and a verdict without the global-mean condition (there is no bin to be
    specific about: docs/statistics.md, "The feedback row"). `seeds`: per seed, its validation
    clips' indices and its activations; `k`: the model's forward passes."""
    m: dict[str, Any] = {"method": feedback_method(k), "selection": "feedback",
                         "uses_true_labels": False, "forward_passes": k,
                         "compares": f"pass {k} vs pass 1 of the same unsteered call",
                         "n_seeds": len(seeds), "n_val_per_seed": [len(idx) for _, idx, _ in seeds]}
    for dim in DIMS:
        pairs, r_final, r_first = [], [], []
        for seed, idx, acts in seeds:
            y = getattr(acts, dim)[idx]
            first, final = getattr(acts, f"pass1_{dim}")[idx], getattr(acts, f"pred_{dim}")[idx]
            pairs.append(pooling.delta_r(y, first, final, pooling.clip_bank(len(idx), n_boot, seed)))
            r_final.append(correlation.pearson(y, final))
            r_first.append(correlation.pearson(y, first))
        dr = pool_seeds(pairs, n_boot)
        m.update({f"{dim}_r": float(np.mean(r_final)), f"{dim}_r_per_seed": r_final,
                  f"{dim}_r_pass1": float(np.mean(r_first)), f"{dim}_r_pass1_per_seed": r_first,
                  **record(f"{dim}_dr", dr), f"{dim}_sign_agreement": dr.sign_agreement,
                  f"{dim}_verdict": pooling.verdict(dr, None),
                  f"{dim}_verdict_p": pooling.verdict_p(pooling.seed_sides(dr.per_seed), None)})
    return m


def toward_metrics(seeds: list[int], shares: list[dict[str, tuple[np.ndarray, np.ndarray]]], n_boot: int
                   ) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Per dim, the share of (clip, bin) pairs that move toward the bin (`steerability.toward`),
    and the share the clips' common shift alone gives; pooled over seeds with the two-level
    bootstrap (each seed's clips resampled by its bank), and per seed."""
    pooled: dict[str, Any] = {}
    per_seed: list[dict[str, float]] = [{} for _ in shares]
    for dim in DIMS:
        for i, key in enumerate((f"{dim}_toward", f"{dim}_toward_common")):
            pairs = []
            for seed, share, out in zip(seeds, shares, per_seed):
                x = share[dim][i]
                bank = pooling.clip_bank(len(x), n_boot, seed)
                pairs.append((float(np.nanmean(x)), np.nanmean(x[bank], axis=1)))
                out[key] = pairs[-1][0]
            pooled.update(record(key, pool_seeds(pairs, n_boot), per_seed=i == 0))
    return pooled, per_seed


def prediction_columns(val: list[SeedPredictions], choices: dict[str, Choice]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"seed": [], "audio_name": [], "true_valence": [], "true_arousal": [],
                                  "baseline_valence": [], "baseline_arousal": []}
    for d in val:
        n = len(d.valence)
        for key, values in (("seed", [d.seed] * n), ("audio_name", d.names),
                            ("true_valence", d.valence), ("true_arousal", d.arousal),
                            ("baseline_valence", d.pred_valence), ("baseline_arousal", d.pred_arousal)):
            cols[key].extend(values)
        for name, (v, a) in ((k, d.steered[k][choices[k].strength]) for k in choices):
            cols.setdefault(f"{name}_valence", []).extend(v)
            cols.setdefault(f"{name}_arousal", []).extend(a)
    return cols
