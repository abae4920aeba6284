"""`nas finetune`: a chosen subnet trained a few more epochs from its inherited weights."""

from __future__ import annotations

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune", help="fine-tune a chosen subnet from its inherited weights, with distillation",
        description="Extract a subnet from a supernet with its inherited weights (BN recalibrated), "
        "then train it for a few epochs at a small learning rate (cosine to zero) on the supernet's "
        "training data, distilling from the supernet's largest subnet. Writes OUT/finetuned.pt after "
        "every epoch (resumable), OUT/metrics.jsonl, OUT/summary.json and OUT/curves.png; export the "
        "result with `nas export --weights OUT/finetuned.pt`. "
        "For several processes: torchrun --nproc_per_node N -m nas.cli finetune ...")
    p.add_argument("--supernet", required=True, help="supernet checkpoint (.pt) or pretrained:NAME")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="the subnet: an arch JSON file or object (a model card works too), the "
                       "compact string a summary prints (r24[k5e6,k3e4|...]), smallest or largest")
    which.add_argument("--front", help="front.csv written by `nas search`")
    p.add_argument("--rank", type=int, default=0, help="row of --front to fine-tune (0 = first)")
    p.add_argument("--out", default="runs/finetune", help="run directory (default: runs/finetune)")
    p.add_argument("--epochs", type=int, default=5, help="epochs of fine-tuning (default 5)")
    p.add_argument("--lr", type=float, default=0.02, help="initial learning rate, cosine to 0 (default 0.02)")
    p.add_argument("--teacher", default="largest",
                   help="largest (the supernet's largest subnet, default), none (labels only), or a "
                        "checkpoint: a supernet of the same space or a fine-tuned subnet")
    p.add_argument("--batch-size", type=int, default=None, help="default: 128")
    p.add_argument("--data-dir", default=None, help="dataset location, if not where the supernet was trained")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and augmentation")
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help="cap the steps of every epoch")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    start.add_argument("--force", action="store_true", help="start over even if --out holds a run")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress display")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from nas.cli._export import read_arch
    from nas.export import arch_from_front
    from supernet import DataConfig, FinetuneConfig, OptimConfig, checkpoint_record, finetune
    from supernet.train import shutdown_distributed

    arch = read_arch(args.arch, args.supernet) if args.arch else arch_from_front(args.front, args.rank)
    train = {k: v for k, v in (("batch_size", args.batch_size), ("threads", args.threads),
                               ("max_steps_per_epoch", args.max_steps_per_epoch)) if v is not None}
    data = None
    if args.data_dir is not None:
        stored = (checkpoint_record(args.supernet).get("config") or {}).get("data", {})
        data = dataclasses.replace(DataConfig(**stored), path=args.data_dir)
    config = FinetuneConfig(supernet=args.supernet, arch=arch, epochs=args.epochs, lr=args.lr,
                            teacher=args.teacher, seed=args.seed, data=data, train=OptimConfig(**train))
    try:
        summary = finetune(config, args.out, resume=args.resume, force=args.force,
                           progress=not args.no_progress)
    finally:
        shutdown_distributed()
    if summary:
        before, after = summary["inherited"], summary["finetuned"]
        report = Summary(f"fine-tuned {summary['arch_str']}: {summary['epochs']} epochs, "
                         f"teacher {summary['teacher']}")
        report.table(["weights", "validation (%)", "test (%)"],
                     [["inherited", number(before["val_acc"]), number(before["test_acc"])],
                      ["fine-tuned", number(after["val_acc"]), number(after["test_acc"])]])
        report.fact("gain", f"{summary['gain_test_pp']:+.2f} pp test accuracy")
        report.fact("time", f"{summary['wall_seconds_this_session'] / 60:.1f} min this session")
        if summary.get("bad_files"):
            report.fact("unreadable", f"{summary['bad_files']} image file(s) skipped over the epochs, e.g. "
                                      f"{summary['bad_file_examples'][0]}")
        report.fact("checkpoint", summary["checkpoint"])
        report.fact("curves", summary["curves"])
        report.fact("next", f"nas export --weights {summary['checkpoint']}")
        show(args, summary, report)
    return 0
