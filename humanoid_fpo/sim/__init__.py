"""The tracking task over a physics backend (DESIGN.md, "Tracking task")."""

import contextlib
import io
import sys

# mujoco.mjx prints "Failed to import warp: ..." and "Failed to import mujoco_warp: ..." at import
# when its optional Warp backend is absent; this project runs MJX's JAX backend, so the lines are
# noise in every command. Import it once with exactly those lines dropped; anything else it prints
# still shows.
with contextlib.redirect_stdout(io.StringIO()) as _printed:
    import mujoco.mjx  # noqa: F401
sys.stdout.write("".join(line for line in _printed.getvalue().splitlines(keepends=True)
                         if not line.startswith(("Failed to import warp:", "Failed to import mujoco_warp:"))))
