"""Search, constraints, Pareto fronts, Ray execution, export, and the `nas` command line.

    problem = SearchProblem(space, [Objective("accuracy", predictor, maximize=True),
                                    Objective("latency", latency_table)],
                            [Constraint("latency", latency_table, upper=1.5)])
    result = create_strategy("evolution").run(problem, budget=1000, seed=0)
    result.best(), result.front_indices(), result.hypervolume(reference_point(problem))

A measured objective (``Measurement(SupernetAccuracy(ckpt))``, optionally on a
``RayBackend``) is searched with `predictor_in_the_loop`. The whole pipeline and the export
of one subnet mirror `nas search`, `nas run`/`nas demo` and `nas export`:

    run_search(SearchConfig(predictor="runs/exp/predictor/models", device="xeon-2c_t1",
                            latency_max=0.6, out="runs/search"))
    run_experiment(load_experiment("my_experiment.yaml"), "runs/exp")
    export_subnet(ExportConfig(supernet="runs/exp/supernet/supernet.pt", arch=arch, out="m.onnx"))
"""

from nas._demo import run_experiment
from nas._evaluator import Evaluator
from nas._evolution import Evolution
from nas._experiment import ExperimentConfig, load_experiment
from nas._export import ExportConfig, arch_from_front, export_subnet
from nas._loop import RidgeSurrogate, predictor_in_the_loop
from nas._measured import SupernetAccuracy
from nas._objectives import Constraint, Measurement, Objective, SearchProblem
from nas._optuna import OptunaNSGA2, OptunaSearch, OptunaTPE
from nas._output import reference_point, write_search_outputs
from nas._pareto import crowding_distance, hypervolume, non_dominated_sort, pareto_mask
from nas._random import RandomSearch
from nas._ray import RayBackend
from nas._registry import DEFAULT_STRATEGY, DEFAULT_STRATEGY_KWARGS, create_strategy, list_strategies
from nas._result import SearchResult
from nas._search import SearchConfig, run_search
from nas._strategy import SearchStrategy

__all__ = [
    "ExperimentConfig", "ExportConfig", "arch_from_front", "export_subnet", "load_experiment",
    "run_experiment",
    "DEFAULT_STRATEGY", "DEFAULT_STRATEGY_KWARGS", "Constraint", "Evaluator",
    "Evolution", "Measurement",
    "Objective", "OptunaNSGA2", "OptunaSearch", "OptunaTPE", "RandomSearch", "RayBackend",
    "RidgeSurrogate", "SearchProblem", "SearchResult", "SearchStrategy", "SupernetAccuracy",
    "create_strategy",
    "crowding_distance", "hypervolume", "list_strategies", "non_dominated_sort", "pareto_mask",
    "predictor_in_the_loop", "reference_point", "run_search", "SearchConfig", "write_search_outputs",
]
