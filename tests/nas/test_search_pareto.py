"""Pareto masks, non-dominated sorting, crowding distance and hypervolume on known fronts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas import crowding_distance, hypervolume, non_dominated_sort, pareto_mask
from supernet import NASError


def _brute_mask(pts):
    return np.array([not any(np.all(q <= p) and np.any(q < p) for q in pts) for p in pts])


def _grid_volume(pts, ref):
    """Count unit cells dominated by integer points: an independent exact hypervolume."""
    ranges = [range(int(lo), int(hi)) for lo, hi in zip(pts.min(axis=0), ref)]
    return sum(any(np.all(p <= np.array(cell)) for p in pts) for cell in itertools.product(*ranges))


def test_known_2d_fronts():
    assert hypervolume([[0, 0]], [1, 1]) == 1.0
    assert hypervolume([[0.5, 0], [0, 0.5]], [1, 1]) == 0.75
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    # dominated and out-of-reference points add nothing
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]], [4, 4]) == 6.0
    assert hypervolume(np.empty((0, 2)), [1, 1]) == 0.0


def test_known_3d_fronts():
    assert hypervolume([[0, 0, 0]], [1, 2, 3]) == 6.0
    assert hypervolume([[0.5, 0, 0], [0, 0.5, 0]], [1, 1, 1]) == 0.75
    assert hypervolume([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [2, 2, 2]) == 7.0


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_counting_cells(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        pts = rng.integers(0, 6, size=(8, m)).astype(float)
        ref = np.full(m, 6.0)
        assert hypervolume(pts, ref) == _grid_volume(pts, ref)


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_mask_matches_brute_force(m):
    pts = np.random.default_rng(0).integers(0, 10, size=(300, m)).astype(float)
    assert np.array_equal(pareto_mask(pts), _brute_mask(pts))


def test_non_dominated_sort_and_crowding():
    pts = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [3, 3], [4, 4]], dtype=float)
    assert non_dominated_sort(pts).tolist() == [0, 0, 0, 1, 2, 3]
    crowd = crowding_distance(pts[:3])
    assert np.isinf(crowd[0]) and np.isinf(crowd[2]) and crowd[1] == pytest.approx(2.0)


def test_mismatched_reference_is_an_error():
    with pytest.raises(NASError, match="reference point"):
        hypervolume([[0, 0]], [1, 1, 1])
