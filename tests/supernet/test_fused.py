"""Batch norm fused with its activation computes what PyTorch's batch norm and activation do:
outputs, the three gradients, running statistics; and it serves only where it may."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from supernet import Supernet, get_space
from supernet.nn import ElasticBatchNorm2d, batch_norm_act, fast_kernels, kernels_available
from supernet.train import OptimConfig, train_step

needs_kernels = pytest.mark.skipif(not kernels_available(), reason="no C compiler: the torch path serves")
ACTS = {"relu": nn.ReLU, "hswish": nn.Hardswish, "none": nn.Identity}


def _run(fast: bool, bn: nn.BatchNorm2d, act: nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    with fast_kernels(fast):
        y = batch_norm_act(bn, x, act)
    y.backward(g)
    return y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var, bn.num_batches_tracked


@needs_kernels
@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize(("n", "c", "size", "width"), [
    (4, 20, 7, 20), (3, 33, 5, 48), (64, 48, 4, 48), (5, 8, 1, 8), (2, 16, 3, 24)])
def test_fused_equals_pytorch(act, n, c, size, width):
    gen = torch.Generator().manual_seed(n * 1000 + c)
    x = torch.randn(n, c, size, size, generator=gen) * 2.5 + 4.0  # a mean far from 0
    x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(n, c, size, size, generator=gen)
    runs = []
    for fast in (False, True):
        bn = ElasticBatchNorm2d(width, momentum=0.3)  # width > c: the elastic slice
        with torch.no_grad():
            bn.weight.copy_(torch.linspace(0.5, 1.5, width))
            bn.bias.copy_(torch.linspace(-1.0, 1.0, width))
            bn.running_var.fill_(2.0)
        runs.append(_run(fast, bn, ACTS[act](), x, g))
    (ref, fused) = runs
    assert fused[0].is_contiguous(memory_format=torch.channels_last)
    for r, f in zip(ref, fused):
        torch.testing.assert_close(f, r, rtol=1e-5, atol=2e-5 * max(1.0, float(r.detach().abs().max())))
    assert int(fused[-1]) == (1 if c == width else 0)  # counted as nn.BatchNorm2d counts


@needs_kernels
def test_serves_only_channels_last_float_training_with_gradients():
    bn, act = nn.BatchNorm2d(6), nn.Hardswish()
    x = torch.randn(4, 6, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    assert batch_norm_act(bn, x, act).grad_fn.name() == "BatchNormActBackward"
    assert batch_norm_act(bn, x.contiguous(), act).grad_fn.name() != "BatchNormActBackward"  # NCHW
    double = nn.BatchNorm2d(6).double()
    assert batch_norm_act(double, x.double(), act).grad_fn.name() != "BatchNormActBackward"
    assert batch_norm_act(bn, x, nn.GELU()).grad_fn.name() != "BatchNormActBackward"  # not fused
    with fast_kernels(False):
        assert batch_norm_act(bn, x, act).grad_fn.name() != "BatchNormActBackward"
    with fast_kernels(True, batch_norm=False):  # the benchmarks' ablation
        assert batch_norm_act(bn, x, act).grad_fn.name() != "BatchNormActBackward"
    with pytest.raises(RuntimeError):  # a plain batch norm of 8 channels refuses 6, as PyTorch does
        batch_norm_act(nn.BatchNorm2d(8), x, act)
    folded = batch_norm_act(nn.Identity(), x, act)  # a batch norm folded into its conv
    torch.testing.assert_close(folded, act(x))
    with torch.no_grad():
        assert batch_norm_act(bn, x, act).grad_fn is None
    cumulative = nn.BatchNorm2d(6, momentum=None)  # a cumulative average: PyTorch's path
    assert batch_norm_act(cumulative, x, act).grad_fn.name() != "BatchNormActBackward"
    before = bn.running_mean.clone()
    out = batch_norm_act(bn.eval(), x, act)  # evaluation: running statistics, left alone
    assert out.grad_fn.name() != "BatchNormActBackward"
    assert torch.equal(bn.running_mean, before)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm_act(bn.train(), x[:1, :, :1, :1], act)  # as PyTorch refuses it


@needs_kernels
@pytest.mark.parametrize("act", sorted(ACTS))
def test_nan_propagates_as_in_pytorch(act):
    """A NaN in one channel makes that channel NaN (a diverging run stays visible)."""
    x = torch.randn(4, 3, 5, 5)
    x[1, 2, 3, 3] = float("nan")
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    outs = []
    for fast in (False, True):
        with fast_kernels(fast):
            outs.append(batch_norm_act(nn.BatchNorm2d(3), x, ACTS[act]()).detach())
    assert torch.equal(torch.isnan(outs[1]), torch.isnan(outs[0]))
    assert bool(torch.isnan(outs[1][:, 2]).all()) and not bool(torch.isnan(outs[1][:, :2]).any())


def test_without_a_compiler_pytorch_serves(monkeypatch):
    monkeypatch.setattr("supernet.nn._fused.kernels_available", lambda: False)
    bn, act = nn.BatchNorm2d(6), nn.ReLU()
    x = torch.randn(4, 6, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    out = batch_norm_act(bn, x, act)
    assert out.grad_fn.name() != "BatchNormActBackward"
    torch.testing.assert_close(out, torch.relu(nn.functional.batch_norm(
        x, None, None, bn.weight, bn.bias, True)))


@needs_kernels
def test_a_sandwich_step_is_as_accurate_as_pytorch():
    """A whole training step of the supernet (4 subnets, in-place distillation), measured
    against the same step in float64: every parameter's gradient from the fused path is
    as close to it as PyTorch's float32 path is (within 2x, and closer on the median)."""
    space = get_space("fmnist_small")
    torch.manual_seed(0)
    base = Supernet(space).train()
    rng = np.random.default_rng(3)
    archs = [space.largest(28), space.smallest(28), space.sample(rng, resolutions=[28]),
             space.sample(rng, resolutions=[28])]
    x = torch.randn(32, 1, 28, 28)
    y = torch.randint(0, 10, (32,))
    grads, losses = {}, {}
    for mode in ("float64", "pytorch", "fused"):
        model = Supernet(space).train()
        model.load_state_dict(base.state_dict())
        dtype = torch.float64 if mode == "float64" else torch.float32
        model = model.to(dtype=dtype, memory_format=torch.channels_last)
        torch.manual_seed(1)  # the same dropout masks
        with fast_kernels(mode == "fused"):
            losses[mode] = train_step(model, None, archs, x.to(dtype).contiguous(
                memory_format=torch.channels_last), y, OptimConfig(), inplace=True)
        grads[mode] = {k: p.grad.double() for k, p in model.named_parameters() if p.grad is not None}
    assert losses["fused"] == pytest.approx(losses["float64"], rel=1e-5)
    assert grads["fused"].keys() == grads["float64"].keys() and len(grads["fused"]) > 50
    ratios = []
    for k, exact in grads["float64"].items():
        err_fused = float((grads["fused"][k] - exact).abs().max())
        err_torch = float((grads["pytorch"][k] - exact).abs().max())
        assert err_fused <= 2 * err_torch + 1e-12, (k, err_fused, err_torch)
        ratios.append(err_fused / max(err_torch, 1e-30))
    assert float(np.median(ratios)) <= 1.0
