"""`nas latency build|validate|list`: per-device latency tables (a thin layer over
`latency_tables`)."""

from __future__ import annotations

from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, deprecated_option, number, show


def add_parser(sub) -> None:
    p = sub.add_parser("latency", help="build, validate and list per-device latency tables",
                       description="Per-device latency lookup tables: time every distinct block of a "
                       "search space alone, predict a subnet's latency as their sum, check it end to end.")
    cmds = p.add_subparsers(dest="latency_command", metavar="ACTION", required=True)

    b = cmds.add_parser("build", help="measure a latency table for this machine")
    _build_options(b)
    b.add_argument("--device-name", dest="device",
                   help="the table's device label (default: from this CPU's model, ISA and cores, e.g. "
                        "xeon-amx-2c)")
    deprecated_option(b, "--device", "--device-name", dest="device")
    b.add_argument("--out", help="table path NAME.csv (NAME.json is written beside it; "
                   "default: DEVICE_tTHREADS[_bBATCH].csv in the current folder)")
    b.add_argument("--pin-core", type=int, help="core to pin to when --threads 1 (default: the last)")
    b.add_argument("--resume", action="store_true", help="finish an interrupted build of --out")
    b.add_argument("--force", action="store_true", help="overwrite an existing table at --out")
    b.add_argument("--recalibrate", action="store_true",
                   help="fit the calibration of the table --out again on whole subnets timed now, keeping "
                   "its blocks (same options as its build)")
    b.add_argument("--quiet", "--no-progress", action="store_true", help="no progress display")
    b.set_defaults(func=run_build)

    pb = cmds.add_parser("bundle", help="a probe bundle to time on a device that has only its runtime",
                         description="Export every model a build times and the plan of the timings to a "
                         "zip; on the device: `python probe_runner.py probe.zip --out results.csv` "
                         "(needs Python >= 3.8, numpy and the runtime only: onnxruntime, openvino or "
                         "ai-edge-litert); then `nas latency import`.")
    _build_options(pb)
    pb.add_argument("--out", default="runs/probe/bundle.zip",
                    help="bundle path (.zip); probe_runner.py is written beside it "
                         "(default: runs/probe/bundle.zip)")
    pb.add_argument("--force", action="store_true", help="overwrite an existing bundle")
    pb.set_defaults(func=run_bundle)

    im = cmds.add_parser("import", help="a latency table from probe_runner.py results")
    im.add_argument("results", help="results CSV written by probe_runner.py")
    im.add_argument("--bundle", required=True, help="the probe bundle (.zip) the results were timed from")
    im.add_argument("--out", help="table path NAME.csv (NAME.json beside it; default: "
                    "DEVICE_tTHREADS[_bBATCH].csv in the current folder, DEVICE from --device-name or "
                    "the bundle's results)")
    im.add_argument("--device-name", dest="device",
                    help="the table's device label (default: from the CPU model the runner recorded "
                         "on the device)")
    deprecated_option(im, "--device", "--device-name", dest="device")
    im.add_argument("--force", action="store_true", help="overwrite an existing table at --out")
    im.set_defaults(func=run_import)

    lut = cmds.add_parser("import-ofa-lut", help="a table from MIT's published per-operator lookup tables "
                          "(once-for-all's Samsung Note10 tables)",
                          description="Read MIT's RES_lookup_table.yaml files (one per input resolution, "
                          "per-operator mean latency measured on the phone) into a table that `nas search "
                          "--table` uses like a measured one: each block the sum of MIT's operators, "
                          "uncalibrated, covering only the resolutions with a file.")
    lut.add_argument("folder", help="the folder of MIT's RES_lookup_table.yaml files")
    lut.add_argument("--space", default="ofa_mbv3_w12",
                     help="the space the tables time (default ofa_mbv3_w12: Note10's tables are "
                          "OFA-MobileNetV3 at width 1.2)")
    lut.add_argument("--device-name", dest="device", default="note10", help="the table's device label "
                     "(default note10)")
    lut.add_argument("--out", help="table path NAME.csv (NAME.json beside it; default: DEVICE.csv)")
    lut.add_argument("--force", action="store_true", help="overwrite an existing table at --out")
    lut.set_defaults(func=run_import_ofa_lut)

    v = cmds.add_parser("validate", help="compare a table's predictions with end-to-end timings")
    v.add_argument("--table", required=True, help="table .csv (or a shipped table's name)")
    v.add_argument("--num-archs", type=int, default=100, help="whole subnets timed (default 100)")
    v.add_argument("--seed", type=int, default=0, help="seed drawing them (never the calibration subnets)")
    v.add_argument("--report", required=True, help="report path (.json)")
    v.add_argument("--plot", help="scatter plot path (default: the --report path with .png)")
    v.add_argument("--pin-core", type=int, help="core to pin to (1 thread; default: the last)")
    v.add_argument("--quiet", "--no-progress", action="store_true", help="no progress display")
    v.add_argument("--force", action="store_true", help="replace existing --report / --plot files")
    v.set_defaults(func=run_validate)

    ls = cmds.add_parser("list", help="list the tables shipped with the package")
    ls.set_defaults(func=run_list)
    for parser in (b, pb, im, lut, v, ls):
        add_json_flag(parser)


def _build_options(p) -> None:
    p.add_argument("--space", default="fmnist_small", help="preset name or .json/.yaml space file")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (1: process pinned to a core)")
    p.add_argument("--batch-size", type=int, default=1, help="images per timed call (the deployment's batch)")
    p.add_argument("--runtime", choices=("ort", "openvino", "litert", "torch"), default="ort",
                   help="the runtime the blocks are timed in, as models deploy: ort (ONNX Runtime, default), "
                        "openvino (OpenVINO, the same ONNX blocks), litert (LiteRT with XNNPACK, blocks "
                        "converted by litert-torch: about 2 s each), or torch (eager PyTorch; no bundle); "
                        "openvino and litert need their extras: pip install -e \".[openvino]\" / "
                        "\".[litert]\"")
    p.add_argument("--ov-device", help="OpenVINO device to time on with --runtime openvino: CPU (default), "
                   "GPU, NPU")
    p.add_argument("--provider", default="CPUExecutionProvider",
                   help="ONNX Runtime execution provider to time on (e.g. CUDAExecutionProvider, "
                        "OpenVINOExecutionProvider: whatever this onnxruntime build offers)")
    p.add_argument("--rounds", type=int, default=400, help="interleaved timing rounds per block")
    p.add_argument("--passes", type=int, default=3,
                   help="times each block is timed, each pass in other chunks (latency: the mean)")
    p.add_argument("--calibration-archs", type=int, default=40,
                   help="whole subnets the calibration is fitted on, as many per resolution (0: none)")
    p.add_argument("--resolution", type=int, action="append", dest="resolutions", metavar="PX",
                   help="only this input resolution (repeatable; default: all of the space's); "
                        "searches with the table then sample only these")
    p.add_argument("--precision", choices=("fp32", "int8", "mixed"), default="fp32",
                   help="time fp32 blocks (default), int8 blocks (statically quantised, QDQ, per-channel "
                        "weights, with their Q/DQ edges), or both (mixed: for searches that choose a "
                        "precision per stage); the calibration is fitted on whole subnets of that kind")


def _config(args, **extra):
    from latency_tables import BuildConfig, Protocol
    from supernet import NASError

    provider = args.provider
    if args.ov_device:
        if args.runtime != "openvino":
            raise NASError(f"--ov-device {args.ov_device} needs --runtime openvino, got --runtime "
                           f"{args.runtime}")
        provider = args.ov_device
    return BuildConfig(space=args.space, threads=args.threads, batch_size=args.batch_size,
                       runtime=args.runtime, provider=provider, protocol=Protocol(rounds=args.rounds),
                       calibration_archs=args.calibration_archs, passes=args.passes,
                       resolutions=args.resolutions, precision=args.precision, **extra)


def _table_summary(title: str, table, record: dict, next_step: str | None = None) -> Summary:
    """What a table is and how well its calibration fits."""
    meta, cal = table.meta, table.calibration or {}
    report = Summary(title)
    report.fact("table", f"{table.path} (+ .json)")
    report.fact("device", f"{meta['device']} ({meta['cpu_model']}), {meta.get('provider', 'CPU')}, "
                          f"{meta['threads']} thread(s), batch {meta['batch_size']}, {table.precision}")
    report.fact("covers", f"{table.num_blocks} blocks of {meta['space_name']} at "
                          f"{', '.join(map(str, meta['resolutions']))} px")
    if cal:
        report.fact("calibration", f"{cal['num_archs']} whole subnets, fit error {cal['fit_mape']:.1f} % "
                                   f"(block sum alone: {cal['uncalibrated_mape']:.1f} %)")
    if record.get("build_seconds"):
        report.fact("build time", f"{record['build_seconds']:.0f} s")
    report.fact("next", next_step or f"nas latency validate --table {table.path} --report VALIDATION.json")
    return report


def run_build(args) -> int:
    from latency_tables import build_table, default_device_name, default_table_name

    device = args.device or default_device_name()
    out = Path(args.out or default_table_name(device, args.threads, args.batch_size, args.precision))
    config = _config(args, device=device, pin_core=args.pin_core)
    table = build_table(config, out, resume=args.resume, force=args.force, progress=not args.quiet,
                        recalibrate=args.recalibrate)
    cal = table.calibration or {}
    record = {"table": str(out), "blocks": table.num_blocks, "device": device,
              "resolutions": table.meta["resolutions"], "build_seconds": table.meta["build_seconds"],
              "calibration_fit_mape": cal.get("fit_mape")}
    done = "recalibrated" if args.recalibrate else "built"
    show(args, record, _table_summary(f"latency table {done} for {device}", table, record))
    return 0


def run_bundle(args) -> int:
    from latency_tables import write_bundle

    out = write_bundle(_config(args), args.out, force=args.force)
    runner = out.with_name("probe_runner.py")
    record = {"bundle": str(out), "runner": str(runner)}
    report = Summary(f"probe bundle {out}")
    package = {"ort": "onnxruntime", "openvino": "openvino", "litert": "ai-edge-litert"}[args.runtime]
    report.fact("on the device", f"python {runner.name} {out.name} --out results.csv   ({package} + numpy)")
    report.fact("then here", f"nas latency import results.csv --bundle {out} --device-name DEVICE")
    show(args, record, report)
    return 0


def run_import(args) -> int:
    from latency_tables import import_results

    table = import_results(args.results, args.bundle, args.out, device=args.device, force=args.force)
    cal = table.calibration or {}
    record = {"table": str(table.path), "blocks": table.num_blocks, "device": table.meta["device"],
              "cpu_model": table.meta["cpu_model"], "calibration_fit_mape": cal.get("fit_mape")}
    show(args, record, _table_summary(f"latency table imported for {table.meta['device']}", table, record))
    return 0


def run_import_ofa_lut(args) -> int:
    from latency_tables import import_ofa_lut

    table = import_ofa_lut(args.folder, space=args.space, out=args.out or f"{args.device}.csv",
                           device=args.device, force=args.force)
    imported = table.meta["imported"]
    record = {"table": str(table.path), "blocks": table.num_blocks, "device": table.meta["device"],
              "space": table.meta["space_name"], "resolutions": table.meta["resolutions"],
              "calibrated": False, "format": imported["format"]}
    search = f"nas search --table {table.path} --space {table.meta['space_name']} ..."
    report = _table_summary(f"latency table imported from MIT's lookup tables for {args.device}", table,
                            record, next_step=search)
    report.fact("imported", f"{imported['format']} from {imported['source']}: MIT's per-operator means, "
                            "uncalibrated; archs of other resolutions are refused")
    show(args, record, report)
    return 0


def run_validate(args) -> int:
    from latency_tables import LatencyTable, ValidateConfig, validate_table
    from supernet.core import check_outputs

    plot = args.plot or str(Path(args.report).with_suffix(".png"))
    check_outputs([args.report, plot], force=args.force, what="validation report")
    table = LatencyTable.load(args.table)
    config = ValidateConfig(num_archs=args.num_archs, seed=args.seed, pin_core=args.pin_core)
    report = validate_table(table, config, json_path=args.report, plot_path=plot, progress=not args.quiet)
    keys = ("within_5pct", "within_10pct", "mape", "kendall_tau", "num_archs", "repeat_within_10pct", "plot")
    raw = report["raw"]
    record = {**{k: report[k] for k in keys},
              "raw": {k: raw[k] for k in ("within_10pct", "mape", "repeat_within_10pct", "load_factor")}}
    rows = [["within ±5 %", number(report["within_5pct"]), number(raw["within_5pct"])],
            ["within ±10 %", number(report["within_10pct"]), number(raw["within_10pct"])],
            ["Kendall tau", number(report["kendall_tau"], 3), number(raw["kendall_tau"], 3)],
            ["mean abs. error", number(report["mape"], 1, "%"), number(raw["mape"], 1, "%")],
            ["two timings agree ±10 %", number(report["repeat_within_10pct"]),
             number(raw["repeat_within_10pct"])]]
    summary = Summary(f"{table.meta['device']} table vs {report['num_archs']} unseen subnets timed whole")
    summary.table(["", "reference-scaled", "raw"], rows)
    summary.fact("load factor", f"{number(raw['load_factor'])} (the reference subnets' time now over "
                                "during the build)")
    summary.fact("files", f"{args.report}, {plot}")
    show(args, record, summary)
    return 0


def run_list(args) -> int:
    from latency_tables import list_tables, read_table_meta

    rows, record = [], []
    for name in list_tables():  # from the metadata alone: `nas show NAME` loads and checks a table
        m = read_table_meta(name)
        precision = m.get("precision", "fp32")
        record.append({"name": name, "device": m["device"], "cpu_model": m["cpu_model"],
                       "threads": m["threads"], "batch_size": m["batch_size"], "precision": precision,
                       "space": m["space_name"], "blocks": m.get("num_blocks"),
                       "complete": bool(m.get("complete"))})
        rows.append([name, m["space_name"], m["cpu_model"], str(m["threads"]), str(m["batch_size"]),
                     precision, str(m.get("num_blocks", "-")), "yes" if m.get("complete") else "no"])
    summary = Summary(f"{len(rows)} latency tables shipped with the package")
    summary.table(["name", "space", "CPU", "threads", "batch", "precision", "blocks", "complete"], rows)
    show(args, record, summary)
    return 0
