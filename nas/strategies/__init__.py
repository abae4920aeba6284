"""Search strategies, each registered where it is defined (``@register_strategy``):
OFA's evolution, random search, Optuna's NSGA-II and TPE, and the predictor-in-the-loop
search for measured objectives (a ridge surrogate refitted on what was measured)."""

from nas.strategies._base import SearchStrategy
from nas.strategies._evolution import Evolution
from nas.strategies._optuna import OptunaNSGA2, OptunaSearch, OptunaTPE, suggest_arch
from nas.strategies._random import RandomSearch
from nas.strategies._registry import (
    DEFAULT_STRATEGY,
    DEFAULT_STRATEGY_KWARGS,
    create_strategy,
    list_strategies,
    register_strategy,
)
from nas.strategies._surrogate import RidgeSurrogate, is_expensive, predictor_in_the_loop

__all__ = [
    "DEFAULT_STRATEGY", "DEFAULT_STRATEGY_KWARGS", "Evolution", "OptunaNSGA2", "OptunaSearch", "OptunaTPE",
    "RandomSearch", "RidgeSurrogate", "SearchStrategy", "create_strategy", "is_expensive", "list_strategies",
    "predictor_in_the_loop", "register_strategy", "suggest_arch",
]
