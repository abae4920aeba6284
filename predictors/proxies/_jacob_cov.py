"""jacob_cov (Mellor et al. 2020, v1 of "NAS without training"): the Jacobian of the summed
outputs with respect to each input image; the more those Jacobians are decorrelated across
images, the higher the score, ``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v``
of their correlation matrix, ``k = 1e-5``. One batch of all the images, batch norm on its
statistics (as the paper)."""

from __future__ import annotations

import torch

from predictors.proxies._registry import ProxyInput, batch_statistics, register_proxy

__all__ = ["jacob_cov"]

_K = 1e-5


@register_proxy("jacob_cov")
def jacob_cov(item: ProxyInput) -> float:
    model = batch_statistics(item.model)
    x = item.images.clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(model(x).sum(), x)
    corr = torch.nan_to_num(torch.corrcoef(dx.flatten(1).double()))  # a constant row (dead net) as 0
    v = torch.linalg.eigvalsh(corr).clamp_min(0)
    return float(-(torch.log(v + _K) + 1.0 / (v + _K)).sum())
