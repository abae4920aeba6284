"""Elastic layers. Each one runs any of its sub-configurations and *materialises* it as the
plain static layer of `supernet.nn._layers`, using the same weight-slicing code for both, so
the two cannot drift apart."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from supernet.nn._conv import Conv2d, conv2d
from supernet.nn._fused import batch_norm_act
from supernet.nn._layers import ConvBNAct, SqueezeExcite, assemble, make_act

__all__ = ["ElasticConv2d", "ElasticBatchNorm2d", "ElasticConvBNAct", "ElasticLinear", "ElasticSE",
           "importance_order", "permute_channels"]


class ElasticConv2d(nn.Conv2d):
    """A conv that runs on its first ``out``/``in`` channels. A depthwise one also runs a
    smaller kernel: the centre of the larger kernel passed through a learned transform
    (one ``k*k x k*k`` matrix per smaller kernel, shared by all channels, identity at first),
    chained from the largest kernel down (7 -> 5 -> 3)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, *,
                 depthwise: bool = False, bias: bool = False, kernel_choices: tuple[int, ...] = ()):
        super().__init__(cin, cout, kernel, stride, kernel // 2,
                         groups=cout if depthwise else 1, bias=bias)
        self.depthwise = depthwise
        smaller = sorted((k for k in kernel_choices if k < kernel), reverse=True)
        self.kernel_chain = tuple(smaller)
        self.transforms = nn.ParameterDict({str(k): nn.Parameter(torch.eye(k * k)) for k in smaller})

    def active_weight(self, cout: int, cin: int, kernel: int) -> torch.Tensor:
        w = self.weight  # slice only when needed: a full-size slice still costs a backward copy
        if cout < w.shape[0]:
            w = w[:cout]
        if not self.depthwise and cin < w.shape[1]:
            w = w[:, :cin]
        size = self.kernel_size[0]
        for k in self.kernel_chain:
            if k < kernel:
                break
            start = (size - k) // 2
            w = w[:, :, start:start + k, start:start + k]
            w = (w.reshape(-1, k * k) @ self.transforms[str(k)]).reshape(w.shape[0], w.shape[1], k, k)
            size = k
        if size != kernel:
            raise ValueError(f"kernel: got {kernel}, this conv offers {self.kernel_size[0]} "
                             f"and {list(self.kernel_chain)}")
        return w

    def forward(self, x: torch.Tensor, cout: int | None = None, kernel: int | None = None):
        cin = x.shape[1]
        cout = cin if self.depthwise else (cout or self.out_channels)
        kernel = kernel or self.kernel_size[0]
        bias = self.bias if self.bias is None or cout == len(self.bias) else self.bias[:cout]
        return conv2d(x, self.active_weight(cout, cin, kernel), bias, self.stride[0],
                      cout if self.depthwise else 1)

    def materialize(self, cout: int, cin: int, kernel: int | None = None) -> Conv2d:
        kernel = kernel or self.kernel_size[0]
        conv = Conv2d(cin, cout, kernel, self.stride, kernel // 2,
                         groups=cout if self.depthwise else 1, bias=self.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(self.active_weight(cout, cin, kernel))
            if self.bias is not None:
                conv.bias.copy_(self.bias[:cout])
        return conv


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the first ``c`` channels (``c`` read from the input)."""

    sliceable = True  # `batch_norm_act` may run it on a leading slice of its channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        momentum = 0.1 if self.momentum is None else self.momentum
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c],
                            self.bias[:c], self.training, momentum, self.eps)

    def materialize(self, c: int) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(c, self.eps, self.momentum)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(getattr(self, name)[:c])
            bn.num_batches_tracked.copy_(self.num_batches_tracked)
        return bn


class ElasticConvBNAct(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, *,
                 depthwise: bool = False, act: str | None = "relu", kernel_choices=()):
        super().__init__()
        self.conv = ElasticConv2d(cin, cout, kernel, stride, depthwise=depthwise,
                                  kernel_choices=kernel_choices)
        self.bn = ElasticBatchNorm2d(cout)
        self.act = make_act(act)
        self.act_name = act

    def forward(self, x: torch.Tensor, cout: int | None = None, kernel: int | None = None):
        return batch_norm_act(self.bn, self.conv(x, cout, kernel), self.act)

    def materialize(self, cout: int, cin: int, kernel: int | None = None) -> ConvBNAct:
        return assemble(ConvBNAct, conv=self.conv.materialize(cout, cin, kernel),
                        bn=self.bn.materialize(cout), act=make_act(self.act_name))


class ElasticSE(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = ElasticConv2d(channels, hidden, bias=True)
        self.expand = ElasticConv2d(hidden, channels, bias=True)

    def forward(self, x: torch.Tensor, hidden: int) -> torch.Tensor:
        scale = torch.relu(self.reduce(x.mean((2, 3), keepdim=True), hidden))
        return x * F.hardsigmoid(self.expand(scale, x.shape[1]))

    def materialize(self, channels: int, hidden: int) -> SqueezeExcite:
        return assemble(SqueezeExcite, reduce=self.reduce.materialize(hidden, channels),
                        expand=self.expand.materialize(channels, hidden))


class ElasticLinear(nn.Linear):
    """A linear layer that runs on its first ``in`` input features (read from the input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cin = x.shape[-1]
        return F.linear(x, self.weight if cin == self.in_features else self.weight[:, :cin], self.bias)

    def materialize(self, cin: int) -> nn.Linear:
        linear = nn.Linear(cin, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.weight[:, :cin])
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear


def importance_order(weight: torch.Tensor) -> torch.Tensor:
    """The input channels of a conv ``weight`` by importance, most important first: the L1
    norm of the weights that read each (ties keep their order)."""
    return torch.argsort(weight.abs().sum((0, 2, 3)), descending=True, stable=True)


@torch.no_grad()
def permute_channels(layer: nn.Module, order: torch.Tensor, *, inputs: bool = False) -> None:
    """Reorder the output channels of a conv (`ElasticConv2d`, with its bias) or conv-BN
    layer (`ElasticConvBNAct`: its BN too) by ``order``, or with ``inputs`` the channels it
    reads. Used to sort elastic widths by importance before they are shrunk."""
    conv = layer.conv if isinstance(layer, ElasticConvBNAct) else layer
    dim = 1 if inputs else 0
    tensors = [conv.weight] if inputs else [conv.weight, conv.bias]
    if not inputs and isinstance(layer, ElasticConvBNAct):
        bn = layer.bn
        tensors += [bn.weight, bn.bias, bn.running_mean, bn.running_var]
    for t in tensors:
        if t is not None:
            t.copy_(t.index_select(dim, order))
