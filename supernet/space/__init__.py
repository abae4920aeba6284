"""The family contract: `ArchConfig` (named per-block choices + precision policy),
`SearchSpace` (the base every family subclasses, with the operators written once),
`BlockSpec` and the registries of families, presets and block kinds."""

from supernet.space._arch import PRECISIONS, ArchConfig, choice_token, precision_parts, register_choice
from supernet.space._base import (
    PLUGINS_VARIABLE,
    SearchSpace,
    as_rng,
    check_choices,
    check_field,
    family_class,
    list_families,
    load_plugins,
    register_family,
)
from supernet.space._block import (
    BlockKind,
    BlockSpec,
    block_kind,
    conv_cost,
    list_block_kinds,
    make_divisible,
    register_block,
)
from supernet.space._predictor import Predictor
from supernet.space._registry import (
    Importer,
    get_space,
    importers,
    list_spaces,
    load_space,
    register_importer,
    register_space,
)

__all__ = [
    "ArchConfig", "BlockKind", "BlockSpec", "PLUGINS_VARIABLE", "PRECISIONS", "Predictor", "SearchSpace",
    "as_rng", "block_kind", "check_choices", "check_field", "choice_token", "conv_cost", "family_class",
    "get_space", "list_block_kinds", "list_families", "list_spaces", "load_plugins", "load_space",
    "make_divisible", "Importer", "importers", "register_importer",
    "precision_parts", "register_block", "register_choice", "register_family", "register_space",
]
