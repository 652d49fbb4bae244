"""Headless rendering of humanoid trajectories to an mp4 video or a PNG contact sheet."""

from __future__ import annotations

import warnings
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np

from humanoid_fpo.atomic import atomic_path


GHOST_RGBA = (0.3, 0.6, 1.0, 0.25)


def render_frames(model: mujoco.MjModel, qpos: np.ndarray, width: int = 640, height: int = 480,
                  ghost: np.ndarray | None = None) -> np.ndarray:
    """RGB frames (T, H, W, 3) of qpos (T, nq), seen by a camera that follows the pelvis; with
    `ghost` (T, nq), a second, translucent humanoid in that pose (the reference) in every frame."""
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data, ghost_data = mujoco.MjData(model), mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid, camera.distance, camera.elevation, camera.azimuth = 1, 3.5, -15.0, 135.0
    option, perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
    frames = np.zeros((len(qpos), height, width, 3), dtype=np.uint8)
    with mujoco.Renderer(model, height, width) as renderer:
        for i, q in enumerate(qpos):
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera)
            if ghost is not None:
                scene, first = renderer.scene, renderer.scene.ngeom
                ghost_data.qpos[:] = ghost[i]
                mujoco.mj_kinematics(model, ghost_data)
                mujoco.mjv_addGeoms(model, ghost_data, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
                for g in range(first, scene.ngeom):
                    scene.geoms[g].rgba[:] = GHOST_RGBA
                    scene.geoms[g].transparent = 1
            frames[i] = renderer.render()
    return frames


def tile(frames: np.ndarray, columns: int = 4) -> np.ndarray:
    """Frames (N, H, W, 3) tiled into one image, `columns` per row, row-major."""
    n, h, w, _ = frames.shape
    rows = -(-n // columns)
    frames = np.concatenate([frames, np.zeros((rows * columns - n, h, w, 3), np.uint8)])
    return frames.reshape(rows, columns, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, 3)


def write_render(model: mujoco.MjModel, qpos: np.ndarray, fps: float, out: str | Path,
                 width: int = 640, height: int = 480, ghost: np.ndarray | None = None) -> Path:
    """Render qpos (T, nq) (and a translucent `ghost` (T, nq)) to `out`: an mp4 at `fps`, or a PNG
    contact sheet of 8 evenly spaced frames; written atomically."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".mp4", ".png"):
        raise ValueError(f"{out}: output must be .mp4 (video) or .png (contact sheet)")
    if kind == ".png":
        pick = np.linspace(0, len(qpos) - 1, 8).round().astype(int)
        qpos, ghost = qpos[pick], None if ghost is None else ghost[pick]
    frames = render_frames(model, qpos, width, height, ghost)
    with atomic_path(out) as tmp:
        if kind == ".png":
            imageio.imwrite(tmp, tile(frames))
        else:
            with warnings.catch_warnings():
                # imageio-ffmpeg starts ffmpeg by fork and an immediate exec: JAX's at-fork warning
                # (its threads in the child) does not apply to a child that only execs.
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
                imageio.mimwrite(tmp, list(frames), fps=fps, macro_block_size=8)
    return out
