"""`mjx`, imported without the noise it prints.

mujoco.mjx prints "Failed to import warp: ..." and "Failed to import mujoco_warp: ..." at import when
its optional Warp backend is absent; this project runs MJX's JAX backend, so the lines are noise in
every command. Import it once with exactly those lines dropped; anything else it prints still shows.
"""

import contextlib
import io
import sys

with contextlib.redirect_stdout(io.StringIO()) as _printed:
    from mujoco import mjx
sys.stdout.write("".join(line for line in _printed.getvalue().splitlines(keepends=True)
                         if not line.startswith(("Failed to import warp:", "Failed to import mujoco_warp:"))))

__all__ = ["mjx"]
