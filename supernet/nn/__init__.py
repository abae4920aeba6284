"""Torch modules: the static layers blocks are made of, the elastic layers that
materialise them, `Supernet` (each family subclasses it) and `Subnet`, batch-norm
recalibration, and the native CPU kernels (csrc/) behind convolutions and batch norm."""

from supernet.nn._bn import recalibrate_bn
from supernet.nn._conv import Conv2d, conv2d, memory_format
from supernet.nn._elastic import (
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticConvBNAct,
    ElasticLinear,
    ElasticSE,
    importance_order,
    permute_channels,
)
from supernet.nn._fused import batch_norm_act
from supernet.nn._layers import ConvBNAct, SqueezeExcite, assemble, init_weights, make_act
from supernet.nn._native import fast_kernels, fast_kernels_enabled, kernels_available
from supernet.nn._supernet import Subnet, Supernet, build_block, renamed_state

__all__ = [
    "importance_order", "permute_channels",
    "Conv2d", "ConvBNAct", "ElasticBatchNorm2d", "ElasticConv2d", "ElasticConvBNAct", "ElasticLinear",
    "ElasticSE",
    "SqueezeExcite", "Subnet", "Supernet", "assemble", "batch_norm_act", "build_block", "conv2d",
    "fast_kernels", "fast_kernels_enabled", "init_weights", "kernels_available", "make_act", "memory_format",
    "recalibrate_bn", "renamed_state",
]
