"""Per-device latency lookup tables (ONNX Runtime or torch eager) and efficiency tables,
all behind one ``predict(archs)`` interface (`CostModel`).

    table = build_table(BuildConfig(space="fmnist_small", threads=1), "my_cpu_t1.csv")
    table = LatencyTable.load("xeon-2c_t1", space="fmnist_small")   # a shipped table
    table.predict(archs)                                            # ms, one per arch
    validate_table(table, ValidateConfig(num_archs=100), json_path="report.json")
    measure_archs(table, archs).ms                                  # timed as the table was built
"""

from supernet.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "latency_tables._build": (
        "BuildConfig", "build_table"
    ),
    "latency_tables._bundle": (
        "import_results", "write_bundle"
    ),
    "latency_tables._cost_model": (
        "CostModel", "EfficiencyTable"
    ),
    "latency_tables._ofa_lut": (
        "import_ofa_lut",
    ),
    "latency_tables._measure": (
        "Measured", "measure_archs", "measure_subnets"
    ),
    "latency_tables._registry": (
        "create_cost_model", "list_metrics"
    ),
    "latency_tables._table": (
        "TABLE_FORMAT", "LatencyTable", "distinct_blocks"
    ),
    "latency_tables._timing": (
        "Protocol", "default_device_name", "time_interleaved"
    ),
    "latency_tables._validate": (
        "ValidateConfig", "validate_table"
    ),
    "latency_tables.backends": (
        "Backend", "list_backends", "register_backend"
    ),
    "latency_tables._shipped": (
        "default_table_name", "list_tables", "read_table_meta", "reference_precisions"
    ),
})
