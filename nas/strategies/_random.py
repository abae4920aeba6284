"""Random search: uniform samples of the space that meet the constraints (the baseline)."""

from __future__ import annotations

from nas.strategies._base import SearchStrategy
from nas.strategies._registry import register_strategy
from supernet import ArchConfig
from supernet.core import check

__all__ = ["RandomSearch"]


@register_strategy
class RandomSearch(SearchStrategy):
    """Draws ``batch_size`` feasible archs per ``ask`` with `SearchSpace.sample`."""

    name = "random"

    def __init__(self, *, batch_size: int = 100, max_tries: int = 1000) -> None:
        for arg, value in (("batch_size", batch_size), ("max_tries", max_tries)):
            check(isinstance(value, int) and value > 0, f"RandomSearch.{arg}", value, "a positive int")
        self.batch_size, self.max_tries = batch_size, max_tries

    def ask(self, n: int) -> list[ArchConfig]:
        space = self.problem.space
        return self.draw_feasible(lambda: space.sample(self.rng), min(n, self.batch_size),
                                  max_tries=self.max_tries)
