"""Predictor in the loop on a real measured objective: parameters counted on the built
subnet (each measurement builds a torch module)."""

from __future__ import annotations

import numpy as np

from latency_tables import EfficiencyTable
from nas import Measurement, Objective, SearchProblem, create_strategy, predictor_in_the_loop
from supernet import Subnet, get_space


def _measured_params(space, calls):
    def measure(arch):
        calls.append(arch)
        return float(sum(p.numel() for p in Subnet.build(space.layout(arch)).parameters()))

    return measure


def test_predictor_in_the_loop_beats_random_on_measurements():
    space = get_space("fmnist_small")
    macs = EfficiencyTable(space, "macs")
    calls: list = []
    measured = Measurement(_measured_params(space, calls), metric="params")
    # maximise MACs (a capacity proxy) while minimising measured parameters: resolution buys
    # MACs at no parameter cost, so the front is not trivial
    problem = SearchProblem(space, [Objective("macs", macs, maximize=True),
                                    Objective("params", measured)])
    ref = [float(macs.predict([space.smallest()])[0]), 1.4e6]
    loop = predictor_in_the_loop(problem, budget=60, batch_size=15, inner_budget=800, seed=0)
    assert len(loop.archs) == 60 and len(calls) == 60  # never measured twice
    assert len(set(calls)) == 60
    assert loop.info["rounds"] == 3
    hv_rnd = [create_strategy("random").run(problem, budget=60, seed=s).hypervolume(ref) for s in (0, 1)]
    assert loop.hypervolume(ref) > max(hv_rnd)
    expected = [float(sum(p.numel() for p in Subnet.build(space.layout(a)).parameters()))
                for a in loop.archs[:3]]
    assert np.allclose(loop.values[:3, 1], expected)


def test_warm_start_measures_the_scorers_best_first():
    """With a scorer that ranks the measurement well (here: parameters from the layout, for
    measured parameters), the first batch is already near the front, far better than random;
    the scorer's own search costs no measurement."""
    space = get_space("fmnist_small")
    macs, params = EfficiencyTable(space, "macs"), EfficiencyTable(space, "params")
    ref = [float(macs.predict([space.smallest()])[0]), 1.4e6]
    for seed in (0, 1):
        calls: list = []
        problem = SearchProblem(space, [Objective("macs", macs, maximize=True),
                                        Objective("params", Measurement(_measured_params(space, calls)))])
        warm = predictor_in_the_loop(problem, budget=12, batch_size=12, seed=seed, warm_start=params,
                                     warm_budget=300)
        assert len(calls) == 12 and warm.info["warm_start"] == params.metric and warm.info["rounds"] == 0
        cold = predictor_in_the_loop(problem, budget=12, batch_size=12, seed=seed)
        assert warm.hypervolume(ref) > 1.1 * cold.hypervolume(ref), seed
