"""The ``mbconv`` family: OFA-MobileNetV3 (kernel and expand ratio per block, depth per
stage), its presets (``ofa_mbv3``, ``ofa_mbv3_w12``, ``fmnist_small``) and the import of
MIT's released OFA-MobileNetV3 checkpoints; and the ``proxyless`` family on the same
blocks (OFA-ProxylessNAS: ``ofa_proxyless``, ``fmnist_proxyless``)."""

from supernet.spaces.mbconv import _presets  # noqa: F401 - registers the presets
from supernet.spaces.mbconv._blocks import EXPAND, KERNEL, Head, MBConv
from supernet.spaces.mbconv._import_ofa import convert_ofa_state, detect_ofa_mbv3, detect_ofa_proxyless
from supernet.spaces.mbconv._space import MBConvSpace, ProxylessSpace, make_divisible
from supernet.spaces.mbconv._supernet import ElasticMBConv, MBConvSupernet

__all__ = ["EXPAND", "KERNEL", "ElasticMBConv", "Head", "MBConv", "MBConvSpace", "MBConvSupernet",
           "ProxylessSpace", "convert_ofa_state", "detect_ofa_mbv3", "detect_ofa_proxyless",
           "make_divisible"]
