"""What a search is and what it produces: the problem (objectives, constraints,
measurements), the evaluator that scores archs once each, the result and its Pareto
front, the output files, and measured objectives (a supernet's accuracy, on a Ray cluster)."""

from nas.search._evaluator import Evaluator
from nas.search._measured import SupernetAccuracy
from nas.search._output import OUTPUT_FILES, check_output_dir, reference_point, write_search_outputs
from nas.search._pareto import crowding_distance, hypervolume, non_dominated_sort, pareto_mask
from nas.search._problem import Constraint, Measurement, Objective, SearchProblem
from nas.search._ray import RayBackend
from nas.search._result import SearchResult

__all__ = [
    "Constraint", "Evaluator", "Measurement", "OUTPUT_FILES", "Objective", "RayBackend", "SearchProblem",
    "SearchResult", "SupernetAccuracy", "check_output_dir", "crowding_distance", "hypervolume",
    "non_dominated_sort", "pareto_mask", "reference_point", "write_search_outputs",
]
