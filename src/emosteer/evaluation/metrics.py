"""The metrics files' records, pooled over seeds: a steering method's Δr against the unsteered
model and against the global-mean control with its verdict, one seed's scores, the unsteered
baseline, the feedback row, how many clips steering moves toward a bin, and the validation
predictions as plot columns.

Every verdict row is made by one procedure (`evaluation.verdicts`, docs/statistics.md "The verdict
procedure"): per seed the statistic on its validation clips and its delete-one jackknife variance,
pooled over seeds that re-split one clip set of `n_clips` (`delta_estimate`, `mean_estimate`), and
written as `key`, `key_lo`, `key_hi`, `key_se` and `key_per_seed` (`record`); the same estimate
gives the interval, the p-value and the call. Detection and break-even records still pool one
(observed, resamples) pair per seed by the two-level bootstrap (`pool_seeds`): they are
descriptions, not verdicts. The functions take arrays, dataclasses and the numbers they need
(`n_boot`, the chosen strengths), never params.yaml: the jobs layer reads the files and hands them
over (tests/test_layers.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emosteer import correlation
from emosteer.evaluation import evaluate, pooling, stats, verdicts
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import Method
from emosteer.model.activations import Activations
from emosteer.steering import steerability
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


Triple = tuple[np.ndarray, np.ndarray, np.ndarray]  # one seed's (y, base, new) on its clips


def delta_estimate(triples: Sequence[Triple], n_clips: int) -> verdicts.Estimate:
    """Δr = r(y, new) - r(y, base) per seed with its jackknife variance over the seed's clips
    (`stats.jackknife_delta_r`), pooled by the verdict procedure over seeds that re-split one set
    of `n_clips` clips (`verdicts.estimate`)."""
    values, variances = [], []
    for y, base, new in triples:
        d, v = stats.jackknife_delta_r(y, base, new)
        values.append(float(d))
        variances.append(float(v))
    return verdicts.estimate(values, variances, [len(t[0]) for t in triples], n_clips)


def mean_estimate(per_clip: Sequence[np.ndarray], n_clips: int) -> verdicts.Estimate:
    """A per-clip quantity's mean (NaN clips left out) per seed, pooled by the verdict procedure
    (`stats.jackknife_ratio` with weight 0 on the NaN clips)."""
    values, variances = [], []
    for x in per_clip:
        x = np.asarray(x, dtype=np.float64)
        keep = np.isfinite(x)
        m, v = stats.jackknife_ratio(np.where(keep, x, 0.0), keep.astype(np.float64))
        values.append(float(m))
        variances.append(float(v))
    return verdicts.estimate(values, variances, [len(x) for x in per_clip], n_clips)


def share_estimate(per_clip: Sequence[np.ndarray], n_clips: int) -> verdicts.Estimate:
    """`mean_estimate` of a per-clip 0/1 quantity: a share lies in [0, 1], so its interval is kept
    there too (with few seeds the t tails reach past)."""
    est = mean_estimate(per_clip, n_clips)
    return dataclasses.replace(est, lo=max(est.lo, 0.0), hi=min(est.hi, 1.0))


def record(key: str, pooled: pooling.Pooled | verdicts.Estimate, per_seed: bool = True) -> dict[str, Any]:
    """A pooled statistic as metrics keys: `key` (the mean over seeds), `key_lo`, `key_hi` (its
    95% interval), `key_se` (an Estimate's standard error) and `key_per_seed`."""
    out = {key: pooled.mean, f"{key}_lo": pooled.lo, f"{key}_hi": pooled.hi}
    if isinstance(pooled, verdicts.Estimate):
        out[f"{key}_se"] = pooled.se
    if per_seed:
        out[f"{key}_per_seed"] = pooled.per_seed
    return out


def pooled_metrics(
    variant: Method,
    choice: Choice,
    val: list[SeedPredictions],
    reference: list[dict[str, np.ndarray]],
    size: int,
    n_clips: int,
    fusion: Fusion | None = None,
) -> dict[str, Any]:
    """One variant's pooled metrics: Δr vs unsteered and vs the global-mean control, per dim, with
    the verdict; with `fusion` (the variant's fusion twin), steering vs the twin ("beyond fusion")
    with its own verdict, and the share of clips whose prediction moved toward the point they were
    steered toward at the chosen strength (`<dim>_toward_target`, `steerability.toward_target`)."""
    m: dict[str, Any] = {
        "method": variant.name,
        "selection": variant.selection,
        "uses_true_labels": variant.uses_true_labels,
        "grid": size,
        "bins": size * size,
        "family": verdicts.family_of(variant.selection),
        "n_seeds": len(val),
        "n_clips": n_clips,
        "n_val_per_seed": [len(d.valence) for d in val],
        "strength": strength_json(choice.strength),
        "strength_chosen_on": choice.chosen_on,
        "strength_dev_clips": choice.dev_clips,
    }
    if fusion is not None:
        m.update({"fusion_twin": fusion.name, "fusion_weight": fusion.weight})
    for i, dim in enumerate(DIMS):
        vs_base, vs_gm, r_new = [], [], []
        for d, ref in zip(val, reference):
            y, new = getattr(d, dim), d.steered[variant.name][choice.strength][i]
            vs_base.append((y, getattr(d, f"pred_{dim}"), new))
            vs_gm.append((y, ref[dim], new))
            r_new.append(correlation.pearson(y, new))
        dr, gm = delta_estimate(vs_base, n_clips), delta_estimate(vs_gm, n_clips)
        m.update(
            {
                f"{dim}_r": float(np.mean(r_new)),
                f"{dim}_r_per_seed": r_new,
                **record(f"{dim}_dr", dr),
                f"{dim}_sign_agreement": dr.sign_agreement,
                f"{dim}_dr_seed_var": dr.seed_var,
                f"{dim}_dr_shared_var": dr.shared_var,
                **record(f"{dim}_dr_vs_global_mean", gm, per_seed=False),
                f"{dim}_verdict": verdicts.verdict(dr, gm),
                f"{dim}_verdict_p": verdicts.verdict_p(dr, gm),
            }
        )
        if fusion is not None:
            toward = [
                steerability.toward_target(t[2] - t[1], target[:, i], t[1])
                for t, target in zip(vs_base, fusion.targets)
            ]
            m.update(record(f"{dim}_toward_target", share_estimate(toward, n_clips)))
            beyond = delta_estimate([(t[0], f[i], t[2]) for t, f in zip(vs_base, fusion.predictions)], n_clips)
            m.update(
                {
                    **record(f"{dim}_beyond_fusion", beyond),
                    f"{dim}_beyond_fusion_verdict": verdicts.verdict(beyond, None),
                    f"{dim}_beyond_fusion_p": verdicts.verdict_p(beyond, None),
                }
            )
    return m


@dataclass(frozen=True)
class Fusion:
    """A steering variant's fusion twin on the validation clips: its registry name, the weight
    picked on dev, and per seed its (valence, arousal) predictions."""

    name: str
    weight: float
    predictions: list[tuple[np.ndarray, np.ndarray]]
    targets: list[np.ndarray]  # per seed (n_val, 2): the point the variant steers each clip toward


def fusion_metrics(twin: Method, fusion: Fusion, val: list[SeedPredictions], size: int, n_clips: int) -> dict[str, Any]:
    """The fusion twin's own row: its Δr against the unsteered model per dim (no network: the
    unsteered prediction moved toward the variant's target), with a verdict without the
    global-mean condition (no signal to be specific about)."""
    m: dict[str, Any] = {
        "method": twin.name,
        "selection": twin.selection,
        "fuses": True,
        "uses_true_labels": twin.uses_true_labels,
        "grid": size,
        "bins": size * size,
        "family": verdicts.SECONDARY,
        "n_seeds": len(val),
        "n_clips": n_clips,
        "n_val_per_seed": [len(d.valence) for d in val],
        "weight": fusion.weight,
    }
    for i, dim in enumerate(DIMS):
        triples = [(getattr(d, dim), getattr(d, f"pred_{dim}"), f[i]) for d, f in zip(val, fusion.predictions)]
        dr = delta_estimate(triples, n_clips)
        r_new = [correlation.pearson(y, new) for y, _, new in triples]
        m.update(
            {
                f"{dim}_r": float(np.mean(r_new)),
                f"{dim}_r_per_seed": r_new,
                **record(f"{dim}_dr", dr),
                f"{dim}_sign_agreement": dr.sign_agreement,
                f"{dim}_verdict": verdicts.verdict(dr, None),
                f"{dim}_verdict_p": verdicts.verdict_p(dr, None),
            }
        )
    return m


def seed_metrics(variant: Method, strength: StrengthValue, d: SeedPredictions, n_boot: int) -> dict[str, Any]:
    """One seed's scores of one variant (r, Δr with its paired CI, Williams' p, CCC, RMSE, MAE)."""
    clips = evaluate.Clips(d.valence, d.arousal, d.pred_valence, d.pred_arousal, np.empty(0))
    v, a = d.steered[variant.name][strength]
    return {"strength": strength_json(strength), **evaluate.score(clips, v, a, n_boot=n_boot, seed=d.seed)}


def baseline_pooled(
    per_seed: dict[int, dict[str, float]], seeds: list[int], n_val: list[int], forward_passes: int
) -> dict[str, Any]:
    """The unsteered model's r per dim: its mean and minimum over seeds, and each seed's."""
    pooled: dict[str, Any] = {
        "method": "baseline",
        "n_seeds": len(seeds),
        "n_val_per_seed": n_val,
        "forward_passes": forward_passes,
    }
    for dim in DIMS:
        rs = [per_seed[s][f"{dim}_r"] for s in seeds]
        pooled.update({f"{dim}_r": float(np.mean(rs)), f"{dim}_r_min": float(np.min(rs)), f"{dim}_r_per_seed": rs})
    return pooled


_COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def feedback_method(passes: int) -> str:
    """The feedback row's name: `two_passes_vs_one` for the default 2 passes."""
    word = _COUNTS[passes - 1] if passes <= len(_COUNTS) else str(passes)
    return f"{word}_pass{'es' if passes > 1 else ''}_vs_one"


def feedback_metrics(
    seeds: list[tuple[int, np.ndarray, Activations]],
    k: int,
    n_clips: int,
    permuted: list[dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Does the LRM feedback help? On each seed's validation clips, the model's final pass against
    the one-pass twin (a separately trained model with no feedback: `train`'s twin, stored by
    extract_activations) when every seed has one, else against pass 1 of the same unsteered call
    (`compares` says which). Pooled by the verdict procedure; a verdict without the global-mean
    condition (no bin to be specific about: docs/statistics.md, "The feedback row"). The other
    comparison is kept beside it (`<dim>_dr_vs_pass1`, and `<dim>_dr_vs_one_pass` with a twin).
    `permuted` (per seed, the final pass with another clip's feedback): the permuted-feedback
    control, `<dim>_dr_permuted` = r(permuted) - r(own feedback) with its verdict (`hurts` says the
    clip's own feedback carries something another clip's does not). `seeds`: per seed, its
    validation clips' indices and its activations; `k`: the forward passes."""
    twin = all(acts.one_pass_valence is not None for _, _, acts in seeds)
    m: dict[str, Any] = {
        "method": feedback_method(k),
        "selection": "feedback",
        "uses_true_labels": False,
        "forward_passes": k,
        "family": verdicts.SECONDARY,
        "compares": (
            f"pass {k} vs a separately trained one-pass model"
            if twin
            else f"pass {k} vs pass 1 of the same unsteered call"
        ),
        "n_seeds": len(seeds),
        "n_clips": n_clips,
        "n_val_per_seed": [len(idx) for _, idx, _ in seeds],
    }
    for dim in DIMS:
        vs_first, vs_twin, r_final, r_first, r_twin = [], [], [], [], []
        for _, idx, acts in seeds:
            y = getattr(acts, dim)[idx]
            first, final = getattr(acts, f"pass1_{dim}")[idx], getattr(acts, f"pred_{dim}")[idx]
            vs_first.append((y, first, final))
            r_final.append(correlation.pearson(y, final))
            r_first.append(correlation.pearson(y, first))
            if twin:
                one = getattr(acts, f"one_pass_{dim}")[idx]
                vs_twin.append((y, one, final))
                r_twin.append(correlation.pearson(y, one))
        pass1 = delta_estimate(vs_first, n_clips)
        dr = delta_estimate(vs_twin, n_clips) if twin else pass1
        m.update(
            {
                f"{dim}_r": float(np.mean(r_final)),
                f"{dim}_r_per_seed": r_final,
                f"{dim}_r_pass1": float(np.mean(r_first)),
                f"{dim}_r_pass1_per_seed": r_first,
                **record(f"{dim}_dr", dr),
                f"{dim}_sign_agreement": dr.sign_agreement,
                f"{dim}_verdict": verdicts.verdict(dr, None),
                f"{dim}_verdict_p": verdicts.verdict_p(dr, None),
                **record(f"{dim}_dr_vs_pass1", pass1, per_seed=False),
            }
        )
        if twin:
            m.update(
                {
                    f"{dim}_r_one_pass": float(np.mean(r_twin)),
                    f"{dim}_r_one_pass_per_seed": r_twin,
                    **record(f"{dim}_dr_vs_one_pass", dr, per_seed=False),
                }
            )
        if permuted is not None:
            perm = delta_estimate([(y, final, other[dim]) for (y, _, final), other in zip(vs_first, permuted)], n_clips)
            m.update(
                {
                    **record(f"{dim}_dr_permuted", perm),
                    f"{dim}_permuted_verdict": verdicts.verdict(perm, None),
                    f"{dim}_permuted_p": verdicts.verdict_p(perm, None),
                }
            )
    return m


def toward_metrics(
    seeds: list[int], shares: list[dict[str, tuple[np.ndarray, np.ndarray]]], n_clips: int
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Per dim, the share of (clip, bin) pairs that move toward the bin (`steerability.toward`),
    and the share the clips' common shift alone gives; per seed the mean over its validation clips
    (NaN clips left out), pooled by the verdict procedure (`mean_estimate`)."""
    pooled: dict[str, Any] = {}
    per_seed: list[dict[str, float]] = [{} for _ in shares]
    for dim in DIMS:
        for i, key in enumerate((f"{dim}_toward", f"{dim}_toward_common")):
            est = share_estimate([share[dim][i] for share in shares], n_clips)
            for value, out in zip(est.per_seed, per_seed):
                out[key] = value
            pooled.update(record(key, est, per_seed=i == 0))
    return pooled, per_seed


def prediction_columns(val: list[SeedPredictions], choices: dict[str, Choice]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        "seed": [],
        "audio_name": [],
        "true_valence": [],
        "true_arousal": [],
        "baseline_valence": [],
        "baseline_arousal": [],
    }
    for d in val:
        n = len(d.valence)
        for key, values in (
            ("seed", [d.seed] * n),
            ("audio_name", d.names),
            ("true_valence", d.valence),
            ("true_arousal", d.arousal),
            ("baseline_valence", d.pred_valence),
            ("baseline_arousal", d.pred_arousal),
        ):
            cols[key].extend(values)
        for name, (v, a) in ((k, d.steered[k][choices[k].strength]) for k in choices):
            cols.setdefault(f"{name}_valence", []).extend(v)
            cols.setdefault(f"{name}_arousal", []).extend(a)
    return cols
