"""Search space, elastic supernet, static subnet extraction, cost model and ONNX export."""

from supernet._arch import ArchConfig
from supernet._cost import Cost, arch_cost, block_cost
from supernet._errors import ArtifactMismatchError, DataError, NASError, SpaceError
from supernet._layout import BlockSpec
from supernet._model import Supernet
from supernet._onnx import export_onnx, onnx_parity, ort_session
from supernet._presets import get_space, list_spaces, load_space
from supernet._space import SearchSpace, as_rng
from supernet._static import Subnet, build_block

__all__ = [
    "ArchConfig", "ArtifactMismatchError", "BlockSpec", "Cost", "DataError", "NASError",
    "SearchSpace", "SpaceError", "Subnet", "Supernet", "arch_cost", "as_rng", "block_cost",
    "build_block", "export_onnx", "get_space", "list_spaces", "load_space", "onnx_parity",
    "ort_session",
]
