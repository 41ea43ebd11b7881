"""The one resampler: blocks of resamples are the same numbers as one draw."""

from __future__ import annotations

import numpy as np
import pytest

from emosteer.bootstrap import resample_blocks, resamples
from emosteer.errors import EmosteerError


@pytest.mark.parametrize("n, n_boot, rows", [(1213, 1000, 7), (50, 333, 100), (3, 10, 4), (5, 6, 6)])
def test_blocks_are_the_one_draw_in_order(n: int, n_boot: int, rows: int) -> None:
    whole = resamples(n, n_boot, seed=5)
    blocks = list(resample_blocks(n, n_boot, 5, rows))
    assert whole.shape == (n_boot, n) and whole.min() >= 0 and whole.max() < n
    assert all(len(b) <= rows for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert not np.array_equal(resamples(n, n_boot, seed=6), whole)


def test_bad_sizes_are_one_line() -> None:
    with pytest.raises(EmosteerError, match="bootstrap: n_boot must be an integer >= 1, got 0"):
        resamples(10, 0, 1)
    with pytest.raises(EmosteerError, match="bootstrap: rows must be an integer >= 1"):
        next(resample_blocks(10, 5, 1, 0))
