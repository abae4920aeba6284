"""One convolution for every layer of this project, with a faster backward for large
depthwise kernels on the CPU.

oneDNN's depthwise backward for 5x5 and 7x7 kernels runs 5-15x slower than its forward
(about 14 ms against 0.7 ms for 240 channels at 7x7, batch 128, 2 cores), and it dominated
a training step. `DepthwiseConv` computes the same gradients with forward convolutions:
the input gradient is oneDNN's transposed convolution (as fast as its forward); the
weight gradient is a small C kernel (`_dw_grad.c`, compiled on first use) or, without a
compiler, one grouped conv of the inputs by the output gradients, one group per (image,
channel), summed over the batch. The
values equal the native ones up to float rounding; only the time differs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from supernet.nn._native import dw_weight_grad, fast_kernels_enabled

__all__ = ["Conv2d", "conv2d", "memory_format"]

FAST_MIN_KERNEL = 5  # at 3x3 the native backward is the faster one


def memory_format(device: torch.device | str) -> torch.memory_format:
    """The faster activation layout on ``device``: channels-last on the CPU (1.2-2x faster
    steps with oneDNN); contiguous NCHW on CUDA, where cuDNN compiled kernels at run time
    for each new channels-last shape of an elastic net (measured on an H200: 8.7 s a
    sandwich step against 0.13 s in NCHW)."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


class DepthwiseConv(torch.autograd.Function):
    """Depthwise conv, padding ``k // 2``, dilation 1, no bias (odd square kernels)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride = stride
        return F.conv2d(x, weight, None, stride, weight.shape[-1] // 2, 1, weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors  # as given: under autocast the forward ran in grad's dtype
        s, (n, c, h, w), k = ctx.stride, x.shape, weight.shape[-1]
        wg = weight.to(grad.dtype)
        pad = k // 2
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:  # the transposed conv: oneDNN runs it at forward speed
            extra = h - ((grad.shape[-2] - 1) * s - 2 * pad + k)  # rows the strided taps never reach
            grad_x = F.conv_transpose2d(grad, wg, None, s, pad, extra, c).to(x.dtype)
        if ctx.needs_input_grad[1]:  # in float32 even under bf16 autocast: sums over the batch
            grad_w = dw_weight_grad(x.float(), grad.float(), k, s)
            grad_w = grad_w.to(weight.dtype) if grad_w is not None else None
        if ctx.needs_input_grad[1] and grad_w is None:
            gh, gw = grad.shape[-2:]
            per_image = F.conv2d(x.float().contiguous().view(1, n * c, h, w),
                                 grad.float().contiguous().view(n * c, 1, gh, gw), None, 1, pad, s, n * c)
            grad_w = per_image.view(n, c, *per_image.shape[-2:])[:, :, :k, :k].sum(0).unsqueeze(1)
            grad_w = grad_w.to(weight.dtype)
        return grad_x, grad_w, None


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
           groups: int) -> torch.Tensor:
    """``F.conv2d`` with padding ``k // 2``; a depthwise conv of a large kernel that needs
    gradients on the CPU takes the faster backward of `DepthwiseConv`."""
    k = weight.shape[-1]
    if (fast_kernels_enabled("depthwise") and groups > 1 and groups == x.shape[1] == weight.shape[0]
            and bias is None and k >= FAST_MIN_KERNEL and x.device.type == "cpu" and torch.is_grad_enabled()
            and (x.requires_grad or weight.requires_grad)):
        return DepthwiseConv.apply(x, weight, stride)
    return F.conv2d(x, weight, bias, stride, k // 2, 1, groups)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (padding ``k // 2``) whose forward goes through `conv2d`; exports and
    loads exactly as ``nn.Conv2d``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        k = self.kernel_size[0]
        if (self.padding != (k // 2, k // 2) or self.dilation != (1, 1) or self.padding_mode != "zeros"
                or self.kernel_size != (k, k) or self.stride[0] != self.stride[1]):
            raise ValueError(f"Conv2d: square kernels, padding k // 2, dilation 1 only; got "
                             f"{self.kernel_size}, padding {self.padding}, dilation {self.dilation}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, self.stride[0], self.groups)
