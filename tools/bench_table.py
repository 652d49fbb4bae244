"""Shared by the tools/bench_*.py scripts: the machine's name, the command line and row updates in
BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

import jax
import torch

from humanoid_fpo.util.atomic import atomic_path


def machine() -> str:
    device = jax.devices()[0]
    if device.platform == "cpu":  # the CPU kind decides the CPU preset's precision path
        bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return f"CPU {platform.machine()}, {os.cpu_count()} cores, {'bf16' if bf16 else 'no bf16'}"
    return f"{device.device_kind} (JAX {jax.__version__})"


def command_line() -> str:
    """How this benchmark was called, quoted so that it can be pasted back into a shell."""
    return shlex.join(["python", f"tools/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_rows(path: Path, section: str, header: str, rows: list[str], key_columns: slice) -> None:
    """Put `rows` into the table under `section` of BENCHMARKS.md (created if missing); an older row
    with the same cells in `key_columns` (e.g. machine and batch) is replaced, the others stay."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if section not in text:
        text = text.rstrip("\n") + f"\n\n{section}\n\n{header}\n"
    head, rest = text.split(section, 1)
    lines = rest.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("|---")) + 1
    table_end = next((i for i, line in enumerate(lines[first:], first) if not line.startswith("|")),
                     len(lines))

    def key(row: str) -> tuple[str, ...]:
        return tuple(c.strip() for c in row.strip("|").split("|"))[key_columns]

    new_keys = {key(r) for r in rows}
    kept = [r for r in lines[first:table_end] if r.strip() and key(r) not in new_keys]
    with atomic_path(path) as tmp:
        tmp.write_text(head + section + "\n".join(lines[:first] + kept + rows + lines[table_end:]))
    print(f"updated {path}")
