"""The one bootstrap draw: which clips each resample takes, with replacement.

Every CI of the pipeline resamples clips through `resamples` (the paired Δr of one seed, the
two-level pooled CI's clip level, the steerability shifts), so they share one definition of a
resample and its seeding: row b of `resamples(n, n_boot, seed)` is the b-th resample, drawn from
numpy's PCG64(seed), the same whatever the caller does with it. Leaf module.
"""

from __future__ import annotations

import numpy as np

from emosteer.errors import EmosteerError


def resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) int64 clip indices drawn with replacement, from PCG64(seed)."""
    for value, field, minimum in ((n, "clips", 1), (n_boot, "n_boot", 1), (seed, "seed", 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise EmosteerError(f"bootstrap: {field} must be an integer >= {minimum}, got {value!r}")
    return np.random.Generator(np.random.PCG64(int(seed))).integers(0, n, size=(int(n_boot), int(n)))
