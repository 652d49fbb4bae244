"""humanoid_fpo: humanoid motion trackers trained with flow-matching policy gradients."""

import os

# MuJoCo picks its OpenGL backend when first imported: on a machine without a display, render
# offscreen (EGL on an NVIDIA GPU, else the OSMesa software renderer).
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl" if os.path.exists("/dev/nvidia0") else "osmesa"
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
