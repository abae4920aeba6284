"""MIT's own OFA-ResNet50 and OFA-ProxylessNAS (the `ofa` package), with random weights,
saved as MIT's checkpoints are, imported, and compared with our supernets in float64 on
random subnets that span every choice: logits, parameters and multiply-accumulates. Then
the whole chain on each imported supernet at one resolution."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from nas.cli import main
from supernet import ArtifactMismatchError, arch_cost, get_space, import_ofa
from tests.supernet.test_import_ofa import _randomised, ofa_networks  # noqa: F401 - the fixture stubs torchvision
from tests.supernet.test_supernet import measured_macs

RESNET = {"depth_list": [0, 1, 2], "expand_ratio_list": [0.2, 0.25, 0.35],
          "width_mult_list": [0.65, 0.8, 1.0]}
PROXYLESS = {"width_mult": 1.3, "ks_list": [3, 5, 7], "expand_ratio_list": [3, 4, 6], "depth_list": [2, 3, 4]}


def _mit(family: str, seed: int):
    from ofa.imagenet_classification.elastic_nn.networks import OFAProxylessNASNets, OFAResNets

    if family == "resnet":
        return _randomised(OFAResNets(n_classes=1000, dropout_rate=0, **RESNET), seed)
    return _randomised(OFAProxylessNASNets(n_classes=1000, dropout_rate=0, **PROXYLESS), seed)


def _activate(mit, space, arch) -> None:
    """Set MIT's network to ``arch`` (its own d/e/w or ks/e/d lists; inactive blocks any)."""
    per_stage = [space.stage_depths(s)[-1] for s in range(space.num_stages)]

    def every(key, filler):
        return [arch.choice(key)[s][i] if i < arch.depths[s] else filler
                for s, n in enumerate(per_stage) for i in range(n)]

    if space.family == "resnet":
        d = [2 if arch.stem_depth[0] == 3 else 0] + [d - b for d, b in zip(arch.depths, space.base_depths)]
        mit.set_active_subnet(d=d, e=every("expand_ratios", 0.25),
                              w=[space.width_choices.index(m) for m in arch.width_mults])
    else:
        mit.set_active_subnet(ks=every("kernel_sizes", 3), e=every("expand_ratios", 3), d=list(arch.depths))


def _spanning(space, rng, n: int, resolutions) -> list:
    """``n`` archs (the smallest and largest among them) in which every value of every
    choice occurs, each stage depth included."""
    archs = [space.smallest(resolutions[0]), space.largest(resolutions[-1])]
    while len(archs) < n:
        archs.append(space.sample(rng, resolutions=resolutions))
    for key, allowed in space.block_choices.items():
        assert {v for a in archs for s in a.choice(key) for v in s} == set(allowed), key
    for key, positions in space.net_choices.items():
        assert all({a.choice(key)[i] for a in archs} == set(p) for i, p in enumerate(positions)), key
    assert all({a.depths[s] for a in archs} == set(space.stage_depths(s)) for s in range(space.num_stages))
    return archs


@pytest.mark.parametrize("family, name", [("resnet", "ofa_resnet50"), ("proxyless", "ofa_proxyless")])
def test_import_computes_mits_function(ofa_networks, tmp_path, family, name):  # noqa: F811
    mit = _mit(family, seed=7)
    torch.save({"state_dict": mit.state_dict()}, tmp_path / "mit.pth")  # as MIT's released files wrap it
    ours = import_ofa(tmp_path / "mit.pth").double().eval()
    assert ours.space == get_space(name) and ours.space.family == family
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in mit.parameters())
    mit = mit.double().eval()
    space, worst = ours.space, 0.0
    for i, arch in enumerate(_spanning(space, np.random.default_rng(0), 20, [128, 160])):
        _activate(mit, space, arch)
        x = torch.randn(1, 3, arch.resolution, arch.resolution, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            worst = max(worst, float((ours(x, arch) - mit(x)).abs().max()))
        if i < 4:  # MIT's own static subnet counts what our cost model says
            sub = mit.get_active_subnet().float().eval()
            cost = arch_cost(space, arch)
            assert cost.params == sum(p.numel() for p in sub.parameters()), str(arch)
            assert cost.macs == measured_macs(sub, x.float()), str(arch)
    assert worst <= 1e-9, worst


def test_import_refuses_a_foreign_or_damaged_checkpoint(ofa_networks, tmp_path):  # noqa: F811
    state = _mit("resnet", seed=1).state_dict()
    state.pop("classifier.linear.linear.bias")
    state["blocks.2.conv1.conv.conv.weight"] = torch.zeros(3, 3, 1, 1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ArtifactMismatchError) as err:
        import_ofa(tmp_path / "broken.pth")
    text = str(err.value)
    assert "head.classifier.bias" in text and "stages.0.2.conv1.conv.weight (3, 3, 1, 1)" in text
    torch.save({"weight": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(ArtifactMismatchError, match="none of the families"):
        import_ofa(tmp_path / "foreign.pth")
    torch.save(_mit("proxyless", seed=1).state_dict(), tmp_path / "p.pth")
    with pytest.raises(ArtifactMismatchError, match="a proxyless checkpoint"):
        import_ofa(tmp_path / "p.pth", space="ofa_resnet50")


@pytest.mark.slow
@pytest.mark.parametrize("family, name", [("resnet", "ofa_resnet50"), ("proxyless", "ofa_proxyless")])
def test_the_whole_pipeline_on_an_imported_supernet(ofa_networks, tmp_path, capsys, family, name):  # noqa: F811
    """Import (BN recalibrated on a streamed image folder), a latency table of one
    resolution, accuracy collection, a predictor fit, a search under a latency budget and
    the export of its pick with ONNX Runtime parity, on MIT's network of each family."""
    from PIL import Image

    from latency_tables import LatencyTable
    from supernet.data import load_fashion_mnist

    torch.save({"state_dict": _mit(family, seed=5).state_dict()}, tmp_path / "mit.pth")
    tx, ty, vx, vy = load_fashion_mnist()
    for split, x, y, n in (("train", tx, ty, 24), ("val", vx, vy, 8)):
        for i in range(n):
            folder = tmp_path / "images" / split / f"c{y[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).convert("RGB").resize((64, 64)).save(folder / f"{i}.jpg")
    ckpt, work = tmp_path / "ofa.pt", tmp_path / "work"
    assert main(["import-ofa", "--checkpoint", str(tmp_path / "mit.pth"), "--out", str(ckpt),
                 "--data-dir", str(tmp_path / "images"), "--image-size", "64"]) == 0
    table = work / "cpu_t1.csv"
    assert main(["latency", "build", "--space", name, "--resolution", "128", "--out", str(table),
                 "--rounds", "2", "--passes", "1", "--calibration-archs", "2", "--quiet"]) == 0
    assert main(["collect", "--supernet", str(ckpt), "--num-archs", "28", "--calib-images", "8",
                 "--out", str(work / "accuracy.csv"), "--no-progress"]) == 0
    assert len(pd.read_csv(work / "accuracy.csv")) == 28
    assert main(["fit-predictor", "--data", str(work / "accuracy.csv"), "--models", "ridge",
                 "--out", str(work / "fit")]) == 0
    space = get_space(name)
    ms = LatencyTable.load(table).predict([space.smallest(128), space.largest(128)])
    budget = float(ms.mean())
    assert main(["search", "--space", name, "--predictor", str(work / "fit"), "--table", str(table),
                 "--latency-max", str(budget), "--budget", "60", "--out", str(work / "search")]) == 0
    front = pd.read_csv(work / "search" / "front.csv")
    assert len(front) >= 1 and json.loads(front["arch"][0])["resolution"] == 128
    capsys.readouterr()
    assert main(["export", "--supernet", str(ckpt), "--front", str(work / "search" / "front.csv"),
                 "--table", str(table), "--out", str(work / "m.onnx"), "--timing-rounds", "5"]) == 0
    card = json.loads((work / "m.json").read_text())
    assert card["parity_max_abs_diff"] < 1e-3 and card["predicted_latency_ms"] <= budget
    assert card["arch"]["resolution"] == 128 and card["provenance"]["space"] == name
    assert card["provenance"]["family"] == family
