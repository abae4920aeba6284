"""Configuration plumbing shared by every config and file a user writes: `ConfigError`, the
one check helper, building a dataclass from a mapping with unknown keys named, and bounded
YAML (PyYAML's safe loader, size- and alias-bomb-limited)."""

from __future__ import annotations

import functools
import math
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
    """A finite int or float (not a bool): NaN and infinity are no setting's meaning here
    (an unbounded setting is null), and every comparison with NaN is False."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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
    """A YAML file parsed with PyYAML's safe loader; `ConfigError` if missing or invalid."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist; see experiments/*.yaml")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a {what} is at most "
                          f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        data = yaml.load(path.read_text(), Loader=_safe_loader())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid YAML ({short(str(err), 300)})") from None
    _bounded(data, path)
    return data


MAX_CONFIG_BYTES, MAX_CONFIG_NODES = 1 << 20, 100_000


@functools.cache
def _safe_loader():
    """``yaml.SafeLoader`` that also reads ``1e-3`` and ``1e308`` as numbers, as YAML 1.2 and
    every config a person writes mean them (YAML 1.1, PyYAML's default, reads an exponent
    without a dot as a string: ``lr: 1e-3`` would be refused as text)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    exponent = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", exponent, list("-+0123456789"))
    return Loader


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings, as the command line's ``--set`` gives them, as a mapping of
    dotted keys to values read as YAML (``64``, ``0.1``, ``true``, ``[1, 2]``, ``null``; ``off``
    and ``on``, ``yes`` and ``no`` stay words, as in ``train.amp=off``)."""
    import yaml

    parsed = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {short(item)}: expected KEY=VALUE, e.g. train.batch_size=64")
        if text.strip().lower() in ("yes", "no", "on", "off", "y", "n"):  # words, not YAML 1.1 booleans
            parsed[key.strip()] = text.strip()
            continue
        try:
            parsed[key.strip()] = yaml.load(text, Loader=_safe_loader()) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {short(item)}: the value is not valid YAML") from None
    return parsed


def set_keys(data: Any, items: dict[str, Any], where: str = "config") -> Any:
    """``data`` (a parsed YAML mapping) with dotted keys set (``{"train.batch_size": 64}``).
    Missing sections are created; a key that runs through a value which is not a mapping is
    refused by name."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of sections, got {type(data).__name__}")
    for key, value in items.items():
        *sections, name = key.split(".")
        node = data
        for i, section in enumerate(sections):
            if node.get(section) is None:
                node[section] = {}
            node = node[section]
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: {'.'.join(sections[:i + 1])!r} is {type(node).__name__}, "
                                  f"not a section of keys (to set {key})")
        node[name] = value
    return data


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
