"""`nas collect` and `nas fit-predictor`: from a trained supernet to a validated accuracy
predictor in two commands (thin layers over `predictors`)."""

from __future__ import annotations

from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser("collect", help="measure (arch, accuracy) pairs on a trained supernet",
                       description="Sample archs (uniform plus stratified by size), recalibrate BN "
                       "on training images, measure validation accuracy; resumable (rerun to finish).")
    p.add_argument("--supernet", required=True, help="supernet checkpoint (.pt)")
    p.add_argument("--num-archs", type=int, default=2000, help="archs to measure (default 2000)")
    p.add_argument("--out", help="table CSV (default: accuracy.csv beside the checkpoint)")
    p.add_argument("--data-dir", help="dataset folder (default: the checkpoint's data config)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes, 1 thread each (default 1; with --backend ray and no --ray-address: "
                        "the CPUs of the local Ray)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="ray: measure in Ray tasks, on a local Ray or the cluster of --ray-address")
    p.add_argument("--ray-address", help="join this Ray cluster (HOST:PORT, auto or ray://HOST:10001)")
    p.add_argument("--calib-images", type=int, default=2000,
                   help="training images for BN recalibration (default 2000, as OFA)")
    p.add_argument("--stratified-fraction", type=float, default=0.25,
                   help="share of archs stratified across the size range (default 0.25)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: measure on the GPU")
    p.add_argument("--force", action="store_true",
                   help="start over: delete an existing table at --out (made with other settings)")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress display")
    p.add_argument("--precision", choices=("fp32", "int8", "mixed"), default="fp32",
                   help="draw a precision policy with each arch: int8 (every part) or mixed (fp32 or int8 "
                        "per part); an arch with int8 parts is measured quantised, in ONNX Runtime, and its "
                        "fp32 twin's accuracy kept beside (column accuracy_fp32)")
    add_json_flag(p)
    p.set_defaults(func=run_collect)

    p = sub.add_parser("fit-predictor", help="fit accuracy predictors on a collected table",
                       description="Fit predictors, report RMSE/MAE (pp), Kendall tau and Spearman rho "
                       "on held-out archs (report.json, pred_vs_true.png) and save each model.")
    p.add_argument("--data", required=True, help="table CSV written by `nas collect`")
    p.add_argument("--models", default="mlp,ridge,gbt",
                   help="comma-separated (default mlp,ridge,gbt); 'transfer' (with --base) for a table "
                        "collected with --precision int8/mixed")
    p.add_argument("--base", help="the fp32 predictor a 'transfer' model starts from (folder or "
                                  "pretrained:NAME): it learns only what quantisation changes")
    p.add_argument("--out", help="output folder (default: predictor/ beside the --data table)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out share (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split and fitting seed (default 0)")
    p.add_argument("--force", action="store_true", help="replace an earlier fit's files in --out")
    add_json_flag(p)
    p.set_defaults(func=run_fit)


def run_collect(args) -> int:
    from predictors import CollectConfig, collect

    out = args.out or str(Path(args.supernet).with_name("accuracy.csv"))
    cfg = CollectConfig(supernet=args.supernet, out=out, num_archs=args.num_archs, seed=args.seed,
                        stratified_fraction=args.stratified_fraction, calib_images=args.calib_images,
                        data_dir=args.data_dir, workers=args.workers, device=args.device,
                        force=args.force, backend=args.backend, ray_address=args.ray_address,
                        precision=args.precision)
    table = collect(cfg, progress=not args.no_progress)
    acc = table["accuracy"]
    record = {"table": out, "rows": len(table), "accuracy_range": [float(acc.min()), float(acc.max())]}
    report = Summary(f"accuracy of {len(table)} subnets measured")
    report.fact("accuracy", f"{number(acc.min(), unit='%')} to {number(acc.max(), unit='%')} "
                            f"(median {number(acc.median(), unit='%')})")
    if cfg.precision != "fp32":
        drop = table["accuracy_fp32"] - acc
        record["quantization_drop_pp"] = {"mean": float(drop.mean()), "worst": float(drop.max())}
        report.fact("int8 drop", f"{number(drop.mean(), 2, 'pp')} mean, {number(drop.max(), 2, 'pp')} worst "
                                 "(accuracy as deployed vs the fp32 twin)")
    report.fact("table", out)
    if cfg.precision != "fp32":  # a few hundred quantised rows: learn the drop on top of an fp32 predictor
        report.fact("next", f"nas fit-predictor --data {out} --models transfer --base FP32_PREDICTOR "
                            "(e.g. --base pretrained:fmnist_small)")
    else:
        report.fact("next", f"nas fit-predictor --data {out}")
    show(args, record, report)
    return 0


def run_fit(args) -> int:
    from predictors import FitConfig, fit_predictors
    from supernet import NASError

    args.out = args.out or str(Path(args.data).with_name("predictor"))
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if "transfer" in models and not args.base:
        raise NASError("--models transfer needs --base: the fp32 predictor it starts from "
                       "(a `nas fit-predictor` folder or pretrained:NAME)")
    kwargs = {"transfer": {"base": args.base}} if args.base else None
    report = fit_predictors(FitConfig(data=args.data, out=args.out, models=models,
                                      test_fraction=args.test_fraction, seed=args.seed,
                                      force=args.force), model_kwargs=kwargs)
    rows = [[name + (" (best)" if name == report["best"] else ""), number(m["rmse_pp"], 3),
             number(m["mae_pp"], 3), number(m["kendall_tau"], 3), number(m["spearman"], 3)]
            for name, m in report["models"].items()]
    summary = Summary(f"accuracy predictors fitted on {report['n_fit']} archs, "
                      f"scored on {report['n_held_out']} held out")
    summary.table(["model", "RMSE (pp)", "MAE (pp)", "Kendall tau", "Spearman"], rows)
    summary.fact("tau ceiling", f"{number(report.get('tau_ceiling'), 3)} (two measurements of the "
                                "same archs)")
    summary.fact("files", f"{args.out}/ (report.json, pred_vs_true.png, one folder per model)")
    show(args, report, summary)
    return 0
