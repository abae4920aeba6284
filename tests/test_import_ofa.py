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
from supernet import ArtifactMismatchError, get_space, load_supernet
from supernet._import_ofa import import_ofa


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
