"""The strategy registry: strategies register where they are defined
(``@register_strategy``); ``create_strategy(name, **kwargs)`` and ``list_strategies()``."""

from __future__ import annotations

from typing import Any

from nas.strategies._base import SearchStrategy
from supernet import NASError

__all__ = ["DEFAULT_STRATEGY", "DEFAULT_STRATEGY_KWARGS", "create_strategy", "list_strategies",
           "register_strategy"]

_STRATEGIES: dict[str, type[SearchStrategy]] = {}

#: the strategy `nas search` uses unless told otherwise, and its settings: OFA's evolution
#: with a population of 40 (breeding starts at the 41st evaluation, so it leads random
#: search from the smallest budget), half of it kept as parents and parents picked by
#: tournament; chosen with experiments/bench_search.py (see results/search.json)
DEFAULT_STRATEGY = "evolution"
DEFAULT_STRATEGY_KWARGS: dict[str, Any] = {"population_size": 40, "parent_ratio": 0.5,
                                           "parent_selection": "tournament"}


def register_strategy(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    """Class decorator: make a strategy available under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, SearchStrategy)) or not isinstance(cls.name, str):
        raise NASError(f"register_strategy: {cls!r} is not a SearchStrategy subclass with a name")
    _STRATEGIES[cls.name] = cls
    return cls


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
