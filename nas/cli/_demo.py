"""`nas demo` and `nas run`: the whole pipeline, from training to exported ONNX models."""

from __future__ import annotations

from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    for name, text in (
        ("demo", "the whole pipeline on Fashion-MNIST from the pretrained supernet (about 3 min on 2 "
                 "cores; --train: from scratch, about 10 min)"),
        ("run", "run a whole experiment described by one YAML config"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ": take a trained "
                           "supernet (or train one), build this machine's latency table, take (or fit) "
                           "an accuracy predictor, search one subnet per latency budget, export each "
                           "to ONNX and write report.md, pareto.png, front.csv and summary.json. "
                           "Rerunning reuses the finished stages.")
        p.add_argument("--config", required=name == "run",
                       help="experiment YAML" + (" (default: the built-in demo)" if name == "demo" else ""))
        p.add_argument("--out", default="runs/demo" if name == "demo" else None,
                       help="run folder (default: " + ("runs/demo)" if name == "demo" else
                                                        "runs/<config name>)"))
        p.add_argument("--data-dir", help="dataset location (default: the config's, e.g. the Debian "
                       "Fashion-MNIST files)")
        p.add_argument("--fresh", action="store_true", help="delete the run folder and start over")
        p.add_argument("--dry-run", action="store_true",
                       help="print the stages, their sizes, which finished ones would be reused and a rough "
                            "time for each on a 2-core CPU; run nothing")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_keys",
                       help="override one key of the experiment config, e.g. --set search.budget=2000 "
                            "(the value is read as YAML; repeatable)")
        p.add_argument("--finetune", type=int, metavar="EPOCHS",
                       help="fine-tune each exported subnet this many epochs and export it again "
                            "(overrides the config's finetune.epochs; 0: none)")
        p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                       help="no progress display")
        if name == "demo":
            p.add_argument("--train", action="store_true",
                           help="train the supernet and fit the predictor from scratch instead of "
                                "using the pretrained ones (nas/demo_train.yaml)")
        add_json_flag(p)
        p.set_defaults(func=run)


def _dry_run(args, config) -> int:
    from nas.pipeline import plan_experiment

    rows = plan_experiment(config, args.out)
    total = sum(r["seconds"] for r in rows)
    report = Summary(f"{config.name} in {args.out}: {len(rows)} stages, about {total / 60:.0f} min on a "
                     "2-core CPU (dry run: nothing was run)")
    report.table(["stage", "what", "time"], [[r["stage"], r["what"], "-" if r["given"] else
                                              "reused" if r["reused"] else f"~{r['seconds'] / 60:.1f} min"]
                                             for r in rows])
    show(args, {"name": config.name, "out": str(args.out), "stages": rows, "seconds": total}, report)
    return 0


def run(args) -> int:
    from dataclasses import replace

    from nas.pipeline import DEMO_TRAIN_CONFIG, load_experiment, run_experiment
    from supernet.core import parse_assignments

    path = args.config or (DEMO_TRAIN_CONFIG if getattr(args, "train", False) else None)
    config = load_experiment(path, parse_assignments(args.set_keys))
    if args.finetune is not None:
        config = replace(config, finetune=replace(config.finetune, epochs=args.finetune))
    args.out = args.out or f"runs/{config.name}"
    if args.dry_run:
        return _dry_run(args, config)
    summary = run_experiment(config, args.out, fresh=args.fresh, data_dir=args.data_dir,
                             progress=not args.quiet)
    rows = [[number(b["latency_budget_ms"], 3), b["arch"], number(b["test_acc"]),
             number(b["measured_latency_ms"], 3), "yes" if b["meets_budget"] else "NO",
             Path(b["onnx_path"]).name]
            for b in summary["budgets"]]
    took = f"{summary['seconds']:.0f} s"
    if summary.get("total_seconds", summary["seconds"]) > summary["seconds"] + 1:  # a rerun, reusing stages
        took += f" ({summary['total_seconds']:.0f} s with the runs it continued)"
    report = Summary(f"{summary['name']} done in {took}: {len(rows)} ONNX models, one per latency budget")
    header = ["budget (ms)", "subnet", "test acc (%)", "measured (ms)", "within", "model"]
    if any(b.get("finetune_epochs") for b in summary["budgets"]):
        header.insert(3, "inherited (%)")
        for row, b in zip(rows, summary["budgets"]):
            row.insert(3, number(b.get("inherited_test_acc")))
    report.table(header, rows)
    report.fact("models", f"{args.out}/models/ (an ONNX model and its card per budget)")
    report.fact("report", f"{args.out}/report.md")
    show(args, summary, report)
    return 0
