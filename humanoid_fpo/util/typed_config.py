"""Typed configs from plain dicts (what Hydra composes) and back, with errors that name the key."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclasses; lists become tuples
    where the field is a tuple. An unknown key or a value of the wrong type raises ValueError
    naming the key (`env.num_envs: expected an integer, got 'abc'`)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where.rstrip('.') or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = where + unknown[0]
        raise ValueError(f"{key}: unknown key{suggest(key, dotted_keys(cls, where))}")
    return cls(**{k: _convert(hints[k], v, f"{where}{k}") for k, v in data.items()})


def _convert(hint: Any, value: Any, where: str) -> Any:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    options = typing.get_args(hint) if union else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return from_dict(option, value, where + ".")
        converted = _as(option, value)
        if converted is not _WRONG:
            return converted
    raise ValueError(f"{where}: expected {_describe(hint)}, got {value!r}")


_WRONG = object()


def _as(hint: Any, value: Any) -> Any:
    """`value` as type `hint` (int → float, list → tuple), or _WRONG where it is not one."""
    if hint is bool:
        return value if isinstance(value, bool) else _WRONG
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if hint is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _WRONG
    if hint is str:
        return value if isinstance(value, str) else _WRONG
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            return _WRONG
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        if len(items) != len(value):
            return _WRONG
        converted = tuple(_as(h, v) for h, v in zip(items, value))
        return _WRONG if any(c is _WRONG for c in converted) else converted
    return _WRONG


def _describe(hint: Any) -> str:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    if union:
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args[1:] == (Ellipsis,):
            return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
        return f"a list of {len(args)} ({', '.join(_describe(a).split()[-1] for a in args)})"
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
             type(None): "null"}
    return names.get(hint, f"a {getattr(hint, '__name__', hint)} mapping")


def dotted_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of dataclass `cls`, dotted (`env.terrain.types`)."""
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        nested = dataclasses.is_dataclass(hint)
        keys += dotted_keys(hint, f"{prefix}{f.name}.") if nested else [prefix + f.name]
    return keys


def suggest(key: str, keys: list[str]) -> str:
    """'; did you mean K?' for the key in `keys` with the same last part as `key` (`num_envs` →
    `env.num_envs`), else the nearest spelling; '' where none is near."""
    leaf = key.rsplit(".", 1)[-1]
    near = [k for k in keys if k.rsplit(".", 1)[-1] == leaf] or difflib.get_close_matches(key, keys, n=1)
    return f"; did you mean {near[0]}?" if near else ""


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as plain dicts and lists (YAML/JSON-ready)."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        return x
    return plain(dataclasses.asdict(cfg))


RANGES = {
    "positive": lambda v: v > 0,
    "non-negative": lambda v: v >= 0,
    "in [0, 1]": lambda v: 0 <= v <= 1,
    "in (0, 1]": lambda v: 0 < v <= 1,
    "in (0, 1)": lambda v: 0 < v < 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
}
"""The ranges `check_ranges` knows, by the words its errors use."""


def check_ranges(cfg: Any, prefix: str, rules: dict[str, str]) -> None:
    """Raise ValueError naming the first key of `rules` ({dotted field of `cfg`: a key of RANGES})
    whose value is not finite or out of its range (`algo.lr must be positive, got -1`); a tuple's
    items are checked one by one, None passes (an optional setting left off)."""
    for name, rule in rules.items():
        value = cfg
        for part in name.split("."):
            value = getattr(value, part)
        items = value if isinstance(value, tuple) else (value,)
        if not all(v is None or (math.isfinite(v) and RANGES[rule](v)) for v in items):
            shown = f"{value:g}" if isinstance(value, float) else value
            raise ValueError(f"{prefix}{name} must be {rule}, got {shown}")
