"""GradSign (Zhang & Jia, ICLR 2022): at initialisation, the gradient of each sample's loss
with respect to every convolution and linear weight; a parameter whose per-sample gradients
share a sign scores the number of samples that agree. The score is the sum over parameters of
``|sum_i sign(g_i)|``, divided by the number of samples so that batches of different sizes
compare (the paper sums; dividing by a constant keeps every ranking).

Per-sample gradients come from `torch.func` (``vmap`` over ``grad``), ``chunk`` samples at a
time; batch norm runs on its stored statistics, so a sample's gradient is its own alone and
the score does not depend on the chunking (a test checks it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from predictors.proxies._registry import ProxyInput, register_proxy

__all__ = ["gradsign"]


def _weights(model: nn.Module) -> list[str]:
    return [f"{name}.weight" if name else "weight" for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]


@register_proxy("gradsign")
def gradsign(item: ProxyInput) -> float:
    model = item.model
    names = set(_weights(model))
    state = {k: v.detach() for k, v in (*model.named_parameters(), *model.named_buffers())}
    scored = {k: v for k, v in state.items() if k in names}
    fixed = {k: v for k, v in state.items() if k not in names}

    def loss(weights, x, y):
        out = functional_call(model, {**fixed, **weights}, (x[None],))
        return F.cross_entropy(out, y[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    agree = {k: torch.zeros_like(v) for k, v in scored.items()}
    for start in range(0, len(item.images), item.chunk):
        end = start + item.chunk
        grads = per_sample(scored, item.images[start:end], item.labels[start:end])
        for k, g in grads.items():
            agree[k] += g.sign().sum(0)
    return float(sum(a.abs().sum(dtype=torch.float64) for a in agree.values())) / len(item.images)
