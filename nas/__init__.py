"""Search, constraints, Pareto fronts, Ray execution, export, and the `nas` command line.

    problem = SearchProblem(space, [Objective("accuracy", predictor, maximize=True),
                                    Objective("latency", latency_table)],
                            [Constraint("latency", latency_table, upper=1.5)])
    result = create_strategy("evolution").run(problem, budget=1000, seed=0)
    result.best(), result.front_indices(), result.hypervolume(reference_point(problem))

A measured objective (``Measurement(SupernetAccuracy(ckpt))``, optionally on a
``RayBackend``) is searched with `predictor_in_the_loop`. The whole pipeline and the export
of one subnet mirror `nas search`, `nas run`/`nas demo` and `nas export`:

    run_search(SearchConfig(predictor="runs/exp/predictor/models", table="xeon-2c_t1",
                            latency_max=0.6, out="runs/search"))
    run_experiment(load_experiment("my_experiment.yaml"), "runs/exp")
    export_subnet(ExportConfig(supernet="runs/exp/supernet/supernet.pt", arch=arch, out="m.onnx"))
"""

from supernet.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "nas.export": (
        "ExportConfig", "arch_from_front", "export_subnet"
    ),
    "nas.pipeline": (
        "ExperimentConfig", "SearchConfig", "load_experiment", "run_experiment", "run_search"
    ),
    "nas.search": (
        "Constraint", "Evaluator", "Measurement", "Objective", "RayBackend", "SearchProblem",
        "SearchResult", "SupernetAccuracy", "crowding_distance", "hypervolume",
        "non_dominated_sort", "pareto_mask", "reference_point", "write_search_outputs"
    ),
    "nas.strategies": (
        "DEFAULT_STRATEGY", "DEFAULT_STRATEGY_KWARGS", "Evolution", "OptunaNSGA2", "OptunaSearch",
        "OptunaTPE", "RandomSearch", "RidgeSurrogate", "SearchStrategy", "create_strategy",
        "list_strategies", "predictor_in_the_loop", "register_strategy"
    ),
})
