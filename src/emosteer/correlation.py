"""Pearson r and the checks on its inputs: a leaf every room may use (training reports dev r,
evaluation scores Δr, steerability correlates bins), so none of them imports another for it."""

from __future__ import annotations

import numpy as np

from emosteer.errors import EmosteerError


def vector(x: np.ndarray, field: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise EmosteerError(f"correlation: {field} must be 1-D, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        i = int(np.argmin(finite))
        raise EmosteerError(f"correlation: {field}[{i}] = {arr[i]!r} is not finite")
    return arr


def pair(y: np.ndarray, p: np.ndarray, names: tuple[str, str] = ("y", "p")) -> tuple[np.ndarray, np.ndarray]:
    yy, pp = vector(y, names[0]), vector(p, names[1])
    if yy.shape != pp.shape:
        raise EmosteerError(f"correlation: {names[0]} has {yy.size} values, {names[1]} has {pp.size}")
    if yy.size < 2:
        raise EmosteerError(f"correlation: need at least 2 values, got {yy.size}")
    return yy, pp


def rowwise_pearson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (NaN where either row is constant)."""
    yc = y - y.mean(axis=-1, keepdims=True)
    pc = p - p.mean(axis=-1, keepdims=True)
    num = (yc * pc).sum(axis=-1)
    den = np.sqrt((yc * yc).sum(axis=-1) * (pc * pc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.clip(r, -1.0, 1.0)


def pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Pearson r; NaN if either input is constant (r is undefined, and we say so)."""
    yy, pp = pair(y, p)
    return float(rowwise_pearson(yy, pp))
