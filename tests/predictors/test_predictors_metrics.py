"""Metrics on inputs whose answers are known by hand, and the sampling plan."""

import math

import numpy as np
import pytest

import supernet
from predictors import kendall_tau, plan_archs, regression_metrics, spearman_rho
from supernet import NASError


def test_rank_correlations_on_known_inputs():
    y = [1.0, 2.0, 3.0, 4.0]
    assert kendall_tau(y, y) == pytest.approx(1.0)
    assert kendall_tau(y, y[::-1]) == pytest.approx(-1.0)
    # one discordant pair out of six: (5 - 1) / 6
    assert kendall_tau(y, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(4 / 6)
    # rank differences (0, 1, -1, 0): 1 - 6 * 2 / (4 * 15)
    assert spearman_rho(y, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert kendall_tau(y, [5.0, 5.0, 5.0, 5.0]) == 0.0


def test_regression_metrics_on_known_inputs():
    m = regression_metrics([70.0, 72.0, 74.0], [70.5, 71.0, 74.0])
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 1.0) / 3))
    assert m["mae"] == pytest.approx(0.5)
    assert m["n"] == 3
    assert m["kendall_tau"] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [([1.0, 2.0], [1.0]), ([1.0], [1.0]), ([1.0, np.nan], [1.0, 2.0])])
def test_metrics_refuse_bad_input(bad):
    with pytest.raises(NASError):
        regression_metrics(*bad)


def test_plan_is_reproducible_distinct_and_covers_the_size_range():
    space = supernet.get_space("fmnist_small")
    plan = plan_archs(space, 200, seed=3, stratified_fraction=0.5)
    assert plan == plan_archs(space, 200, seed=3, stratified_fraction=0.5)
    archs = [a for a, _ in plan]
    assert len(set(archs)) == 200
    assert {s for _, s in plan} == {"uniform", "stratified"}
    assert space.smallest() in archs and space.largest() in archs
    macs = {src: np.log([supernet.arch_cost(space, a).macs for a, s in plan if s == src])
            for src in ("uniform", "stratified")}
    assert macs["stratified"].std() > macs["uniform"].std()  # spread across the size range
    for arch in archs:
        space.validate(arch)
    with pytest.raises(NASError):
        plan_archs(space, 0)
