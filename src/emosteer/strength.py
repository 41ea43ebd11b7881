"""Steering strength: one number s, or a pair (neg, pos) that scales a ModBlock's two scales apart.

A ModBlock computes m = V·(s ⊙ U·tanh(norm z)) + b with s = neg_scale where U·tanh(...) < 0, else
pos_scale. Steering multiplies those scales for one call: a single number s multiplies both (s < 0
reverses the sign of the term that depends on z; 0 leaves the bias alone), a pair (neg, pos)
multiplies neg_scale by neg and pos_scale by pos. s and (s, s) are the same modulation.

A strength is used as a key (experiment results are keyed by it), as a size (the gentlest strength
is the one of smallest size), as an axis label and as JSON; this module is each of those once.
Validation of user input (finite, pair of exactly two) is the params schema's (`params.Strength`).
"""

from __future__ import annotations

from typing import Any

from emosteer.errors import EmosteerError

Value = float | tuple[float, float]
"""A strength as the library passes it: a float, or a (neg, pos) tuple of floats."""

LABEL_SEPARATOR = "/"  # on a plot axis and in the report: -1/3


def scales(strength: Any) -> tuple[Any, Any]:
    """(factor for neg_scale, factor for pos_scale). A single number comes back unchanged, twice,
    so s and (s, s) give the same arithmetic; a pair is a 2-sequence (tuple, or a JSON list)."""
    if isinstance(strength, (tuple, list)):
        if len(strength) != 2:
            raise EmosteerError(f"strength: a pair is (neg, pos), got {len(strength)} values {strength!r}")
        return strength[0], strength[1]
    return strength, strength


def key(strength: Any) -> Value:
    """The hashable form: a float, or a (neg, pos) tuple of floats (a JSON list becomes a tuple)."""
    if isinstance(strength, (tuple, list)):
        neg, pos = scales(strength)
        return float(neg), float(pos)
    return float(strength)


def size(strength: Any) -> float:
    """How strong: |s|, or max(|neg|, |pos|) for a pair (what `pick_pooled` calls gentler)."""
    neg, pos = scales(strength)
    return max(abs(float(neg)), abs(float(pos)))


def label(strength: Any) -> str:
    """A short axis label that tells strengths apart: 2, -1, 0.5/2 (shortest round-trip digits)."""
    if isinstance(strength, (tuple, list)):
        neg, pos = scales(strength)
        return f"{_number(neg)}{LABEL_SEPARATOR}{_number(pos)}"
    return _number(strength)


def _number(x: Any) -> str:
    text = repr(float(x) + 0.0)  # + 0.0: -0.0 is 0
    return text.removesuffix(".0")


def to_json(strength: Any) -> float | list[float]:
    """A float, or a pair as the 2-list [neg, pos] (as params.yaml writes it)."""
    k = key(strength)
    return list(k) if isinstance(k, tuple) else k
