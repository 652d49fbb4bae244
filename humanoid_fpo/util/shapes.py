"""Shape checks where arrays cross a boundary (the JAX↔torch bridge, the loss entry, export): a
wrong shape is named where it enters instead of broadcasting silently further on. Python-level
comparisons, cheap enough for the hot path."""

from __future__ import annotations


def check_shape(name: str, x, shape: tuple[int | None, ...]) -> None:
    """Raise ValueError naming `name` where `x.shape` is not `shape` (None: any size there)."""
    got = tuple(x.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        expected = ", ".join("*" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must have shape ({expected}{',' * (len(shape) == 1)}), got {got}")
