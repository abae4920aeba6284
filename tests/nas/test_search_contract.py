"""Contract every registered search strategy passes, on real objectives of a real space."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from latency_tables import EfficiencyTable
from nas import (
    Constraint,
    Evolution,
    Objective,
    SearchProblem,
    create_strategy,
    list_strategies,
)
from supernet import NASError, Predictor, arch_cost, get_space


class RidgeAccuracyProxy(Predictor):
    """Stand-in for an accuracy predictor: ridge on the space encoding fitted to a real
    measured quantity (log MACs and log params of sampled archs), so larger nets score higher."""

    metric = "accuracy_proxy"

    def __init__(self, space, n: int = 200, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        archs = [space.sample(rng) for _ in range(n)]
        costs = [arch_cost(space, a) for a in archs]
        y = np.array([50 + 2 * np.log(c.macs) + 3 * np.log(c.params) for c in costs])
        self.space, self.model = space, Ridge(alpha=1.0).fit(space.encode(archs), y)

    def predict(self, archs):
        return self.model.predict(self.space.encode(list(archs)))


@pytest.fixture(scope="module")
def space():
    return get_space("fmnist_small")


@pytest.fixture(scope="module")
def accuracy(space):
    return RidgeAccuracyProxy(space)


@pytest.fixture(scope="module")
def macs(space):
    return EfficiencyTable(space, "macs")


@pytest.fixture(scope="module")
def constrained(space, accuracy, macs):
    bound = float(np.median(macs.predict([space.sample(np.random.default_rng(1)) for _ in range(200)])))
    return SearchProblem(space, [Objective("accuracy", accuracy, maximize=True)],
                         [Constraint("macs", macs, upper=bound)])


def _strategy(name):
    small = {"evolution": {"population_size": 40}, "optuna-nsga2": {"population_size": 20},
             "random": {"batch_size": 20}, "optuna-tpe": {"n_startup_trials": 10}}
    return create_strategy(name, **small.get(name, {}))


@pytest.mark.parametrize("name", list_strategies())
def test_respects_constraints_and_returns_valid_archs(name, constrained, space, macs):
    result = _strategy(name).run(constrained, budget=120, seed=0)
    assert 120 <= len(result.archs) <= 170
    for arch in result.archs:
        space.validate(arch)
    bound = constrained.constraints[0].upper
    best = result.best()
    assert macs.predict([best])[0] <= bound
    feasible = macs.predict(result.archs) <= bound
    assert np.array_equal(feasible, result.feasible)
    if name in ("evolution", "random"):  # rejection sampling: nothing infeasible is evaluated
        assert feasible.all()


@pytest.mark.parametrize("name", list_strategies())
def test_improves_over_its_initial_population(name, constrained):
    result = _strategy(name).run(constrained, budget=300, seed=0)
    ok = result.feasible
    first = result.values[:40, 0][ok[:40]].max()
    assert result.values[ok, 0].max() > first


@pytest.mark.parametrize("name", list_strategies())
def test_deterministic_for_a_seed(name, constrained):
    a = _strategy(name).run(constrained, budget=60, seed=3)
    b = _strategy(name).run(constrained, budget=60, seed=3)
    c = _strategy(name).run(constrained, budget=60, seed=4)
    assert a.archs == b.archs
    assert a.archs != c.archs


def test_multi_objective_evolution_beats_random(space, accuracy, macs):
    problem = SearchProblem(space, [Objective("accuracy", accuracy, maximize=True),
                                    Objective("macs", macs)])
    ref = [float(accuracy.predict([space.smallest()])[0]), float(macs.predict([space.largest()])[0])]
    evo = create_strategy("evolution").run(problem, budget=600, seed=0)
    rnd = create_strategy("random").run(problem, budget=600, seed=0)
    assert evo.hypervolume(ref) > rnd.hypervolume(ref) > 0
    assert evo.hypervolume(ref, limit=600) > evo.hypervolume(ref, limit=100)


@pytest.mark.parametrize("kwargs, bad", [
    ({"population_size": 2}, "population_size: got 2"),
    ({"parent_ratio": 1.5}, "parent_ratio: got 1.5"),
    ({"mutate_prob": -0.1}, "mutate_prob: got -0.1"),
    ({"parent_selection": "roulette"}, "parent_selection: got .roulette."),
])
def test_constructor_names_the_bad_argument(kwargs, bad):
    with pytest.raises(NASError, match=bad):
        Evolution(**kwargs)
    with pytest.raises(NASError, match="unknown search strategy"):
        create_strategy("simulated-annealing")
    with pytest.raises(NASError, match="storage: got .not-a-url."):
        create_strategy("optuna-tpe", storage="not-a-url")


def test_impossible_constraint_says_what_to_do(space, accuracy, macs):
    problem = SearchProblem(space, [Objective("accuracy", accuracy, maximize=True)],
                            [Constraint("macs", macs, upper=10.0)])
    with pytest.raises(NASError, match="smallest arch"):
        create_strategy("random", max_tries=2).run(problem, budget=10, seed=0)
