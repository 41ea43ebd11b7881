"""The limits on steering strength and alpha, defined once for the CLI and for params.yaml.

`emosteer predict --strength/--alpha` and the params schema (`steering.strength`,
`steering.alpha`, and every entry of a strength list) call these, so a value one accepts the
other accepts too. Each returns the value as a float or raises EmosteerError naming the field.

- strength: a finite number >= 0. It multiplies the ModBlocks' neg/pos scales; 0 switches the
  steered pathways' modulation off. Negative strengths (issue 13 item 4) need (neg, pos) scale pairs in the model,
  which it does not have yet, so they are refused rather than run with an untested meaning.
- alpha: a finite number in [0, 1], the mix source = alpha*steer + (1-alpha)*own feedback.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emosteer.errors import EmosteerError

MIN_STRENGTH = 0.0
ALPHA_RANGE = (0.0, 1.0)


def _number(value: Any, field: str) -> float:
    """`value` as a finite float; bools and non-numbers are refused, naming `field`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise EmosteerError(f"{field}: expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        raise EmosteerError(f"{field}: must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise EmosteerError(f"{field}: must be a finite number, got {value!r}")
    return number


def check_strength(value: Any, field: str = "strength") -> float:
    """A finite strength >= 0 as a float, or EmosteerError naming `field`."""
    number = _number(value, field)
    if number < MIN_STRENGTH:
        raise EmosteerError(
            f"{field}: must be >= {MIN_STRENGTH:g}, got {value!r} "
            "(negative strengths need (neg, pos) scale pairs the model does not have yet)"
        )
    return number


def check_alpha(value: Any, field: str = "alpha") -> float:
    """A finite alpha in [0, 1] as a float, or EmosteerError naming `field`."""
    number = _number(value, field)
    lo, hi = ALPHA_RANGE
    if not lo <= number <= hi:
        raise EmosteerError(f"{field}: must be in [{lo:g}, {hi:g}], got {value!r}")
    return number
