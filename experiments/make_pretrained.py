"""Package a finished supernet run (and then its accuracy predictor) as the pretrained
supernet that ships with the project.

  python experiments/make_pretrained.py supernet --run RUN_DIR --name fmnist_small
  nas collect --supernet pretrained:fmnist_small --num-archs 2500 --workers 2 --out ACC.csv
  nas fit-predictor --data ACC.csv --out FIT_DIR
  python experiments/make_pretrained.py predictor --fit FIT_DIR --name fmnist_small

``supernet`` keeps what inference needs (weights, space, training config, normalisation,
final metrics; no optimizer state) in ``supernet/pretrained/NAME.pt`` and writes its card
``NAME.json``: the recipe, the test and validation accuracies of the training benchmark's
five archs (measured here), the file's hash and the command that reproduces it.
``predictor`` copies the best fitted model (it must have been fitted on accuracies of the
shipped file, which its hash proves) to ``predictors/pretrained/NAME/`` and adds its
held-out figures to the card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

from supernet import PRETRAINED_DIR, file_hash, load_checkpoint, save_checkpoint
from supernet.core import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
PREDICTOR_DIR = ROOT / "predictors" / "pretrained"
KEEP = ("model", "space", "config", "normalization", "metrics", "finished", "phase", "epoch", "step",
        "phase_name")


def package_supernet(args) -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _recipes import spread_archs

    from supernet import arch_cost, build_data, evaluate_arch, load_supernet

    payload = load_checkpoint(Path(args.run) / "supernet.pt")
    if not payload.get("finished"):
        raise SystemExit(f"{args.run}: the run has not finished (phase {payload.get('phase_name')!r})")
    out = PRETRAINED_DIR / f"{args.name}.pt"
    save_checkpoint(out, {k: payload[k] for k in KEEP if k in payload})
    model, _ = load_supernet(out)
    config = payload["config"]
    data = build_data(load_train_config_dict(config).data, 256, seed=config["seed"])
    accs = {}
    for key, arch in spread_archs(model.space).items():  # the training benchmark's five archs
        accs[key] = {"arch": str(arch), "macs": arch_cost(model.space, arch).macs,
                     "test": round(evaluate_arch(model, arch, data.calib, data.test), 2),
                     "validation": round(evaluate_arch(model, arch, data.calib, data.val), 2)}
    bench = json.loads(Path(args.bench).read_text()) if args.bench else {}
    for key, value in (bench.get("alone") or {}).items():
        accs[key]["trained_alone_test"] = value
    recipe = args.recipe
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    card = {
        "name": args.name, "load": f"supernet.load_pretrained({args.name!r}) or --supernet "
                                    f"pretrained:{args.name}",
        "space": payload["space"]["name"], "recipe": recipe,
        "config_file": f"experiments/fmnist_{recipe}.yaml", "config": config,
        "epochs": sum(p["epochs"] for p in config["phases"]), "accuracy_pct": accs,
        "test_images": data.test.num_images, "validation_images": data.val.num_images,
        "bn_recalibration_images": config["data"]["calib_images"],
        "alone_epochs": bench.get("alone_epochs"),
        "file_hash": file_hash(out), "sha256": sha, "bytes": out.stat().st_size,
        "trained_on": args.machine, "train_minutes": round(sum(
            r["seconds"] for r in _metrics(Path(args.run))) / 60, 1),
        "reproduce": f"nas train --config experiments/fmnist_{recipe}.yaml --out RUN && python "
                     f"experiments/make_pretrained.py supernet --run RUN --name {args.name}",
        "benchmark": "python experiments/bench_train.py fashion-mnist",
        "packaged": dt.date.today().isoformat(),
    }
    atomic_write_json(out.with_suffix(".json"), card)
    return card


def load_train_config_dict(config: dict):
    from supernet import TrainConfig

    return TrainConfig.from_dict(config)


def _metrics(run: Path) -> list[dict]:
    from supernet import read_metrics

    return read_metrics(run / "metrics.jsonl")


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
    s.add_argument("--recipe", default="sandwich", help="its recipe (experiments/fmnist_RECIPE.yaml)")
    s.add_argument("--bench", help="bench_train.py fashion-mnist JSON (adds the archs trained alone)")
    s.add_argument("--machine", default="", help="where it was trained, in words")
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
