"""MuJoCo C's warning handler silenced while a block runs, for callers that count blow-ups themselves
(the native engine, the teacher's executed steps)."""

from __future__ import annotations

import contextlib

import mujoco


@contextlib.contextmanager
def quiet_warnings():
    """MuJoCo's warning handler silenced, and restored after: a blow-up is counted by its caller
    (MuJoCo's default would print each one and append it to MUJOCO_LOG.TXT in the working folder)."""
    before = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(_ignore)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(before)


def _ignore(message: str) -> None:
    pass
