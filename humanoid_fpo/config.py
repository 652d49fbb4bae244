"""Typed configs from plain dicts (what Hydra composes) and back, with errors that name the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclasses; lists become tuples
    where the field is a tuple. Unknown keys raise ValueError naming them and the valid ones."""
    if not isinstance(data, dict):
        raise ValueError(f"config {where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"config {where or cls.__name__}: unknown key(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(names))}")
    return cls(**{k: _convert(hints[k], v, f"{where}{k}") for k, v in data.items()})


def _convert(hint: Any, value: Any, where: str) -> Any:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    options = typing.get_args(hint) if union else (hint,)
    if value is None:
        return None
    for option in options:
        if dataclasses.is_dataclass(option):
            return from_dict(option, value, where + ".")
        if typing.get_origin(option) is tuple and isinstance(value, list | tuple):
            return tuple(value)
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as plain dicts and lists (YAML/JSON-ready)."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        return x
    return plain(dataclasses.asdict(cfg))
