"""`ArchConfig`: the one immutable description of a subnet of any block family, shared by
every package: resolution, depth of each elastic stage, each active block's choices *by
name*, and the precision policy."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from supernet.core import SpaceError

__all__ = ["PRECISIONS", "ArchConfig", "choice_token", "precision_parts", "register_choice"]

PRECISIONS = ("fp32", "int8")
_RESERVED = ("resolution", "depths", "precision")
_TOKENS: dict[str, str] = {}  # choice key -> its letter in `str(arch)`, in registration order


def register_choice(key: str, token: str) -> str:
    """Declare a per-block choice ``key`` (its JSON name, e.g. ``kernel_sizes``) and the
    ``token`` that stands for it in an arch's compact string form (``k`` in ``k3e6``). A
    family calls this where it defines its choices; two families may share a key (with one
    token), and two keys of different families a token (an arch is read with its space)."""
    if not key.isidentifier() or key in (*_RESERVED, "choices", "net"):
        raise SpaceError(f"choice key: got {key!r}, expected an identifier other than "
                         f"{[*_RESERVED, 'choices', 'net']}")
    if not isinstance(token, str) or not token.isidentifier():
        raise SpaceError(f"choice {key!r}: token {token!r} is not a short name (letters, e.g. 'k')")
    if _TOKENS.get(key, token) != token:
        raise SpaceError(f"choice {key!r} is registered already with token {_TOKENS[key]!r}, not {token!r}")
    _TOKENS[key] = token
    return key


def choice_token(key: str) -> str:
    """The letter(s) that stand for choice ``key`` in compact forms (the key itself when no
    family registered it)."""
    return _TOKENS.get(key, key)


def precision_parts(num_stages: int) -> list[str]:
    """The parts a precision policy names: ``stem`` (everything before the elastic
    stages), ``stage1`` .. ``stageN`` (the elastic stages) and ``head``."""
    return ["stem", *(f"stage{i + 1}" for i in range(num_stages)), "head"]


def _as_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise SpaceError(f"ArchConfig.{field}: expected an integer, got {value!r}")
    return int(value)


def _as_number(field: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise SpaceError(f"ArchConfig.{field}: expected a number, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def _nested(field: str, value: Any) -> tuple[tuple, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in value):
        raise SpaceError(
            f"ArchConfig.{field}: expected one list of per-block values per stage, got {value!r}"
        )
    return tuple(tuple(_as_number(field, v) for v in stage) for stage in value)


@dataclass(frozen=True, init=False)
class ArchConfig:
    """One subnet: input resolution, depth of each elastic stage, and for each *active*
    block (the first ``depths[i]`` blocks of stage ``i``) its choices by name, one keyword
    per choice, each a list of per-block values per stage::

        ArchConfig(24, (2, 2, 2), kernel_sizes=((3, 5), (3, 3), (7, 3)),
                   expand_ratios=((6, 4), (3, 3), (4, 6)))

    A choice made once per position of the network rather than per block (a width
    multiplier per stage, the depth of the stem) is a flat list, one value per position
    (`SearchSpace.net_choices`)::

        ArchConfig(224, (2, 2, 4, 2), expand_ratios=(...), width_mults=(0.65, 0.8, 1, 1, 1, 0.8),
                   stem_depth=(3,))

    Which names a family uses is its own (`SearchSpace.block_choices`); a choice reads as an
    attribute (``arch.kernel_sizes``) or through `choice`. The positional form of the
    single-family releases, ``ArchConfig(resolution, depths, kernel_sizes, expand_ratios)``,
    still builds an ``mbconv`` arch.

    ``precision`` is the deployment's precision policy: ``fp32`` or ``int8`` for each part
    of `precision_parts` (stem, each stage, head); all-``fp32`` is stored as ``()``, the
    default, so an arch without a policy is the FP32 network it always was.

    Only active blocks are stored, so two configs are equal exactly when they describe the
    same network. Whether the values are allowed is checked by ``SearchSpace.validate``.
    """

    resolution: int
    depths: tuple[int, ...]
    choices: tuple[tuple[str, tuple[tuple[int | float, ...], ...]], ...]
    net: tuple[tuple[str, tuple[int | float, ...]], ...]
    precision: tuple[str, ...]

    def __init__(self, resolution: int, depths, *legacy, precision: Any = (), **choices) -> None:
        if legacy:  # ArchConfig(resolution, depths, kernel_sizes, expand_ratios[, precision]) of the
            if len(legacy) > 3 or choices:  # single-family releases
                raise SpaceError("ArchConfig: give the per-block choices by name, e.g. "
                                 "ArchConfig(24, depths, kernel_sizes=..., expand_ratios=...)")
            choices = dict(zip(("kernel_sizes", "expand_ratios"), legacy[:2]))
            precision = legacy[2] if len(legacy) == 3 else precision
        for field in ("choices", "net"):  # the stored form, as `dataclasses.replace` passes it
            stored_form = choices.pop(field, ())
            if not (isinstance(stored_form, tuple) and all(
                    isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in stored_form)):
                raise SpaceError(f"ArchConfig: {field!r} is not a choice name")
            choices.update(dict(stored_form))
        set_ = object.__setattr__
        set_(self, "resolution", _as_int("resolution", resolution))
        if not isinstance(depths, (list, tuple)):
            raise SpaceError(f"ArchConfig.depths: expected a list of ints, got {depths!r}")
        set_(self, "depths", tuple(_as_int("depths", d) for d in depths))
        if any(d < 1 for d in self.depths):
            raise SpaceError(f"ArchConfig.depths: got {list(self.depths)}, expected a positive number "
                             "of blocks in every stage")
        if self.resolution < 1:
            raise SpaceError(f"ArchConfig.resolution: got {self.resolution}, expected a positive size")
        stored, net = [], []
        for key in sorted(choices):
            if not key.isidentifier():
                raise SpaceError(f"ArchConfig: choice name {key!r} is not an identifier")
            flat = choices[key]
            if isinstance(flat, (list, tuple)) and not any(isinstance(v, (list, tuple)) for v in flat):
                if len(flat) == 0:
                    raise SpaceError(f"ArchConfig.{key}: an empty list; expected one value per position "
                                     "(or one list per stage for a per-block choice)")
                net.append((key, tuple(_as_number(key, v) for v in flat)))
                continue
            value = _nested(key, choices[key])
            lengths = tuple(len(stage) for stage in value)
            if lengths != self.depths:
                raise SpaceError(
                    f"ArchConfig.{key}: wrong number of blocks {list(lengths)} per stage; "
                    f"depths {list(self.depths)} ask for exactly that many per stage"
                )
            stored.append((key, value))
        set_(self, "choices", tuple(stored))
        set_(self, "net", tuple(net))
        set_(self, "precision", self._policy(precision))

    def _policy(self, value: Any) -> tuple[str, ...]:
        parts = precision_parts(len(self.depths))
        if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
            return ()
        if isinstance(value, str) and value in PRECISIONS:
            value = (value,) * len(parts)
        if (not isinstance(value, (list, tuple)) or len(value) != len(parts)
                or not all(isinstance(p, str) and p in PRECISIONS for p in value)):
            raise SpaceError(f"ArchConfig.precision: got {value!r}, expected one of {list(PRECISIONS)} "
                             f"per part {parts} (or one of them for every part)")
        return () if all(p == "fp32" for p in value) else tuple(value)

    def __hash__(self) -> int:  # of the values alone: the same in every process (no str hashing)
        return hash((self.resolution, self.depths, tuple(v for _, v in self.choices),
                     tuple(v for _, v in self.net), tuple(p == "int8" for p in self.precision)))

    # --------------------------------------------------------------------- access
    @property
    def keys(self) -> tuple[str, ...]:
        """The names of the per-block choices, sorted."""
        return tuple(k for k, _ in self.choices)

    @property
    def net_keys(self) -> tuple[str, ...]:
        """The names of the network-level choices, sorted."""
        return tuple(k for k, _ in self.net)

    def choice(self, key: str) -> tuple:
        """Per stage, the values of per-block choice ``key`` of the active blocks; or, for a
        network-level choice, its value per position."""
        for k, value in (*self.choices, *self.net):
            if k == key:
                return value
        raise SpaceError(f"ArchConfig: no choice {key!r}; this arch has {list(self.keys + self.net_keys)}")

    def __getattr__(self, name: str):
        if not name.startswith("_") and name not in ("choices", "net", "precision"):
            for key, value in (*self.__dict__.get("choices", ()), *self.__dict__.get("net", ())):
                if key == name:
                    return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def num_blocks(self) -> int:
        """Number of active elastic blocks."""
        return sum(self.depths)

    def blocks(self) -> list[tuple[int, int, dict[str, int | float]]]:
        """``(stage, index_in_stage, {choice: value})`` of every active block, in order."""
        return [(s, i, {k: v[s][i] for k, v in self.choices})
                for s, d in enumerate(self.depths) for i in range(d)]

    @property
    def quantized(self) -> bool:
        """Whether any part runs in int8."""
        return bool(self.precision)

    def policy(self) -> dict[str, str]:
        """Part -> precision (``fp32`` everywhere for an arch without a policy)."""
        parts = precision_parts(len(self.depths))
        return dict(zip(parts, self.precision or ("fp32",) * len(parts)))

    def with_precision(self, policy: Any) -> ArchConfig:
        """This arch with another policy: a precision for every part, a list of one per
        part, or a mapping part -> precision (parts not named stay as they are)."""
        if isinstance(policy, dict):
            merged = self.policy()
            unknown = sorted(set(policy) - set(merged))
            if unknown:
                raise SpaceError(f"ArchConfig.precision: unknown part(s) {unknown}; parts: {list(merged)}")
            policy = tuple({**merged, **policy}.values())
        out = copy.copy(self)
        object.__setattr__(out, "precision", self._policy(policy))
        return out

    def with_resolution(self, resolution: int) -> ArchConfig:
        """This arch at another input resolution."""
        out = copy.copy(self)
        object.__setattr__(out, "resolution", _as_int("resolution", resolution))
        return out

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"resolution": self.resolution, "depths": list(self.depths)}
        for key in _ordered(self.keys):
            out[key] = [list(s) for s in self.choice(key)]
        for key in _ordered(self.net_keys):
            out[key] = list(self.choice(key))
        if self.precision:
            out["precision"] = list(self.precision)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ArchConfig:
        if not isinstance(data, dict) or not {"resolution", "depths"} <= set(data):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SpaceError(f"ArchConfig: expected an object with keys 'resolution', 'depths', one key per "
                             f"block choice (e.g. 'kernel_sizes') and optionally 'precision', got {got}")
        bad = [k for k in data if not isinstance(k, str) or not k.isidentifier()]
        if bad:
            raise SpaceError(f"ArchConfig: keys {bad} are not choice names")
        rest = {k: v for k, v in data.items() if k not in _RESERVED}
        return cls(data["resolution"], data["depths"], precision=data.get("precision", ()), **rest)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            raise SpaceError(f"ArchConfig: not valid JSON ({err}): {str(text)[:80]!r}") from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        keys = _ordered(self.keys)
        stages = "|".join(
            ",".join("".join(f"{choice_token(k)}{self.choice(k)[s][i]:g}" for k in keys) or "b"
                     for i in range(d))
            for s, d in enumerate(self.depths)
        )
        net = "".join(f"{choice_token(k)}({','.join(f'{v:g}' for v in self.choice(k))})"
                      for k in _ordered(self.net_keys))
        tail = ""
        if self.precision:
            tail = "@int8" if set(self.precision) == {"int8"} else "@" + "".join(p[0] for p in self.precision)
        return f"r{self.resolution}[{stages}]{net}{tail}"

    def __repr__(self) -> str:
        return f"ArchConfig({self})"


def _ordered(keys) -> list[str]:
    """Choice keys in their registration order (unregistered ones last, sorted)."""
    order = {k: i for i, k in enumerate(_TOKENS)}
    return sorted(keys, key=lambda k: (order.get(k, len(order)), k))
