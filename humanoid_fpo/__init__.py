"""humanoid_fpo: humanoid motion trackers trained with flow-matching policy gradients."""

import os

# MuJoCo picks its OpenGL backend when first imported: on a machine without a display, render
# offscreen (EGL on an NVIDIA GPU, else the OSMesa software renderer).
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl" if os.path.exists("/dev/nvidia0") else "osmesa"
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

# On a CPU, torch's OpenMP threads and MuJoCo's (and XLA's) threads take turns on the same cores at
# every control step. After each parallel region OpenMP spins before sleeping (GOMP_SPINCOUNT,
# 300 000 by default), which kept a core busy while the physics ran: a shorter spin made the CPU
# preset's training 1.2x faster (BENCHMARKS.md, "Training"). Set before torch loads its OpenMP.
os.environ.setdefault("GOMP_SPINCOUNT", "30000")
