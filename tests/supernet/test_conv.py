"""The faster depthwise backward computes oneDNN's gradients, with the C kernel and without."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from supernet.nn import _native, conv2d, fast_kernels
from supernet.nn._conv import DepthwiseConv


def _grads(fn, x, w, g):
    x = x.detach().clone().requires_grad_()
    w = w.detach().clone().requires_grad_()
    out = fn(x, w)
    out.backward(g)
    return out.detach(), x.grad, w.grad


@pytest.mark.parametrize("kernel_path", ["c", "torch"])
@pytest.mark.parametrize(("n", "c", "size", "k", "stride", "layout"), [
    (3, 20, 7, 7, 1, "cl"), (2, 35, 8, 5, 2, "cl"), (4, 16, 9, 7, 2, "nchw"), (2, 40, 4, 7, 1, "cl"),
    (1, 24, 5, 5, 2, "nchw"), (2, 17, 6, 3, 1, "cl"),
    (3, 10, 6, 5, 1, "cl"),  # fewer channels than the kernel's block of 16
    (2, 20, 9, 9, 2, "cl"),  # a kernel size the C kernel does not unroll
])
def test_depthwise_backward_equals_native(kernel_path, n, c, size, k, stride, layout, monkeypatch):
    if kernel_path == "torch":
        monkeypatch.setattr(_native, "dw_weight_grad", lambda *a, **kw: None)
        monkeypatch.setattr("supernet.nn._conv.dw_weight_grad", lambda *a, **kw: None)
    gen = torch.Generator().manual_seed(n * 100 + c)
    x = torch.randn(n, c, size, size, generator=gen)
    if layout == "cl":
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, 1, k, k, generator=gen)
    out_shape = F.conv2d(x, w, None, stride, k // 2, 1, c).shape
    g = torch.randn(out_shape, generator=gen)
    ref = _grads(lambda a, b: F.conv2d(a, b, None, stride, k // 2, 1, c), x, w, g)
    got = _grads(lambda a, b: DepthwiseConv.apply(a, b, stride), x, w, g)
    for r, o in zip(ref, got):
        assert o.shape == r.shape
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4 * float(r.abs().max()))


def test_dispatch_only_when_it_pays():
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    big, small = torch.randn(8, 1, 5, 5, requires_grad=True), torch.randn(8, 1, 3, 3, requires_grad=True)
    assert conv2d(x, big, None, 1, 8).grad_fn.name() == "DepthwiseConvBackward"
    assert conv2d(x, small, None, 1, 8).grad_fn.name() != "DepthwiseConvBackward"  # 3x3: native
    with torch.no_grad():
        assert conv2d(x, big, None, 1, 8).grad_fn is None
    with fast_kernels(False):
        assert conv2d(x, big, None, 1, 8).grad_fn.name() != "DepthwiseConvBackward"
    assert conv2d(x, big, None, 1, 8).grad_fn.name() == "DepthwiseConvBackward"


def test_compiled_kernel_is_cached_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_native, "_lib", {})
    x = torch.randn(2, 18, 5, 5).contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 18, 5, 5)
    got = _native.dw_weight_grad(x, g, 5, 1)
    if got is None:
        pytest.skip("no C compiler on this machine: the torch path serves (tested above)")
    assert list((tmp_path / "ofa-nas").glob("kernels_*.so"))
    w = torch.zeros(18, 1, 5, 5, requires_grad=True)
    F.conv2d(x, w, None, 1, 2, 1, 18).backward(g)
    torch.testing.assert_close(got, w.grad, rtol=1e-4, atol=1e-4)
    assert _native.dw_weight_grad(x.double(), g.double(), 5, 1) is None  # float32 only
