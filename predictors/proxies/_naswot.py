"""NASWOT (Mellor et al., ICML 2021): each image's binary code is which units of every
rectifier-like activation are positive; with ``K[i, j]`` the number of units where images i
and j agree (the number of units less their Hamming distance), the score is ``log |det K|``.
Nets that separate the images into more distinct linear regions score higher. One batch of
all the images, batch norm on its statistics (as the paper). Activations: ReLU, ReLU6,
Hardswish, SiLU, GELU modules (their input's sign)."""

from __future__ import annotations

import torch
from torch import nn

from predictors.proxies._registry import ProxyInput, batch_statistics, register_proxy

__all__ = ["naswot"]

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU)


@register_proxy("naswot")
def naswot(item: ProxyInput) -> float:
    model = batch_statistics(item.model)
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, inp, _out: codes.append((inp[0] > 0).flatten(1)))
             for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            model(item.images)
    finally:
        for h in hooks:
            h.remove()
    if not codes:
        raise ValueError("naswot: the network has no ReLU, ReLU6, Hardswish, SiLU or GELU module")
    c = torch.cat(codes, 1).double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(k)[1])
