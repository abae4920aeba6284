"""Random search: uniform samples of the space that meet the constraints (the baseline)."""

from __future__ import annotations

from nas._strategy import SearchStrategy, check_arg
from supernet import ArchConfig

__all__ = ["RandomSearch"]


class RandomSearch(SearchStrategy):
    """Draws ``batch_size`` feasible archs per ``ask`` with `SearchSpace.sample`."""

    name = "random"

    def __init__(self, *, batch_size: int = 100, max_tries: int = 1000) -> None:
        for arg, value in (("batch_size", batch_size), ("max_tries", max_tries)):
            check_arg("RandomSearch", arg, value, isinstance(value, int) and value > 0, "a positive int")
        self.batch_size, self.max_tries = batch_size, max_tries

    def ask(self, n: int) -> list[ArchConfig]:
        space = self.problem.space
        return self.draw_feasible(lambda: space.sample(self.rng), min(n, self.batch_size),
                                  max_tries=self.max_tries)
