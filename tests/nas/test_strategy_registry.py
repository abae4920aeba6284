"""Strategies register where they are defined: a user's strategy, registered with
``@register_strategy``, is created by name, listed and runs a real search; bad
registrations and unknown names are refused with what is expected."""

from __future__ import annotations

import pytest

from latency_tables import EfficiencyTable
from nas import Objective, SearchProblem, SearchStrategy, create_strategy, list_strategies, register_strategy
from supernet import NASError, get_space


@register_strategy
class MutateTheSmallest(SearchStrategy):
    """Hill climbing from the smallest subnet on the first objective: each ask mutates
    the best arch told so far."""

    name = "test-mutate-smallest"

    def setup(self, problem, evaluator, rng):
        super().setup(problem, evaluator, rng)
        self.best, self.best_value = problem.space.smallest(), float("inf")
        self.first = True

    def ask(self, n):
        if self.first:
            self.first = False
            return [self.best]
        space = self.problem.space
        return self.draw_feasible(lambda: space.mutate(self.best, self.rng, prob=0.3), min(n, 8),
                                  max_tries=100)

    def tell(self, archs, values, violation):
        for arch, v in zip(archs, values[:, 0]):
            if v < self.best_value:
                self.best, self.best_value = arch, float(v)


def test_a_registered_strategy_is_created_by_name_and_searches():
    assert "test-mutate-smallest" in list_strategies()
    space = get_space("fmnist_small")
    macs = EfficiencyTable(space, "macs")
    problem = SearchProblem(space, [Objective("macs", macs, maximize=True)])
    result = create_strategy("test-mutate-smallest").run(problem, budget=60, seed=0)
    assert result.info["strategy"] == "test-mutate-smallest" and len(result.archs) == 60
    first, best = macs.predict([space.smallest()])[0], max(macs.predict(result.archs))
    assert best > first  # climbed away from the smallest subnet


def test_bad_registrations_and_unknown_names_are_refused():
    with pytest.raises(NASError, match="not a SearchStrategy subclass"):
        register_strategy(dict)
    with pytest.raises(NASError, match="unknown search strategy 'annealing'; choose one of"):
        create_strategy("annealing")
