"""Batch-norm recalibration: a subnet's own BN statistics, measured on training images."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["recalibrate_bn"]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Reset every BN layer's running statistics and re-estimate them as the exact average
    over ``batches`` (inputs already at the subnet's resolution). Use it on an extracted
    subnet before evaluating it; returns the model in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches seen
    model.train()
    seen = 0
    for x in batches:
        model(x)
        seen += len(x)
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    if seen == 0:
        raise ValueError("recalibrate_bn: got no calibration batches; pass at least one batch")
    return model.eval()
