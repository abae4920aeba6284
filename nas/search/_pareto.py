"""Pareto dominance, non-dominated sorting, crowding distance and exact hypervolume.
Every function takes objective values to *minimise*, shape ``(n, m)``."""

from __future__ import annotations

import numpy as np

from supernet import NASError

__all__ = ["pareto_mask", "non_dominated_sort", "crowding_distance", "hypervolume"]


def _as_points(points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        raise NASError(f"expected an (n, m) array of objective values, got shape {pts.shape}")
    return pts


def pareto_mask(points) -> np.ndarray:
    """True for the points no other point dominates (duplicates are all kept).

    Points are visited in lexicographic order, where no point can be dominated by a later
    one, and each is compared with the front found so far: O(n log n + n * front size)."""
    pts = _as_points(points)
    keep = np.zeros(len(pts), dtype=bool)
    order = np.lexsort(pts.T[::-1])
    if pts.shape[1] == 2:  # a sweep: kept iff below every earlier point (or a duplicate)
        best = None
        for i in order:
            if best is None or pts[i, 1] < best[1] or (pts[i] == best).all():
                keep[i], best = True, pts[i]
        return keep
    front = np.empty((0, pts.shape[1]))
    for i in order:
        p = pts[i]
        if not (np.all(front <= p, axis=1) & np.any(front < p, axis=1)).any():
            keep[i] = True
            front = np.vstack([front, p])
    return keep


def non_dominated_sort(points) -> np.ndarray:
    """Front index of each point: 0 for the Pareto front, 1 for the front once that is
    removed, and so on (NSGA-II's ranking)."""
    pts = _as_points(points)
    rank = np.full(len(pts), -1)
    left = np.arange(len(pts))
    level = 0
    while left.size:
        mask = pareto_mask(pts[left])
        rank[left[mask]] = level
        left = left[~mask]
        level += 1
    return rank


def crowding_distance(points) -> np.ndarray:
    """NSGA-II's crowding distance within one front (inf at each objective's extremes)."""
    pts = _as_points(points)
    n, m = pts.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(pts[:, j], kind="stable")
        span = pts[order[-1], j] - pts[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (pts[order[2:], j] - pts[order[:-2], j]) / span
    return dist


def _hv2d(pts: np.ndarray, ref: np.ndarray) -> float:
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    if len(pts) == 0:
        return 0.0
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        return _hv2d(pts, ref)
    # slice along the last objective: between consecutive values the dominated region is
    # an (m-1)-D hypervolume of the points at or below the slice
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    total = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        if upper > pts[i, -1]:
            sub = pts[: i + 1, :-1]
            total += _hv(sub[pareto_mask(sub)], ref[:-1]) * (upper - pts[i, -1])
    return total


def hypervolume(points, reference) -> float:
    """Exact volume dominated by ``points`` and bounded by ``reference`` (minimisation).
    Points not strictly better than the reference in every objective add nothing. Exact in
    any dimension; fast in 2-D (a sweep), slower by recursion above."""
    pts = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    if pts.shape[1] != ref.size and len(pts):
        raise NASError(f"hypervolume: points have {pts.shape[1]} objectives, the reference "
                       f"point {ref.tolist()} has {ref.size}")
    pts = pts[np.all(pts < ref, axis=1)] if len(pts) else pts.reshape(0, ref.size)
    if len(pts) == 0:
        return 0.0
    return float(_hv(pts[pareto_mask(pts)], ref))
