"""`nas import-ofa`: MIT's released OFA-MobileNetV3 supernets as checkpoints of this project."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("import-ofa", help="convert MIT's released OFA-MobileNetV3 checkpoint",
                       description="Convert MIT's once-for-all MobileNetV3 checkpoint "
                       "(ofa_mbv3_d234_e346_k357_w1.0 or _w1.2) into a supernet checkpoint of the "
                       "ofa_mbv3 (or ofa_mbv3_w12) space, usable wherever a checkpoint is taken.")
    p.add_argument("--checkpoint", required=True, help="MIT's checkpoint file")
    p.add_argument("--out", required=True, help="supernet checkpoint to write (.pt)")
    p.add_argument("--space", choices=("ofa_mbv3", "ofa_mbv3_w12"),
                   help="default: from the checkpoint's widths")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def run(args) -> int:
    from supernet import file_hash, save_checkpoint
    from supernet._import_ofa import import_ofa
    from supernet._io import check_outputs

    check_outputs([args.out], force=args.force, what="checkpoint")
    model = import_ofa(args.checkpoint, args.space)
    save_checkpoint(args.out, {
        "model": model.state_dict(), "space": model.space.to_dict(), "config": None, "finished": True,
        "source": {"kind": "ofa", "checkpoint": str(args.checkpoint),
                   "checkpoint_hash": file_hash(args.checkpoint)}})
    print(json.dumps({"supernet": args.out, "space": model.space.name,
                      "parameters": sum(p.numel() for p in model.parameters())}))
    return 0
