"""Per-device latency lookup tables (ONNX Runtime or torch eager) and efficiency tables,
all behind one ``predict(archs)`` interface (`CostModel`).

    table = build_table(BuildConfig(space="fmnist_small", threads=1), "my_cpu_t1.csv")
    table = LatencyTable.load("xeon-2c_t1", space="fmnist_small")   # a shipped table
    table.predict(archs)                                            # ms, one per arch
    validate_table(table, ValidateConfig(num_archs=100), json_path="report.json")
    measure_archs(table, archs).ms                                  # timed as the table was built
"""

from latency_tables._build import BuildConfig, build_table
from latency_tables._bundle import import_results, write_bundle
from latency_tables._cost_model import CostModel, EfficiencyTable
from latency_tables._measure import Measured, measure_archs, measure_subnets, table_reference_precisions
from latency_tables._registry import create_cost_model, list_metrics
from latency_tables._table import FORMAT as TABLE_FORMAT
from latency_tables._table import LatencyTable, distinct_blocks, list_tables
from latency_tables._timing import Protocol, default_device_name, time_interleaved
from latency_tables._validate import ValidateConfig, validate_table
from latency_tables.backends import Backend, list_backends, register_backend

__all__ = [
    "Backend", "build_table", "BuildConfig", "CostModel", "create_cost_model", "default_device_name",
    "distinct_blocks", "EfficiencyTable", "import_results", "LatencyTable", "list_backends", "list_metrics",
    "list_tables", "measure_archs", "measure_subnets", "Measured", "Protocol", "register_backend",
    "TABLE_FORMAT", "table_reference_precisions", "time_interleaved", "validate_table", "ValidateConfig",
    "write_bundle",
]
