"""`nas train`: train a supernet from a YAML config (any recipe)."""

from __future__ import annotations

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a supernet from a YAML config (any recipe: sandwich, uniform, PS)",
        description="Train a once-for-all supernet as a YAML config says (see experiments/*.yaml). "
        "Writes OUT/supernet.pt after every epoch, OUT/metrics.jsonl, OUT/summary.json and the "
        "validation curves OUT/curves.png. "
        "For several processes: torchrun --nproc_per_node N -m nas.cli train ...")
    p.add_argument("--config", required=True, help="YAML training config (experiments/<name>.yaml)")
    p.add_argument("--out", default=None, help="run directory (default: runs/<config name>)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    start.add_argument("--force", action="store_true", help="start over even if --out holds a run")
    p.add_argument("--data-dir", default=None, help="dataset location (overrides data.path)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_keys",
                   help="override one key of the config, e.g. --set train.batch_size=64 (the value is read "
                        "as YAML; repeatable)")
    p.add_argument("--max-steps-per-epoch", type=int, default=None,
                   help="cap the steps of every epoch (overrides train.max_steps_per_epoch)")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress display")
    p.add_argument("--log", action="append", default=[], choices=("tensorboard", "mlflow"),
                   help="also write the per-epoch metrics for TensorBoard (OUT/tensorboard) or MLflow "
                        "(OUT/mlflow.db); repeatable; needs the extra of the same name")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from supernet import load_train_config, train
    from supernet.core import parse_assignments
    from supernet.train import shutdown_distributed, tracking_uri

    overrides = parse_assignments(args.set_keys)
    if args.data_dir is not None:
        overrides["data.path"] = args.data_dir
    if args.max_steps_per_epoch is not None:
        overrides["train.max_steps_per_epoch"] = args.max_steps_per_epoch
    config = load_train_config(args.config, overrides)
    out = args.out or str(Path("runs") / Path(args.config).stem)
    try:
        summary = train(config, out, resume=args.resume, force=args.force,
                        progress=not args.no_progress, log_to=args.log)
    finally:
        shutdown_distributed()
    if summary:
        final = summary.get("final") or {}
        report = Summary(f"supernet trained: {summary['epochs']} epochs ({', '.join(summary['phases'])})")
        accs = [(k.removeprefix("acc_"), v) for k, v in final.items() if k.startswith("acc_")]
        if accs:
            report.table(["subnet", "validation accuracy (%)"], [[k, number(v)] for k, v in accs])
        report.fact("time", f"{summary['wall_seconds_this_session'] / 60:.1f} min this session")
        if summary.get("bad_files"):
            report.fact("unreadable", f"{summary['bad_files']} image file(s) skipped over the epochs, e.g. "
                                      f"{summary['bad_file_examples'][0]}")
        report.fact("checkpoint", summary["checkpoint"])
        if summary.get("curves"):
            report.fact("curves", summary["curves"])
        for name in args.log:
            view = {"tensorboard": f"tensorboard --logdir {Path(out) / 'tensorboard'}",
                    "mlflow": f"mlflow ui --backend-store-uri {tracking_uri(Path(out))}"}[name]
            report.fact(name, view)
        show(args, summary, report)
    return 0
