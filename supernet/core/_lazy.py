"""Package faces that import their names on first use, so that a command that needs none
of torch, pandas or onnxruntime (``nas --help``, ``nas --version``) starts at once."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable

__all__ = ["lazy_face"]


class _Face(types.ModuleType):
    """A package face whose names win over subpackages of the same spelling: importing the
    subpackage ``supernet.train`` must not replace the face's ``supernet.train``, the
    function (an eager face rebound the name after the import; a lazy one keeps it)."""

    def __setattr__(self, name: str, value) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
                and name in self.__dict__.get("_face_names", ())):
            return
        super().__setattr__(name, value)


def lazy_face(package: str, modules: dict[str, tuple[str, ...]], *,
              first: str | None = None) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the face of ``package``: ``modules`` maps each
    module to the names the face gives from it; a name is imported when first asked for (a
    subpackage too), after ``first`` (e.g. the module that registers what the rest relies
    on). Once imported, a name is an ordinary attribute of the package."""
    where = {name: module for module, names in modules.items() for name in names}
    face = sys.modules[package]
    face._face_names = frozenset(where)
    face.__class__ = _Face

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if first is not None:
            importlib.import_module(first)
        if name not in where:
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(where[name]), name)
        setattr(face, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(face)))

    return __getattr__, __dir__, sorted(where)
