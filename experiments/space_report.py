"""Search-space facts and extraction / ONNX parity over random archs of every preset.

    python experiments/space_report.py --json experiments/results/space_report.json

Parity runs on randomly initialised supernets whose BN statistics were estimated on noise
and whose kernel transforms were moved off identity, so every path is exercised.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from supernet import Supernet, arch_cost, export_onnx, get_space, list_spaces, onnx_parity  # noqa: E402


@torch.no_grad()
def realistic_supernet(space, seed: int) -> Supernet:
    torch.manual_seed(seed)
    net = Supernet(space).train()
    for _ in range(5):
        for arch in (space.largest(space.resolutions[0]), space.sample(seed)):
            net(torch.randn(4, space.in_channels, arch.resolution, arch.resolution), arch)
    for name, p in net.named_parameters():
        if ".transforms." in name:
            p.add_(0.05 * torch.randn_like(p))
    classifier = net.head.classifier.weight  # logits of order 1, not OFA's 0.01-scale init
    classifier.normal_(std=classifier.shape[1] ** -0.5)
    return net.eval()


def preset_facts(space) -> dict:
    small, big = space.smallest(), space.largest()
    return {
        "num_subnets": space.num_subnets,
        "num_subnets_float": float(space.num_subnets),
        "num_resolutions": len(space.resolutions),
        "supernet_params": sum(p.numel() for p in Supernet(space).parameters()),
        "params_max": arch_cost(space, big).params,
        "params_min": arch_cost(space, small).params,
        "macs_min": arch_cost(space, small).macs,
        "macs_max": arch_cost(space, big).macs,
        "peak_memory_bytes_max": arch_cost(space, big).peak_memory_bytes,
    }


@torch.no_grad()
def parity(space, num_archs: int, seed: int, workdir: Path) -> dict:
    net, rng = realistic_supernet(space, seed), np.random.default_rng(seed)
    extract_diff, onnx_diff, scale = 0.0, 0.0, 0.0
    for i in tqdm(range(num_archs), desc=f"parity {space.name}", leave=False):
        arch = space.sample(rng)
        if space.name == "ofa_mbv3":  # keep the ImageNet space quick: its smallest resolutions
            arch = arch.with_resolution(space.resolutions[i % 3])
        x = torch.randn(2, space.in_channels, arch.resolution, arch.resolution)
        ref = net(x, arch)
        sub = net.extract(arch).eval()
        extract_diff = max(extract_diff, (sub(x) - ref).abs().max().item())
        path = export_onnx(sub, workdir / "subnet.onnx", (1, *x.shape[1:]))
        onnx_diff = max(onnx_diff, onnx_parity(path, sub, x))
        scale = max(scale, ref.abs().max().item())
    return {"num_archs": num_archs, "extract_max_abs_diff": extract_diff,
            "onnx_max_abs_diff": onnx_diff, "output_abs_max": scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--json", required=True, type=Path, help="where to write the report")
    parser.add_argument("--num-archs", type=int, default=50, help="random archs per preset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()
    report = {"presets": {}, "parity": {"num_archs": 0, "extract_max_abs_diff": 0.0,
                                        "onnx_max_abs_diff": 0.0, "per_preset": {}}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in list_spaces():
            space = get_space(name)
            report["presets"][name] = preset_facts(space)
            result = parity(space, args.num_archs, args.seed, Path(tmp))
            agg = report["parity"]
            agg["per_preset"][name] = result
            agg["num_archs"] += result["num_archs"]
            for key in ("extract_max_abs_diff", "onnx_max_abs_diff"):
                agg[key] = max(agg[key], result[key])
    report["seconds"] = round(time.time() - start, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = args.json.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp_path, args.json)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
