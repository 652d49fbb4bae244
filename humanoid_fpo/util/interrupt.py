"""Ctrl-C, as it reaches the command: a KeyboardInterrupt, or the error JAX raises in its place when
the interrupt lands in a host callback (the native engine steps MuJoCo in one)."""

from __future__ import annotations

import re


def is_interrupt(error: BaseException) -> bool:
    """A KeyboardInterrupt, or an error whose message ends with a callback's traceback of one (JAX
    re-raises an exception in a callback as an error of its own, the traceback in the message)."""
    return isinstance(error, KeyboardInterrupt) or \
        re.search(r"\nKeyboardInterrupt:?\s*$", str(error)) is not None
