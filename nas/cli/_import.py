"""`nas import-ofa`: MIT's released once-for-all supernets (MobileNetV3, ProxylessNAS,
ResNet50) as checkpoints of this project."""

from __future__ import annotations

from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser("import-ofa", help="convert one of MIT's released once-for-all checkpoints",
                       description="Convert one of MIT's once-for-all checkpoints "
                       "(ofa_mbv3_d234_e346_k357_w1.0 or _w1.2, ofa_proxyless_d234_e346_k357_w1.3, "
                       "ofa_resnet50_d=0+1+2_e=0.2+0.25+0.35_w=0.65+0.8+1.0) into a supernet checkpoint "
                       "of the ofa_mbv3 (ofa_mbv3_w12), ofa_proxyless or ofa_resnet50 space, usable "
                       "wherever a checkpoint is taken.")
    p.add_argument("--checkpoint", required=True, help="MIT's checkpoint file")
    p.add_argument("--out", help="supernet checkpoint to write "
                   "(default: runs/import/<--checkpoint's name>.pt)")
    p.add_argument("--space", help="the preset it is a supernet of (default: found from its tensors: "
                   "ofa_mbv3, ofa_mbv3_w12, ofa_proxyless or ofa_resnet50)")
    p.add_argument("--data-dir", help="ImageNet-layout folder (train/CLASS/*, val/CLASS/*) the checkpoint's "
                   "data config streams from (BN recalibration, collect, export); --data-dir of those "
                   "commands can point elsewhere later")
    p.add_argument("--image-size", type=int, default=224, help="with --data-dir: crop size of the images")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from supernet import file_hash, import_ofa, save_checkpoint
    from supernet.core import check_outputs

    args.out = args.out or f"runs/import/{Path(args.checkpoint).name.removesuffix('.pth')}.pt"
    check_outputs([args.out], force=args.force, what="checkpoint")
    config = _imagenet_config(args.data_dir, args.image_size) if args.data_dir else None
    model = import_ofa(args.checkpoint, args.space)
    save_checkpoint(args.out, {
        "model": model.state_dict(), "space": model.space.to_dict(), "config": config, "finished": True,
        "source": {"kind": "ofa", "checkpoint": str(args.checkpoint),
                   "checkpoint_hash": file_hash(args.checkpoint)}})
    record = {"supernet": args.out, "space": model.space.name,
              "parameters": sum(p.numel() for p in model.parameters())}
    report = Summary(f"imported MIT's supernet as {model.space.name}")
    report.fact("checkpoint", args.out)
    report.fact("parameters", number(record["parameters"]))
    report.fact("data", config["data"]["path"] if config else "none (pass --data-dir to evaluate and search)")
    show(args, record, report)
    return 0


def _imagenet_config(folder: str, image_size: int) -> dict:
    """The data config MIT evaluated with: streamed, 224 px centre crops of a resize to 256,
    ImageNet's mean and std; 10,000 training images (at most a tenth) held out for
    validation, BN recalibrated on 2,000. Checked before anything is written."""
    from dataclasses import asdict
    from pathlib import Path

    from supernet import DataConfig, NASError
    from supernet.data import IMAGENET_MEAN, IMAGENET_STD, scan_folder

    found = scan_folder(folder)  # the layout checked, as every later use will read it
    if found.mode != "RGB":
        raise NASError(f"--data-dir {folder}: its images are grey; MIT's supernets take colour images")
    data = DataConfig(dataset="imagefolder", path=str(Path(folder).resolve()), stream=True,
                      image_size=image_size, val_size=min(10_000, max(1, len(found.files) // 10)),
                      calib_images=2000, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
    return {"seed": 0, "data": asdict(data)}
