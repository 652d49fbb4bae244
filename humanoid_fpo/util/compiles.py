"""What JAX compiles while a block runs: every program lowered (a persistent-cache hit is lowered too,
so the cache hides nothing from the count), its argument shapes and its backend seconds.

    with CompileLog() as log:
        trainer.run()
    log.count("step"), log.table()

Counts come from `jax.monitoring` (public since JAX 0.4: the lowering and backend-compile duration
events, keyed by the program's name); shapes from the record JAX logs at each lowering (the
`jax_log_compiles` message, read at DEBUG level without turning that option on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import jax

LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"
BACKEND = "/jax/core/compile/backend_compile_duration"
_LOGGER = "jax._src.interpreters.pxla"


@dataclass
class Compiled:
    name: str  # the program, as jit names it: "jit(step)" (JAX 0.10)
    shapes: str  # its arguments' shapes and dtypes, as JAX prints them ("" where unknown)
    lowering_s: float = 0.0
    backend_s: float = 0.0  # compiling, or reading the persistent cache


class _Shapes(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.pending: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Compiling %s") and len(record.args) >= 2:
            self.pending.setdefault(str(record.args[0]), []).append(str(record.args[1]))


class CompileLog:
    """A context manager recording `programs`, one `Compiled` per lowering, in order."""

    def __init__(self):
        self.programs: list[Compiled] = []
        self._shapes = _Shapes()

    def _listen(self, event: str, seconds: float, **kwargs) -> None:
        name = str(kwargs.get("fun_name", "?"))
        if event == LOWERING:
            shapes = self._shapes.pending.get(name, [])
            self.programs.append(Compiled(name, shapes.pop(0) if shapes else "", seconds))
        elif event == BACKEND:
            match = [p for p in self.programs if p.name == name and not p.backend_s]
            if match:
                match[-1].backend_s = seconds

    def __enter__(self) -> CompileLog:
        logger = logging.getLogger(_LOGGER)
        self._level, self._propagate = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self._shapes)
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listen)
        logger = logging.getLogger(_LOGGER)
        logger.removeHandler(self._shapes)
        logger.setLevel(self._level)
        logger.propagate = self._propagate

    def count(self, name: str) -> int:
        """Lowerings of programs called `name` (as jit names them: "jit(step)" or "jit_step")."""
        return len([p for p in self.programs if p.name in (name, f"jit_{name}", f"jit({name})")])

    def table(self, width: int = 200) -> str:
        """One line per program: name, backend seconds, shapes (their first `width` characters)."""
        return "\n".join(f"{p.name:32s} {p.backend_s:8.2f} s  {p.shapes[:width]}" for p in self.programs)
