"""The labels predictors learn from: which archs to measure (`plan_archs`) and their
accuracies measured on the supernet (`collect`, resumable, on processes or a Ray cluster)."""

from predictors.labels._collect import CollectConfig, collect, read_table
from predictors.labels._sampling import plan_archs

__all__ = ["CollectConfig", "collect", "plan_archs", "read_table"]
