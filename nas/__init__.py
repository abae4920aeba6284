"""Search, constraints, Pareto fronts, Ray execution, export, and the `nas` command line."""

__all__: list[str] = []
