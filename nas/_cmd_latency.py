"""`nas latency build|validate|list`: per-device latency tables (a thin layer over
`latency_tables`)."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("latency", help="build, validate and list per-device latency tables",
                       description="Per-device latency lookup tables: time every distinct block of a "
                       "search space alone, predict a subnet's latency as their sum, check it end to end.")
    cmds = p.add_subparsers(dest="latency_command", metavar="ACTION", required=True)

    b = cmds.add_parser("build", help="measure a latency table for this machine")
    b.add_argument("--space", default="fmnist_small", help="preset name or .json/.yaml space file")
    b.add_argument("--device", help="device name for the table (default: from the CPU model, e.g. xeon-2c)")
    b.add_argument("--threads", type=int, default=1, help="intra-op threads (1: process pinned to a core)")
    b.add_argument("--batch-size", type=int, default=1)
    b.add_argument("--runtime", choices=("ort", "torch"), default="ort")
    b.add_argument("--provider", default="CPUExecutionProvider",
                   help="ONNX Runtime execution provider to time on (e.g. CUDAExecutionProvider, "
                        "OpenVINOExecutionProvider: whatever this onnxruntime build offers)")
    b.add_argument("--out", help="table path NAME.csv (NAME.json is written beside it; "
                   "default: DEVICE_tTHREADS[_bBATCH].csv in the current folder)")
    b.add_argument("--rounds", type=int, default=400, help="interleaved timing rounds per block")
    b.add_argument("--passes", type=int, default=3,
                   help="times each block is timed, each pass in other chunks (latency: the mean)")
    b.add_argument("--calibration-archs", type=int, default=40,
                   help="whole subnets the calibration is fitted on, as many per resolution (0: none)")
    b.add_argument("--resolution", type=int, action="append", dest="resolutions", metavar="PX",
                   help="only this input resolution (repeatable; default: all of the space's); "
                        "searches with the table then sample only these")
    b.add_argument("--pin-core", type=int, help="core to pin to when --threads 1 (default: the last)")
    b.add_argument("--resume", action="store_true", help="finish an interrupted build of --out")
    b.add_argument("--force", action="store_true", help="overwrite an existing table at --out")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)

    v = cmds.add_parser("validate", help="compare a table's predictions with end-to-end timings")
    v.add_argument("--table", required=True, help="table .csv (or a shipped table's name)")
    v.add_argument("--num-archs", type=int, default=100)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--json", required=True, help="report path (.json)")
    v.add_argument("--plot", help="scatter plot path (default: the --json path with .png)")
    v.add_argument("--pin-core", type=int)
    v.add_argument("--force", action="store_true", help="replace existing --json / --plot files")
    v.set_defaults(func=run_validate)

    ls = cmds.add_parser("list", help="list the tables shipped with the package")
    ls.set_defaults(func=run_list)


def run_build(args) -> int:
    from latency_tables import BuildConfig, Protocol, build_table, default_device_name

    device = args.device or default_device_name()
    suffix = f"_b{args.batch_size}" if args.batch_size != 1 else ""
    out = Path(args.out or f"{device}_t{args.threads}{suffix}.csv")
    config = BuildConfig(space=args.space, device=device, threads=args.threads, batch_size=args.batch_size,
                         runtime=args.runtime, provider=args.provider, protocol=Protocol(rounds=args.rounds),
                         calibration_archs=args.calibration_archs, pin_core=args.pin_core,
                         passes=args.passes, resolutions=args.resolutions)
    table = build_table(config, out, resume=args.resume, force=args.force, progress=not args.quiet)
    cal = table.calibration or {}
    print(json.dumps({"table": str(out), "blocks": table.num_blocks, "device": device,
                      "resolutions": table.meta["resolutions"],
                      "build_seconds": table.meta["build_seconds"],
                      "calibration_fit_mape": cal.get("fit_mape")}, indent=2))
    return 0


def run_validate(args) -> int:
    from latency_tables import LatencyTable, ValidateConfig, validate_table
    from supernet._io import check_outputs

    plot = args.plot or str(Path(args.json).with_suffix(".png"))
    check_outputs([args.json, plot], force=args.force, what="validation report")
    table = LatencyTable.load(args.table)
    config = ValidateConfig(num_archs=args.num_archs, seed=args.seed, pin_core=args.pin_core)
    report = validate_table(table, config, json_path=args.json, plot_path=plot)
    keys = ("within_5pct", "within_10pct", "mape", "kendall_tau", "num_archs", "repeat_within_10pct", "plot")
    raw = {k: report["raw"][k] for k in ("within_10pct", "mape", "repeat_within_10pct", "load_factor")}
    print(json.dumps({**{k: report[k] for k in keys}, "raw": raw}, indent=2))
    return 0


def run_list(args) -> int:
    from latency_tables import LatencyTable, list_tables

    for name in list_tables():
        table = LatencyTable.load(name, require_complete=False)
        print(f"{name}: {table!r}" + ("" if table.meta.get("complete") else " (incomplete)"))
    return 0
