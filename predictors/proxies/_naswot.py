"""NASWOT (Mellor et al., ICML 2021): each image's binary code is which units of every
rectifier-like activation are positive; with ``K[i, j]`` the number of units where images i
and j agree, the score is ``log |det K|``. Nets that separate the images into more distinct
linear regions score higher. Activations: ReLU, ReLU6, Hardswish, SiLU, GELU (their input's
sign); the score depends on the number of images, not on how they are chunked."""

from __future__ import annotations

import torch
from torch import nn

from predictors.proxies._registry import ProxyInput, register_proxy

__all__ = ["naswot"]

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU)


@register_proxy("naswot")
def naswot(item: ProxyInput) -> float:
    model = item.model
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, inp, _out: codes.append((inp[0] > 0).flatten(1)))
             for m in model.modules() if isinstance(m, ACTIVATIONS)]
    rows = []
    try:
        with torch.no_grad():
            for start in range(0, len(item.images), item.chunk):
                codes.clear()
                model(item.images[start:start + item.chunk])
                rows.append(torch.cat(codes, 1).double() if codes else
                            torch.zeros((len(item.images[start:start + item.chunk]), 0), dtype=torch.float64))
    finally:
        for h in hooks:
            h.remove()
    c = torch.cat(rows)
    k = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(k)[1])
