"""OFA's evolutionary search, and its multi-objective form with NSGA-II's selection."""

from __future__ import annotations

import numpy as np

from nas.search import crowding_distance, non_dominated_sort
from nas.strategies._base import SearchStrategy
from nas.strategies._registry import register_strategy
from supernet import ArchConfig
from supernet.core import check

__all__ = ["Evolution", "select_survivors"]


def select_survivors(minimized: np.ndarray, violation: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best: feasible before infeasible (less violation first); then by
    the single objective, or, with several, by non-dominated rank and crowding distance."""
    n, m = minimized.shape
    if m == 1:
        return np.lexsort((minimized[:, 0], violation))[:k]
    rank = non_dominated_sort(minimized)
    crowd = np.zeros(n)
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        crowd[members] = crowding_distance(minimized[members])
    return np.lexsort((-crowd, rank, violation))[:k]


@register_strategy
class Evolution(SearchStrategy):
    """OFA-style evolution: a feasible random population; each generation keeps the best
    ``parent_ratio`` of parents plus children and breeds new children, ``mutation_ratio`` of
    them by `SearchSpace.mutate` (``mutate_prob`` per choice, ``resolution_prob`` for the
    resolution) and the rest by `SearchSpace.crossover`. Constraints are met by rejection
    sampling: an infeasible child is drawn again. With several objectives the survivors are
    chosen by non-dominated sorting and crowding distance (NSGA-II's selection)."""

    name = "evolution"

    def __init__(self, *, population_size: int = 100, parent_ratio: float = 0.25,
                 mutation_ratio: float = 0.5, mutate_prob: float = 0.1,
                 resolution_prob: float = 0.5, parent_selection: str = "uniform",
                 max_tries: int = 1000) -> None:
        own = "Evolution"
        check(isinstance(population_size, int) and population_size >= 4, f"{own}.population_size",
              population_size, "an int >= 4")
        for arg, value in (("parent_ratio", parent_ratio), ("mutation_ratio", mutation_ratio),
                           ("mutate_prob", mutate_prob), ("resolution_prob", resolution_prob)):
            check(isinstance(value, (int, float)) and 0 <= value <= 1, f"{own}.{arg}", value,
                  "a number in [0, 1]")
        check(parent_ratio * population_size >= 2, f"{own}.parent_ratio", parent_ratio,
              f"at least 2 parents out of population_size={population_size}")
        check(parent_selection in ("uniform", "tournament"), f"{own}.parent_selection", parent_selection,
              "'uniform' or 'tournament'")
        check(isinstance(max_tries, int) and max_tries > 0, f"{own}.max_tries", max_tries, "a positive int")
        self.population_size, self.parent_ratio = population_size, parent_ratio
        self.mutation_ratio, self.mutate_prob = mutation_ratio, mutate_prob
        self.resolution_prob, self.max_tries = resolution_prob, max_tries
        self.parent_selection = parent_selection

    def setup(self, problem, evaluator, rng) -> None:
        super().setup(problem, evaluator, rng)
        self.parents: list[ArchConfig] = []
        self._scores = np.empty((0, len(problem.objectives)))
        self._viol = np.empty(0)

    def ask(self, n: int) -> list[ArchConfig]:
        space, rng = self.problem.space, self.rng
        if not self.parents:
            return self.draw_feasible(lambda: space.sample(rng), min(self.population_size, n),
                                      max_tries=self.max_tries)
        n_children = min(self.population_size - len(self.parents), n)  # the last generation: what is left
        n_mut = int(round(n_children * self.mutation_ratio))
        parents = self.parents  # best first (the order of `select_survivors`)

        def pick() -> ArchConfig:
            if self.parent_selection == "tournament":
                return parents[int(rng.integers(len(parents), size=2).min())]
            return parents[rng.integers(len(parents))]

        def mutant() -> ArchConfig:
            return space.mutate(pick(), rng, prob=self.mutate_prob, resolution_prob=self.resolution_prob)

        def cross() -> ArchConfig:
            if self.parent_selection == "tournament":
                return space.crossover(pick(), pick(), rng)
            i, j = rng.choice(len(parents), size=2, replace=False)
            return space.crossover(parents[i], parents[j], rng)

        # a converged population breeds mostly archs already evaluated: give each operator a
        # bounded number of tries, then fill up with fresh random samples
        tries = min(self.max_tries, 20)
        children = dict.fromkeys(self.draw_feasible(mutant, n_mut, max_tries=tries))
        children.update(dict.fromkeys(self.draw_feasible(cross, n_children - len(children), max_tries=tries)))
        if len(children) < n_children:
            children.update(dict.fromkeys(self.draw_feasible(
                lambda: space.sample(rng), n_children - len(children), max_tries=self.max_tries)))
        return list(children)

    def tell(self, archs, values, violation) -> None:
        pool = self.parents + list(archs)
        scores = np.vstack([self._scores, values])
        viol = np.concatenate([self._viol, violation])
        keep = select_survivors(scores, viol, max(2, int(round(self.parent_ratio * self.population_size))))
        self.parents = [pool[i] for i in keep]
        self._scores, self._viol = scores[keep], viol[keep]
