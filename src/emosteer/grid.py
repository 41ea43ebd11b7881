"""The valence/arousal grid: G uniform bins per axis over [-1, 1], one boundary rule everywhere.

The original binned with `<` in the signal generator and `<=` in the evaluator, so a label exactly
on a threshold went to different bins in the two scripts (ORIGINAL.md §d, §e). Here every module
bins through `Grid.bin_index`, which applies one rule:

    bin = number of interior edges e with x >= e      (lo <= x < hi; x = +1 is in the last bin)

Edges are computed in float64 as (2k - G) / G, which is mathematically -1 + 2k/G but is the
correctly rounded double, so a float64 literal such as -0.2 or 1/3 *equals* its edge and lands in
the upper bin. A value is compared by its exact value: it is promoted to float64 first, so
np.float32(0.2) (= 0.2000000030) lands above the 0.2 edge and np.float32(-0.2) (= -0.2000000030)
below the -0.2 edge. That is the same answer whatever NumPy version or dtype mix is used.

Flat bin index is valence-major: flat = vi * G + ai, with vi = 0 the most negative valence and
ai = 0 the weakest arousal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emosteer.errors import EmosteerError

# The original's axis names (ORIGINAL.md §d): index 0 is the most negative / weakest.
_VALENCE_NAMES = {
    3: ("negative", "neutral", "positive"),
    5: ("very_negative", "negative", "neutral", "positive", "very_positive"),
}
_AROUSAL_NAMES = {
    3: ("weak", "middle", "strong"),
    5: ("very_weak", "weak", "middle", "strong", "very_strong"),
}


def check_unit_interval(x: np.ndarray, field: str, where: str = "labels") -> np.ndarray:
    """Return `x` as a 1-D float64 array, or raise naming the first value that is NaN or outside [-1, 1].

    Binning silently clipped or NaN labels would put clips into the wrong bin; callers that hold
    model predictions clip them explicitly (`selection.clip_unit`) before they get here.
    """
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise EmosteerError(f"{where}: {field} must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise EmosteerError(f"{where}: {field} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~((arr >= -1.0) & (arr <= 1.0))  # NaN compares False, so it is bad too
    if bad.any():
        i = int(np.argmax(bad))
        raise EmosteerError(f"{where}: {field}[{i}] = {float(arr[i])!r} is NaN or outside [-1, 1]")
    return arr


@dataclass(frozen=True)
class Grid:
    """G uniform bins per axis over [-1, 1]; K = G*G flat bins, valence-major."""

    size: int

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)):
            raise EmosteerError(f"grid: size must be an integer >= 2, got {self.size!r}")
        if self.size < 2:
            raise EmosteerError(f"grid: size must be an integer >= 2, got {self.size}")
        object.__setattr__(self, "size", int(self.size))

    @property
    def n_bins(self) -> int:
        """K = G*G."""
        return self.size * self.size

    @property
    def edges(self) -> np.ndarray:
        """(G+1,) float64 edges -1 + 2k/G, each the correctly rounded double of its exact value."""
        g = self.size
        return (2.0 * np.arange(g + 1) - g) / g

    @property
    def centres(self) -> np.ndarray:
        """(G,) float64 bin centres -1 + (2k+1)/G, correctly rounded like the edges."""
        g = self.size
        return (2.0 * np.arange(g) + 1.0 - g) / g

    def axis_index(self, x: np.ndarray, field: str = "value", where: str = "labels") -> np.ndarray:
        """Bin index along one axis: number of interior edges e with x >= e (see module doc)."""
        arr = check_unit_interval(x, field, where)
        return np.searchsorted(self.edges[1:-1], arr, side="right").astype(np.int64)

    def bin_index(self, v: np.ndarray, a: np.ndarray, where: str = "labels") -> np.ndarray:
        """Flat bin index vi*G + ai of each (valence, arousal) pair; `where` names the source in errors."""
        v = np.atleast_1d(np.asarray(v))
        a = np.atleast_1d(np.asarray(a))
        if v.shape != a.shape:
            raise EmosteerError(f"{where}: valence shape {v.shape} != arousal shape {a.shape}")
        vi = self.axis_index(v, "valence", where)
        ai = self.axis_index(a, "arousal", where)
        return vi * self.size + ai

    def bin_coords(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vi, ai) of flat indices; raises on an index outside [0, K)."""
        idx = np.atleast_1d(np.asarray(flat))
        if not np.issubdtype(idx.dtype, np.integer):
            raise EmosteerError(f"grid: flat bin indices must be integers, got dtype {idx.dtype}")
        bad = (idx < 0) | (idx >= self.n_bins)
        if bad.any():
            i = int(np.argmax(bad))
            raise EmosteerError(f"grid: flat bin index [{i}] = {idx[i]} outside [0, {self.n_bins})")
        idx = idx.astype(np.int64)
        return idx // self.size, idx % self.size

    def centre_points(self) -> np.ndarray:
        """(K, 2) float64 [(v_c, a_c)] in flat-index order."""
        c = self.centres
        vv, aa = np.meshgrid(c, c, indexing="ij")
        return np.stack([vv.ravel(), aa.ravel()], axis=1)

    def centre_index_points(self) -> np.ndarray:
        """(K, 2) int64 [(vi, ai)]: centres in index units, for exact distance comparisons.

        Centre distances are (2/G) * sqrt(dvi^2 + dai^2), so ranking by the integer dvi^2 + dai^2
        gives the same order as Euclidean distance with no floating-point ties broken by rounding.
        """
        vi, ai = np.meshgrid(np.arange(self.size), np.arange(self.size), indexing="ij")
        return np.stack([vi.ravel(), ai.ravel()], axis=1).astype(np.int64)

    def axis_labels(self, index: np.ndarray) -> list[str]:
        """Axis labels that sort in bin order and show the bin's range, e.g. '1 [-0.60,-0.20)'."""
        e = self.edges
        width = len(str(self.size - 1))
        return [f"{i:0{width}d} [{e[i]:+.2f},{e[i + 1]:+.2f}{']' if i == self.size - 1 else ')'}" for i in index]

    def names(self) -> list[str]:
        """K bin names in flat order.

        G=3 and G=5 use the original's `f"{valence}_{arousal}"` names (e.g. `positive_strong`,
        `very_negative_very_weak`); any other G uses `v{i}_a{j}` with i = 0 the most negative
        valence and j = 0 the weakest arousal.
        """
        g = self.size
        if g in _VALENCE_NAMES:
            return [f"{v}_{a}" for v in _VALENCE_NAMES[g] for a in _AROUSAL_NAMES[g]]
        return [f"v{i}_a{j}" for i in range(g) for j in range(g)]
