"""Fine-tuning benchmark: the five card archs of ``pretrained:fmnist_small`` fine-tuned from
their inherited weights, next to the same archs trained alone for 28 epochs
(``experiments/results/train_fashion_mnist.json``); writes experiments/results/finetune.json
and finetune.png.

    python experiments/bench_finetune.py                 # resumable: rerun to continue
    python experiments/bench_finetune.py --epochs 5      # only the 5-epoch runs

Per arch: test accuracy inherited (BN recalibrated), fine-tuned for 1, 3, 5 and 10 epochs with
the default teacher (the supernet's largest subnet), for 5 epochs without a teacher; wall
seconds of each run. Every run has its own folder under --workdir (outside the checkout by
default) and is resumed where it stopped; the JSON is rewritten after every run.

Training alone took place on another machine; ``seconds.alone_here`` estimates it on this
one as 28 x the median seconds of an epoch without a teacher (the same network, data and
step; training alone used no teacher), and ``finetune_5_over_alone`` is 5 x the median
seconds of a fine-tuning epoch over that: medians, so that an epoch slowed by another job
on this shared machine does not decide the ratio (``seconds.finetune_5`` is the plain sum).

    python experiments/bench_finetune.py --report-only   # the JSON from the finished runs only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from supernet import ArchConfig, FinetuneConfig, OptimConfig, finetune, read_metrics  # noqa: E402
from supernet.core import atomic_write_bytes, atomic_write_json  # noqa: E402
from supernet.train import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("smallest", "mac_q25", "mac_q50", "mac_q75", "largest")
EPOCHS = (5, 1, 3, 10)  # the target's budget first


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--supernet", default="pretrained:fmnist_small")
    p.add_argument("--workdir", default=str(Path.home() / "nas-runs" / "finetune"))
    p.add_argument("--epochs", type=int, nargs="*", default=list(EPOCHS), help="fine-tuning budgets to run")
    p.add_argument("--archs", nargs="*", default=list(NAMES), choices=NAMES)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(RESULTS / "finetune.json"))
    p.add_argument("--report-only", action="store_true", help="read the finished runs, start none")
    return p.parse_args(argv)


def run(name: str, arch: ArchConfig, epochs: int, teacher: str, args) -> dict | None:
    """One fine-tuning run, resumed if it was stopped; its summary with the wall seconds of
    its epochs (from metrics.jsonl, so a resumed run counts the epochs of every session)."""
    folder = Path(args.workdir) / f"{name}_{'kd' if teacher != 'none' else 'nokd'}_e{epochs}"
    config = FinetuneConfig(supernet=args.supernet, arch=arch, epochs=epochs, lr=args.lr, teacher=teacher,
                            train=OptimConfig(threads=args.threads))
    summary_path = folder / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
    elif args.report_only:
        return None
    else:
        summary = finetune(config, folder, resume=folder.exists(), progress=True)  # a killed run goes on
    rows = [r for r in read_metrics(folder / "metrics.jsonl") if r["global_epoch"] > 0]
    summary["seconds"] = round(sum(r["seconds"] for r in rows), 1)
    summary["epoch_seconds"] = [r["seconds"] for r in rows]
    summary["median_epoch_seconds"] = float(np.median(summary["epoch_seconds"]))
    return summary


def plot(result: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for i, (name, row) in enumerate(result["archs"].items()):
        colour = f"C{i}"
        budgets = sorted(int(e) for e in row["finetuned"])
        if not budgets:
            continue
        ax.plot([0, *budgets], [row["inherited"], *(row["finetuned"][str(e)] for e in budgets)], "-o",
                c=colour, ms=4, label=f"{name} fine-tuned")
        ax.axhline(row["alone"], c=colour, ls="--", lw=0.9)
        if row.get("finetuned_no_kd_5") is not None:
            ax.plot([5], [row["finetuned_no_kd_5"]], "x", c=colour, ms=7)
    ax.set_xlabel("fine-tuning epochs (0: inherited weights)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fine-tuned subnets of pretrained:fmnist_small (dashed: trained alone, 28 epochs; "
                 "x: 5 epochs without teacher)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reference = json.loads((RESULTS / "train_fashion_mnist.json").read_text())
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {"archs": {}}
    result.update({
        "supernet": args.supernet, "lr": args.lr, "teacher": "largest (the supernet's largest subnet at the "
        "arch's resolution, BN recalibrated)", "alone_epochs": reference["alone_epochs"],
        "alone_source": "experiments/results/train_fashion_mnist.json (alone: test %, trained on another "
        "machine; alone_minutes there)",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "threads": args.threads or torch.get_num_threads(), "python": platform.python_version()},
        "command": "python experiments/bench_finetune.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "workdir": args.workdir})
    for name in args.archs:
        arch = ArchConfig.from_dict(reference["archs"][name]["arch"])
        row = result["archs"].setdefault(name, {"arch": str(arch), "alone": reference["alone"][name],
                                                "finetuned": {}, "finetuned_no_kd_5": None, "seconds": {}})
        jobs = [(5, "largest"), (5, "none")] if 5 in args.epochs else []
        jobs += [(e, "largest") for e in args.epochs if e != 5]
        for epochs, teacher in jobs:
            summary = run(name, arch, epochs, teacher, args)
            if summary is None:
                continue
            row["inherited"] = summary["inherited"]["test_acc"]
            test = summary["finetuned"]["test_acc"]
            if teacher == "none":
                row["finetuned_no_kd_5"] = test
                row["seconds"]["no_kd_5"] = summary["seconds"]
                row["seconds"]["no_kd_epoch_median"] = summary["median_epoch_seconds"]
                alone = summary["median_epoch_seconds"] * reference["alone_epochs"]
                row["seconds"]["alone_here"] = round(alone, 1)
            else:
                row["finetuned"][str(epochs)] = test
                row["seconds"][f"finetune_{epochs}"] = summary["seconds"]
                row["seconds"][f"finetune_{epochs}_epoch_median"] = summary["median_epoch_seconds"]
            row["seconds"]["alone_there"] = round(reference["alone_minutes"][name] * 60, 1)
            seconds = row["seconds"]
            if "finetune_5" in seconds and "alone_here" in seconds:
                ratio = 5 * seconds["finetune_5_epoch_median"] / seconds["alone_here"]
                row["finetune_5_over_alone"] = round(ratio, 3)
            summarise(result)
            result["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            atomic_write_json(out, result)
            plot(result, out.with_suffix(".png"))
            print(json.dumps({"arch": name, "epochs": epochs, "teacher": teacher, "test": test,
                              "inherited": row["inherited"], "alone": row["alone"]}), flush=True)
    return 0


def summarise(result: dict) -> None:
    """Mean gains over training alone per budget, and the targets (over the archs done)."""
    rows = result["archs"].values()
    gains = {}
    for e in sorted({e for r in rows for e in r["finetuned"]}, key=int):
        done = [r for r in rows if e in r["finetuned"]]
        gains[e] = round(sum(r["finetuned"][e] - r["alone"] for r in done) / len(done), 3)
    result["mean_gain_over_alone_pp"] = gains
    five = [r for r in rows if "5" in r["finetuned"]]
    both = [r for r in five if r.get("finetuned_no_kd_5") is not None]
    result["targets"] = {
        "archs_done_5": len(five),
        "finetune_5_ge_alone_every_arch": all(r["finetuned"]["5"] >= r["alone"] for r in five) if five
        else None,
        "finetune_5_mean_gain_ge_0.3": gains.get("5", -1) >= 0.3 if five else None,
        "teacher_beats_no_teacher_mean_pp": round(sum(r["finetuned"]["5"] - r["finetuned_no_kd_5"]
                                                      for r in both) / len(both), 3) if both else None,
        "finetune_5_le_20pct_of_alone": all(r.get("finetune_5_over_alone", 1) <= 0.2 for r in five) if five
        else None,
    }


if __name__ == "__main__":
    sys.exit(main())
