"""Batch norm and the activation after it as one operation while training on the CPU.

In a training step of the supernet, batch norm and its activation took about a third of
the time (measured: 37 % of a sandwich step on 2 cores), all of it moving memory: PyTorch
runs them as separate operations, each its own passes over the map forward and backward
(and hardswish keeps the normalised map for its backward). `BatchNormAct` computes the
same values with the C kernel of `_fused.c`: two passes forward (statistics, then the
activated output), two passes backward, and it keeps only the input for the backward
(the normalised map is recomputed, never stored). Used for channels-last float32 maps in
training mode; everything else (evaluation, export, NCHW, CUDA, bf16 autocast, no
compiler) takes PyTorch's own path."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from supernet.nn._native import (
    bn_act_backward,
    bn_act_forward,
    channels_last_float,
    fast_kernels_enabled,
    kernels_available,
)

__all__ = ["batch_norm_act"]

_KINDS: dict[type, str | None] = {nn.ReLU: "relu", nn.Hardswish: "hswish", nn.Identity: None}


class BatchNormAct(torch.autograd.Function):
    """``act(batch_norm(x))`` in training mode; updates the running statistics as
    ``F.batch_norm`` does (unbiased variance, ``momentum``)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, momentum: float, eps: float,
                act: str | None):
        y, stats = bn_act_forward(x, gamma, beta, eps, act)
        mean, _, var = stats[:3]
        m = x.numel() // x.shape[1]
        running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        running_var.mul_(1 - momentum).add_(var * (m / (m - 1)), alpha=momentum)
        ctx.save_for_backward(x, *stats)
        ctx.act = act
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, *stats = ctx.saved_tensors
        grad_x, grad_gamma, grad_beta = bn_act_backward(x, grad, tuple(stats), ctx.act)
        need = ctx.needs_input_grad
        return (grad_x if need[0] else None, grad_gamma if need[1] else None,
                grad_beta if need[2] else None, None, None, None, None, None)


def _fusable(x: torch.Tensor) -> bool:
    """A channels-last float32 CPU map in a step that computes gradients, kernels at hand."""
    return (channels_last_float(x) and torch.is_grad_enabled()
            and not torch.onnx.is_in_onnx_export() and not torch.compiler.is_compiling()
            and fast_kernels_enabled("batch_norm") and kernels_available())


def batch_norm_act(bn: nn.BatchNorm2d, x: torch.Tensor, act: nn.Module) -> torch.Tensor:
    """``act(bn(x))``, fused where `BatchNormAct` serves (``bn`` may be any module: one that
    is not a batch norm, such as the ``Identity`` left where it was folded into the conv,
    runs as it is). An elastic batch norm (one with a true ``sliceable`` attribute) runs
    on ``x``'s first ``c`` channels."""
    kind = _KINDS.get(type(act), "other")
    if kind == "other" or not isinstance(bn, nn.BatchNorm2d):  # e.g. folded into the conv: Identity
        return act(bn(x))
    c = x.shape[1] if x.dim() == 4 else 0
    sliced = 0 < c < bn.num_features and getattr(bn, "sliceable", False)
    if not (bn.training and bn.track_running_stats and bn.affine
            and bn.momentum is not None and (c == bn.num_features or sliced) and x.numel() // c > 1
            and bn.weight.dtype == torch.float32 and bn.weight.device.type == "cpu"
            and (x.requires_grad or bn.weight.requires_grad) and _fusable(x)):
        return act(bn(x))
    if not sliced:  # as nn.BatchNorm2d counts (an elastic layer's slices do not)
        bn.num_batches_tracked.add_(1)
        params = bn.weight, bn.bias, bn.running_mean, bn.running_var
    else:
        params = bn.weight[:c], bn.bias[:c], bn.running_mean[:c], bn.running_var[:c]
    return BatchNormAct.apply(x, *params, bn.momentum, bn.eps, kind)
