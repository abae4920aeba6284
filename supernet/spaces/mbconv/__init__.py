"""The ``mbconv`` family: OFA-MobileNetV3 (kernel and expand ratio per block, depth per
stage), its presets (``ofa_mbv3``, ``ofa_mbv3_w12``, ``fmnist_small``) and the import of
MIT's released OFA-MobileNetV3 checkpoints; and the ``proxyless`` family on the same
blocks (OFA-ProxylessNAS: ``ofa_proxyless``, ``fmnist_proxyless``). Registering them imports
no torch; the modules load when first asked for."""

from supernet.core import lazy_face
from supernet.space import register_importer
from supernet.spaces.mbconv import _presets  # noqa: F401 - registers the presets (and the block kinds)

_IMPORT = "supernet.spaces.mbconv._import_ofa"
register_importer("mbconv", detect=f"{_IMPORT}:detect_ofa_mbv3", convert=f"{_IMPORT}:convert_ofa_state")
register_importer("proxyless", detect=f"{_IMPORT}:detect_ofa_proxyless",
                  convert=f"{_IMPORT}:convert_ofa_state")

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "supernet.spaces.mbconv._costs": ("EXPAND", "KERNEL"),
    "supernet.spaces.mbconv._blocks": ("Head", "MBConv"),
    "supernet.spaces.mbconv._import_ofa": ("convert_ofa_state", "detect_ofa_mbv3", "detect_ofa_proxyless"),
    "supernet.spaces.mbconv._space": ("MBConvSpace", "ProxylessSpace", "make_divisible"),
    "supernet.spaces.mbconv._supernet": ("ElasticMBConv", "MBConvSupernet"),
})
