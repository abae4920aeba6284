"""Named spaces, registered where they are defined (``@register_space`` on a preset's
function), and loading a user's own space from a JSON or YAML file."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supernet.core import ConfigError, SpaceError, read_yaml
from supernet.space._base import SearchSpace, load_plugins

__all__ = ["Importer", "get_space", "importers", "list_spaces", "load_space", "register_importer",
           "register_space"]

_SPACES: dict[str, Callable[[], SearchSpace]] = {}


@dataclass(frozen=True)
class Importer:
    """How a family reads a published supernet's weights (MIT's checkpoints): ``detect(state)``
    names the preset a state dict belongs to (None: not this family's); ``convert(state,
    space)`` renames its tensors to the family's supernet's state dict."""

    family: str
    detect: Callable[[dict], str | None]
    convert: Callable[[dict, SearchSpace], dict]


_IMPORTERS: dict[str, Importer] = {}


def register_importer(family: str, *, detect: Callable | str, convert: Callable | str) -> Importer:
    """Register ``family``'s importer of published checkpoints: two functions, or their
    ``"module:function"`` names, imported when first called (an importer needs torch; a
    family registers it without importing torch)."""
    _IMPORTERS[family] = Importer(family, _resolved(detect), _resolved(convert))
    return _IMPORTERS[family]


def _resolved(function: Callable | str) -> Callable:
    if callable(function):
        return function
    module, _, name = function.partition(":")

    def call(*args):
        return getattr(importlib.import_module(module), name)(*args)

    call.__name__ = call.__qualname__ = name
    return call


def importers() -> dict[str, Importer]:
    """The registered importers by family."""
    return dict(_IMPORTERS)


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Function decorator: the function builds the named preset ``name``."""
    def add(fn: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        if name in _SPACES and _SPACES[name] is not fn:
            raise SpaceError(f"register_space: space {name!r} is registered already")
        _SPACES[name] = fn
        return fn
    return add


def list_spaces(family: str | None = None) -> list[str]:
    """Names of the registered presets (of one family)."""
    load_plugins()
    return sorted(n for n, fn in _SPACES.items() if family is None or get_space(n).family == family)


def load_space(path: str | Path) -> SearchSpace:
    """A user-defined space from a ``.json`` or ``.yaml``/``.yml`` file of its fields (and
    ``family``; ``mbconv`` when absent)."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search-space file {str(path)!r} does not exist")
    if path.stat().st_size > 1 << 20:
        raise SpaceError(f"{path}: {path.stat().st_size:,} bytes; a search-space file is at most 1 MiB")
    text = path.read_text(errors="replace")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpaceError(f"{path}: not valid JSON ({err})") from None
    elif path.suffix in (".yaml", ".yml"):
        try:
            data = read_yaml(path, "search-space file")
        except ConfigError as err:
            raise SpaceError(str(err)) from None
    else:
        raise SpaceError(f"{path}: expected a .json, .yaml or .yml search-space file")
    return SearchSpace.from_dict(data)


def get_space(name: str | SearchSpace | Path) -> SearchSpace:
    """A preset by name, a space file by path, or a `SearchSpace` passed through."""
    if isinstance(name, SearchSpace):
        return name
    if str(name) not in _SPACES:
        load_plugins()
    if str(name) in _SPACES:
        return _SPACES[str(name)]()
    if Path(name).suffix in (".json", ".yaml", ".yml"):
        return load_space(name)
    raise SpaceError(f"unknown search space {str(name)!r}; presets: {list_spaces()}, "
                     "or give the path of a .json/.yaml space file")
