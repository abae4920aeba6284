"""The strategy registry: ``create_strategy(name, **kwargs)`` and ``list_strategies()``."""

from __future__ import annotations

from typing import Any

from nas._evolution import Evolution
from nas._optuna import OptunaNSGA2, OptunaTPE
from nas._random import RandomSearch
from nas._strategy import SearchStrategy
from supernet import NASError

__all__ = ["create_strategy", "list_strategies", "DEFAULT_STRATEGY", "DEFAULT_STRATEGY_KWARGS"]

_STRATEGIES: dict[str, type[SearchStrategy]] = {
    cls.name: cls for cls in (Evolution, OptunaNSGA2, OptunaTPE, RandomSearch)
}

#: the strategy `nas search` uses unless told otherwise, and its settings: OFA's evolution
#: with a population of 40 (breeding starts at the 41st evaluation, so it leads random
#: search from the smallest budget), half of it kept as parents and parents picked by
#: tournament; chosen with experiments/bench_search.py (see results/search.json)
DEFAULT_STRATEGY = "evolution"
DEFAULT_STRATEGY_KWARGS: dict[str, Any] = {"population_size": 40, "parent_ratio": 0.5,
                                           "parent_selection": "tournament"}


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_STRATEGIES)


def create_strategy(name: str | type[SearchStrategy] | SearchStrategy, **kwargs: Any) -> SearchStrategy:
    """A strategy from its registry name, a `SearchStrategy` subclass (built with
    ``kwargs``) or an instance (returned as is; ``kwargs`` must then be empty)."""
    if isinstance(name, SearchStrategy):
        if kwargs:
            raise NASError(f"create_strategy: got an instance and keyword arguments {sorted(kwargs)}")
        return name
    if isinstance(name, type) and issubclass(name, SearchStrategy):
        return name(**kwargs)
    if name not in _STRATEGIES:
        raise NASError(f"unknown search strategy {name!r}; choose one of {list_strategies()}")
    try:
        return _STRATEGIES[name](**kwargs)
    except TypeError as err:  # an argument this strategy does not take
        raise NASError(f"strategy {name!r}: {err}") from None
