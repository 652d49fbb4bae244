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

# JAX and torch share one GPU. At its first use (make_env, before torch's update has allocated
# anything) JAX would take 75 % of the GPU for its own pool, leaving torch too little for a large
# update while that pool sits half empty; let JAX allocate what it needs as it goes instead. Set
# before JAX starts; the user's own XLA_PYTHON_CLIENT_* allocator settings win.
if not any(k.startswith("XLA_PYTHON_CLIENT_") for k in os.environ):
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"

# Under torchrun each rank uses only its own GPU: JAX and torch both see it as device 0 (picked from
# a CUDA_VISIBLE_DEVICES the job was given, if any). Set before either starts CUDA.
if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
    _visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
    _local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if len(_visible) > 1 or _visible == [""]:
        os.environ["CUDA_VISIBLE_DEVICES"] = _visible[_local_rank] if len(_visible) > 1 else str(_local_rank)
