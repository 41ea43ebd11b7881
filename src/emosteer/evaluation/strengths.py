"""The strength of each steering method, chosen on the pooled dev clips of every seed, and its dev
curve as plot columns.

Each method is run at every strength of the sweep on each seed's dev clips (the jobs layer runs
them); per strength, the mean of its valence and arousal Δr is pooled over seeds (`metrics.pool_seeds`),
and `pooling.pick_pooled` picks the gentlest strength within one standard error of the best. The
validation clips never inform the choice.
"""

from __future__ import annotations

from typing import Any

from emosteer.evaluation import pooling
from emosteer.evaluation.evaluate import SeedPredictions
from emosteer.evaluation.methods import Method
from emosteer.evaluation.metrics import DIMS, Choice, pool_seeds
from emosteer.strength import Value as StrengthValue
from emosteer.strength import label as strength_label
from emosteer.strength import scales as strength_scales
from emosteer.strength import size as strength_size


def pick_strengths(
    dev: list[SeedPredictions], variants: tuple[Method, ...], strengths: tuple[StrengthValue, ...], n_boot: int
) -> dict[str, Choice]:
    """Per variant, the pooled dev curve over `strengths` and its pick (`pooling.pick_pooled`: the
    gentlest within one SE of the best, gentle meaning a small `strength.size`: |s|, or
    max(|neg|, |pos|) for a pair, so -1 is as gentle as 1)."""
    banks = [pooling.clip_bank(len(d.valence), n_boot, d.seed) for d in dev]
    out = {}
    for v in variants:
        curve = [
            pool_seeds((_mean_dims(d, v, strength, bank) for d, bank in zip(dev, banks)), n_boot)
            for strength in strengths
        ]
        pick = pooling.pick_pooled([strength_size(x) for x in strengths], curve)
        out[v.name] = Choice(strengths[pick], f"dev ({len(dev)} seeds pooled)", sum(len(d.valence) for d in dev), curve)
    return out


def _mean_dims(d: SeedPredictions, v: Method, strength: StrengthValue, bank: Any) -> tuple[float, Any]:
    """One seed's dev score of a method at a strength: the mean of its valence and arousal Δr,
    observed and on each clip resample."""
    dims = [
        pooling.delta_r(getattr(d, dim), getattr(d, f"pred_{dim}"), d.steered[v.name][strength][i], bank)
        for i, dim in enumerate(DIMS)
    ]
    return (dims[0][0] + dims[1][0]) / 2, (dims[0][1] + dims[1][1]) / 2


def curve_columns(choices: dict[str, Choice], strengths: tuple[StrengthValue, ...]) -> dict[str, list[Any]]:
    """Long-format dev curves: `strength` is the axis label (2, -1, 0.5/2; rows in sweep order),
    strength_neg/strength_pos the factors it puts on the ModBlocks' neg/pos scales."""
    cols: dict[str, list[Any]] = {
        "variant": [],
        "strength": [],
        "strength_neg": [],
        "strength_pos": [],
        "dr_mean": [],
        "dr_lo": [],
        "dr_hi": [],
    }
    for name, c in choices.items():
        for s, pooled in zip(strengths, c.curve):
            neg, pos = strength_scales(s)
            for key, value in (
                ("variant", name),
                ("strength", strength_label(s)),
                ("strength_neg", neg),
                ("strength_pos", pos),
                ("dr_mean", pooled.mean),
                ("dr_lo", pooled.lo),
                ("dr_hi", pooled.hi),
            ):
                cols[key].append(value)
    return cols
