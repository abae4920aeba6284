"""Package a finished supernet run (and then its accuracy predictor) as the pretrained
supernet that ships with the project.

  python experiments/make_pretrained.py supernet --run RUN_DIR --bench BENCH.json --name fmnist_small
  nas collect --supernet pretrained:fmnist_small --num-archs 2500 --workers 2 --out ACC.csv
  nas fit-predictor --data ACC.csv --out FIT_DIR
  python experiments/make_pretrained.py predictor --fit FIT_DIR --name fmnist_small

``supernet`` keeps what inference needs (weights, space, training config, normalisation,
final metrics; no optimizer state) in ``supernet/pretrained/NAME.pt`` and writes its card
``NAME.json``: the recipe, the test accuracies of the benchmark's five archs, the file's
hash and the command that reproduces it. ``predictor`` copies the best fitted model (it
must have been fitted on accuracies of the shipped file, which its hash proves) to
``predictors/pretrained/NAME/`` and adds its held-out figures to the card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

from supernet import file_hash, load_checkpoint, save_checkpoint
from supernet._io import atomic_write_json
from supernet._pretrained import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parent.parent
PREDICTOR_DIR = ROOT / "predictors" / "pretrained"
KEEP = ("model", "space", "config", "normalization", "metrics", "finished", "phase", "epoch", "step",
        "phase_name")


def package_supernet(args) -> dict:
    payload = load_checkpoint(Path(args.run) / "supernet.pt")
    if not payload.get("finished"):
        raise SystemExit(f"{args.run}: the run has not finished (phase {payload.get('phase_name')!r})")
    bench = json.loads(Path(args.bench).read_text())
    recipe = bench["default_recipe"]
    rec = bench["recipes"][recipe]
    out = PRETRAINED_DIR / f"{args.name}.pt"
    save_checkpoint(out, {k: payload[k] for k in KEEP if k in payload})
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    card = {
        "name": args.name, "load": f"supernet.load_pretrained({args.name!r}) or --supernet "
                                    f"pretrained:{args.name}",
        "space": payload["space"]["name"], "recipe": recipe, "config": payload["config"],
        "config_file": bench["configs"].get(recipe), "epochs": rec["epochs"],
        "subnet_epochs": rec["subnet_epochs"],
        "test_accuracy": {k: {"arch": bench["archs"][k]["str"], "macs": bench["archs"][k]["macs"],
                              "inherited": rec["acc"][k], "trained_alone": bench["alone"].get(k)}
                          for k in rec["acc"]},
        "alone_epochs": bench["alone_epochs"],
        "test_images": bench["test_images"],
        "bn_recalibration_images": payload["config"]["data"]["calib_images"],
        "file_hash": file_hash(out), "sha256": sha, "bytes": out.stat().st_size,
        "trained_on": bench["machine"], "wall_minutes": rec["wall_minutes"],
        "reproduce": f"nas train --config {bench['configs'].get(recipe)} --out RUN  (then: python "
                     f"experiments/make_pretrained.py supernet --run RUN --bench BENCH.json --name "
                     f"{args.name})",
        "benchmark": "python experiments/bench_train.py fashion-mnist",
        "packaged": dt.date.today().isoformat(),
    }
    atomic_write_json(out.with_suffix(".json"), card)
    return card


def package_predictor(args) -> dict:
    fit = Path(args.fit)
    report = json.loads((fit / "report.json").read_text())
    best = report["best"]
    card_path = PRETRAINED_DIR / f"{args.name}.json"
    card = json.loads(card_path.read_text())
    manifest = json.loads((fit / best / "predictor.json").read_text())
    if manifest.get("supernet_hash") != card["file_hash"]:
        raise SystemExit(f"{fit}: fitted on supernet {manifest.get('supernet_hash')}, not on the shipped "
                         f"pretrained:{args.name} ({card['file_hash']}); collect from pretrained:{args.name}")
    dest = PREDICTOR_DIR / args.name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(fit / best, dest / best)
    slim = {k: v for k, v in report.items() if k != "models"}
    slim["models"] = {best: report["models"][best]}
    atomic_write_json(dest / "report.json", slim)
    card["predictor"] = {"load": f"predictors.load_predictor('pretrained:{args.name}')", "kind": best,
                         "fitted_on": report.get("n_fit"), "held_out": report.get("n_held_out"),
                         **{k: report["models"][best].get(k) for k in ("rmse_pp", "mae_pp", "kendall_tau",
                                                                       "spearman")}}
    atomic_write_json(card_path, card)
    return card["predictor"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("supernet")
    s.add_argument("--run", required=True, help="the finished run folder (holds supernet.pt)")
    s.add_argument("--bench", required=True, help="bench_train.py fashion-mnist JSON of that run")
    s.add_argument("--name", default="fmnist_small")
    p = sub.add_parser("predictor")
    p.add_argument("--fit", required=True, help="nas fit-predictor output folder")
    p.add_argument("--name", default="fmnist_small")
    args = parser.parse_args()
    result = package_supernet(args) if args.what == "supernet" else package_predictor(args)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
