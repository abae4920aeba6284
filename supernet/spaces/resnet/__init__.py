"""The ``resnet`` family: MIT's OFA-ResNet50 (depth per stage, expand ratio per block,
width multipliers per stage and for the stem, the stem's depth), its presets
(``ofa_resnet50``, ``fmnist_resnet``) and the import of MIT's checkpoints."""

from supernet.spaces.resnet import _presets  # noqa: F401 - registers the presets
from supernet.spaces.resnet._blocks import EXPAND, STEM_DEPTH, WIDTH, Bottleneck, LinearHead, ResNetStem
from supernet.spaces.resnet._import_ofa import convert_ofa_resnet_state, detect_ofa_resnet
from supernet.spaces.resnet._space import ResNetSpace
from supernet.spaces.resnet._supernet import ElasticBottleneck, ElasticResNetStem, ResNetSupernet

__all__ = ["EXPAND", "STEM_DEPTH", "WIDTH", "Bottleneck", "ElasticBottleneck", "ElasticResNetStem",
           "LinearHead", "ResNetSpace", "ResNetStem", "ResNetSupernet", "convert_ofa_resnet_state",
           "detect_ofa_resnet"]
