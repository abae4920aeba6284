"""SynFlow (Tanaka et al. 2020; as a zero-cost proxy, Abdelfattah et al. 2021): every
parameter replaced by its absolute value, an all-ones input, ``R`` the sum of the outputs;
the score is ``sum |theta * dR/dtheta|`` over all parameters, in float64. It grows
multiplicatively with depth, so the proxy returns its natural logarithm (same ranking).
Data-free: the images are used only for their shape."""

from __future__ import annotations

import copy
import math

import torch

from predictors.proxies._registry import ProxyInput, register_proxy

__all__ = ["synflow"]


@register_proxy("synflow")
def synflow(item: ProxyInput) -> float:
    net = copy.deepcopy(item.model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *item.images.shape[1:]), dtype=torch.float64)
    net(ones).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return math.log(total) if total > 0 else float("-inf")
