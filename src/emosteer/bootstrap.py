"""The one bootstrap draw: which clips each resample takes, with replacement.

Every CI of the pipeline resamples clips through `resamples` (the paired Δr of one seed, the
two-level pooled CI's clip level, the steerability shifts), so they share one definition of a
resample and its seeding: row b of `resamples(n, n_boot, seed)` is the b-th resample, drawn from
numpy's PCG64(seed), the same whatever the caller does with it. Leaf module.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from emosteer.errors import EmosteerError


def resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) int64 clip indices drawn with replacement, from PCG64(seed)."""
    return next(resample_blocks(n, n_boot, seed, rows=max(int(n_boot), 1)))


def resample_blocks(n: int, n_boot: int, seed: int, rows: int) -> Iterator[np.ndarray]:
    """`resamples(n, n_boot, seed)` at most `rows` resamples at a time: the same numbers (one
    generator, drawn in order), without holding all n_boot x n indices at once."""
    for value, field, minimum in ((n, "clips", 1), (n_boot, "n_boot", 1), (seed, "seed", 0), (rows, "rows", 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise EmosteerError(f"bootstrap: {field} must be an integer >= {minimum}, got {value!r}")
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    for start in range(0, int(n_boot), int(rows)):
        yield rng.integers(0, n, size=(min(int(rows), int(n_boot) - start), int(n)))
