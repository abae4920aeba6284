"""SynFlow (Tanaka et al. 2020; as a zero-cost proxy, Abdelfattah et al. 2021): every
parameter replaced by its absolute value, an all-ones input, ``R`` the sum of the outputs;
the score is ``sum |theta * dR/dtheta|`` over the convolution and linear weights, in
float64. Batch norm keeps its (absolute) scale and shift but neither mean nor variance, so
that every layer stays a positive map as the method needs (a network with inherited
statistics would otherwise go negative). It grows multiplicatively with depth, so the proxy
returns its natural logarithm (same ranking). Data-free: the images give only the shape."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from predictors.proxies._registry import ProxyInput, register_proxy, scored_weights

__all__ = ["synflow"]


@register_proxy("synflow")
def synflow(item: ProxyInput) -> float:
    net = copy.deepcopy(item.model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is not None:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *item.images.shape[1:]), dtype=torch.float64)
    net(ones).sum().backward()
    params = dict(net.named_parameters())
    total = sum(float((params[k].detach() * params[k].grad).abs().sum())
                for k in scored_weights(net) if params[k].grad is not None)
    return math.log(total) if total > 0 else float("-inf")
