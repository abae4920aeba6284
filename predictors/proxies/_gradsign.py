"""GradSign (Zhang & Jia, ICLR 2022): at initialisation, the gradient of each sample's loss
with respect to every convolution and linear weight; a parameter whose per-sample gradients
share a sign scores the number of samples that agree. The score is the sum over parameters of
``|sum_i sign(g_i)|``, divided by the number of samples so that batches of different sizes
compare (the paper sums; dividing by a constant keeps every ranking).

Each sample's loss is computed on that sample alone, batch norm normalising it by its own
statistics (as the paper's code, one sample at a time); `torch.func` computes the per-sample
gradients with ``vmap`` over ``grad``, ``chunk`` samples at a time, so the score does not
depend on the chunking (a test checks it against a plain loop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from predictors.proxies._registry import ProxyInput, batch_statistics, register_proxy, scored_weights

__all__ = ["gradsign"]


@register_proxy("gradsign")
def gradsign(item: ProxyInput) -> float:
    model = batch_statistics(item.model)
    names = set(scored_weights(model))
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
