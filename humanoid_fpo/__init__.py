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

# Under torchrun each rank uses only its own GPU: JAX and torch both see it as device 0 (picked from
# a CUDA_VISIBLE_DEVICES the job was given, if any). Set before either starts CUDA.
if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
    _visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
    _local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if len(_visible) > 1 or _visible == [""]:
        os.environ["CUDA_VISIBLE_DEVICES"] = _visible[_local_rank] if len(_visible) > 1 else str(_local_rank)
