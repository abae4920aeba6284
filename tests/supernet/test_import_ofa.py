"""MIT's own OFA-MobileNetV3 (the `ofa` package), with random weights, saved as MIT's
checkpoints are, imported, and compared with our supernet on random subnets in float64."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

import numpy as np
import pytest
import torch

from nas.cli import main
from supernet import ArtifactMismatchError, get_space, import_ofa, load_supernet


class _Stub(types.ModuleType):
    """Any attribute of a stubbed module is a do-nothing class (`ofa` imports torchvision
    only for its ImageNet data loaders, which these tests never use)."""

    __path__: list[str] = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


class _StubTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        return None


@pytest.fixture(scope="module")
def ofa_networks():
    try:
        import torchvision  # noqa: F401
    except Exception:  # no torchvision on this CPU build: stub it for `ofa`
        sys.meta_path.insert(0, _StubTorchvision())
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    try:
        from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
    except ImportError as err:
        pytest.skip(f"MIT's `ofa` package is not installed ({err}); install.sh installs it")
    return OFAMobileNetV3


@torch.no_grad()
def _randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights everywhere, BN statistics and kernel transforms included."""
    gen = torch.Generator().manual_seed(seed)
    for name, t in net.state_dict().items():
        if t.dtype.is_floating_point:
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif "matrix" in name:
                t.copy_(torch.eye(t.shape[0]) + 0.1 * torch.randn(t.shape, generator=gen))
            else:
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
    return net


@pytest.mark.parametrize("width, space", [(1.0, "ofa_mbv3"), (1.2, "ofa_mbv3_w12")])
def test_import_computes_mits_function(ofa_networks, tmp_path, width, space):
    mit = _randomised(ofa_networks(dropout_rate=0, width_mult=width, ks_list=[3, 5, 7],
                                   expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4]), seed=int(width * 10))
    ckpt = tmp_path / "ofa.pth"
    torch.save({"state_dict": mit.state_dict()}, ckpt)  # as MIT's released files wrap it
    ours = import_ofa(ckpt).double().eval()
    assert ours.space == get_space(space)
    mit = mit.double().eval()
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(20 if width == 1.0 else 5):
        arch = ours.space.sample(rng, resolutions=[128, 160])
        n, m = ours.space.num_stages, ours.space.max_depth
        ks = [arch.kernel_sizes[s][i] if i < arch.depths[s] else 3 for s in range(n) for i in range(m)]
        es = [arch.expand_ratios[s][i] if i < arch.depths[s] else 3 for s in range(n) for i in range(m)]
        mit.set_active_subnet(ks=ks, e=es, d=list(arch.depths))
        x = torch.randn(2, 3, arch.resolution, arch.resolution, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(len(ks)))
        with torch.no_grad():
            got, want = ours(x, arch), mit(x)
        worst = max(worst, float((got - want).abs().max()))
    assert worst <= 1e-9, worst


def test_cli_import_and_clear_errors(ofa_networks, tmp_path, capsys):
    mit = _randomised(ofa_networks(dropout_rate=0, width_mult=1.0, ks_list=[3, 5, 7],
                                   expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4]), seed=3)
    state = mit.state_dict()
    older = {k.replace(".conv.", ".mobile_inverted_conv.", 1) if k.startswith("blocks.") else k: v
             for k, v in state.items()}  # the names of the older releases
    torch.save(older, tmp_path / "old.pth")
    argv = ["import-ofa", "--checkpoint", str(tmp_path / "old.pth"), "--out", str(tmp_path / "s.pt")]
    assert main(argv) == 0
    model, payload = load_supernet(tmp_path / "s.pt")
    assert model.space.name == "ofa_mbv3" and payload["source"]["kind"] == "ofa"
    assert main(argv) == 2
    assert "already exist" in capsys.readouterr().err  # never overwritten without --force

    broken = dict(state)
    broken.pop("classifier.linear.bias")
    broken["blocks.3.conv.point_linear.conv.conv.weight"] = torch.zeros(3, 3, 1, 1)
    broken["blocks.3.conv.extra.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ArtifactMismatchError) as err:
        import_ofa(tmp_path / "broken.pth")
    text = str(err.value)
    assert "blocks.3.conv.extra.weight" in text and "head.classifier.bias" in text
    assert "stages.0.2.project.conv.weight (3, 3, 1, 1)" in text


def test_the_whole_pipeline_on_an_imported_supernet(ofa_networks, tmp_path, capsys):
    """What a user with MIT's checkpoint and an ImageNet-layout folder runs, at tiny sizes:
    import (BN recalibrated on streamed images), a latency table of one resolution, accuracy
    collection, a predictor fit, a search under a latency budget and the export of its pick
    (test accuracy on the folder's val/ split, ONNX Runtime parity with PyTorch)."""
    import json

    import pandas as pd
    from PIL import Image

    from supernet.data import load_fashion_mnist

    mit = _randomised(ofa_networks(dropout_rate=0, width_mult=1.0, ks_list=[3, 5, 7],
                                   expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4]), seed=5)
    torch.save({"state_dict": mit.state_dict()}, tmp_path / "mit.pth")
    tx, ty, vx, vy = load_fashion_mnist()
    for split, x, y, n in (("train", tx, ty, 40), ("val", vx, vy, 10)):
        for i in range(n):
            folder = tmp_path / "images" / split / f"c{y[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).convert("RGB").resize((80, 64)).save(folder / f"{i}.jpg")
    ckpt, work = tmp_path / "ofa.pt", tmp_path / "work"
    assert main(["import-ofa", "--checkpoint", str(tmp_path / "mit.pth"), "--out", str(ckpt),
                 "--data-dir", str(tmp_path / "images"), "--image-size", "64"]) == 0
    _, payload = load_supernet(ckpt)
    assert payload["config"]["data"]["stream"] and payload["config"]["data"]["val_size"] == 4
    assert main(["import-ofa", "--checkpoint", str(tmp_path / "mit.pth"), "--out", str(tmp_path / "x.pt"),
                 "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "x.pt").exists()
    capsys.readouterr()

    table = work / "cpu_t1.csv"
    assert main(["latency", "build", "--space", "ofa_mbv3", "--resolution", "128", "--out", str(table),
                 "--rounds", "3", "--passes", "1", "--calibration-archs", "2", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resolutions"] == [128]
    assert main(["collect", "--supernet", str(ckpt), "--num-archs", "28", "--calib-images", "8",
                 "--out", str(work / "accuracy.csv"), "--no-progress"]) == 0
    assert len(pd.read_csv(work / "accuracy.csv")) == 28
    assert main(["fit-predictor", "--data", str(work / "accuracy.csv"), "--models", "ridge",
                 "--out", str(work / "fit")]) == 0
    space = get_space("ofa_mbv3")
    budget = 0.5 * (_table_ms(table, space.smallest(128)) + _table_ms(table, space.largest(128)))
    assert main(["search", "--space", "ofa_mbv3", "--predictor", str(work / "fit"),
                 "--table", str(table), "--latency-max", str(budget), "--budget", "60",
                 "--out", str(work / "search")]) == 0
    front = pd.read_csv(work / "search" / "front.csv")
    assert len(front) >= 1 and json.loads(front["arch"][0])["resolution"] == 128
    capsys.readouterr()
    assert main(["export", "--supernet", str(ckpt), "--front", str(work / "search" / "front.csv"),
                 "--table", str(table), "--out", str(work / "m.onnx")]) == 0
    card = json.loads((work / "m.json").read_text())
    assert card["parity_max_abs_diff"] < 1e-3 and card["input"]["mean"] == [0.485, 0.456, 0.406]
    assert "crop the centre 64 px" in card["input"]["note"]
    assert card["predicted_latency_ms"] <= budget and 0 <= card["test_acc"] <= 100
    assert card["arch"]["resolution"] == 128 and card["measured_latency_ms"] > 0


def _table_ms(path, arch) -> float:
    from latency_tables import LatencyTable

    return float(LatencyTable.load(path).predict([arch])[0])
