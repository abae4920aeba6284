"""The ``resnet`` family: MIT's OFA-ResNet50 (depth per stage, expand ratio per block,
width multipliers per stage and for the stem, the stem's depth), its presets
(``ofa_resnet50``, ``fmnist_resnet``) and the import of MIT's checkpoints. Registering them
imports no torch; the modules load when first asked for."""

from supernet.core import lazy_face
from supernet.space import register_importer
from supernet.spaces.resnet import _presets  # noqa: F401 - registers the presets (and the block kinds)

_IMPORT = "supernet.spaces.resnet._import_ofa"
register_importer("resnet", detect=f"{_IMPORT}:detect_ofa_resnet",
                  convert=f"{_IMPORT}:convert_ofa_resnet_state")

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "supernet.spaces.resnet._costs": ("EXPAND", "STEM_DEPTH", "WIDTH"),
    "supernet.spaces.resnet._blocks": ("Bottleneck", "LinearHead", "ResNetStem"),
    "supernet.spaces.resnet._import_ofa": ("convert_ofa_resnet_state", "detect_ofa_resnet"),
    "supernet.spaces.resnet._space": ("ResNetSpace",),
    "supernet.spaces.resnet._supernet": ("ElasticBottleneck", "ElasticResNetStem", "ResNetSupernet"),
})
