"""Configuration plumbing shared by every config and file a user writes: `ConfigError`, the
one check helper, building a dataclass from a mapping with unknown keys named, and bounded
YAML (``yaml.safe_load``, size- and alias-bomb-limited)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from supernet.core._errors import NASError
from supernet.core._validate import short

__all__ = ["ConfigError", "build_config", "check", "is_int", "is_num", "known_keys", "read_yaml"]


class ConfigError(NASError, ValueError):
    """A training configuration has a bad key or value."""


def check(ok: bool, where: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: got {short(value)}, expected {expected}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def known_keys(where: str, data: dict, cls: type) -> None:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")


def build_config(cls: type, where: str, data: Any):
    check(isinstance(data, dict), where, data, "a mapping of keys")
    known_keys(where, data, cls)
    try:
        return cls(**data)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{where}: {err}") from None


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML file parsed with ``yaml.safe_load``; `ConfigError` if missing or invalid."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist; see experiments/*.yaml")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a {what} is at most "
                          f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid YAML ({short(str(err), 300)})") from None
    _bounded(data, path)
    return data


MAX_CONFIG_BYTES, MAX_CONFIG_NODES = 1 << 20, 100_000


def _bounded(data: Any, path: Path) -> None:
    """Refuse a document that expands to more than `MAX_CONFIG_NODES` values: YAML aliases
    can make a few lines stand for billions (a "billion laughs" bomb)."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_NODES:
            raise ConfigError(f"{path}: expands to more than {MAX_CONFIG_NODES:,} values (nested YAML "
                              "aliases?); a config is far smaller")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
