"""Headless rendering of humanoid trajectories to an mp4 video or a PNG contact sheet, each frame
captioned (frame, time, and what the caller adds)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from humanoid_fpo.util.atomic import atomic_path


GHOST_RGBA = (0.3, 0.6, 1.0, 0.25)
ELEVATION = -25.0
"""deg; below minus half the 45° field of view, so that no black sky shows above the horizon."""
SHEET_FRAMES, SHEET_COLUMNS = 8, 4
FAILED_RGB = (230, 40, 40)


def render_frames(model: mujoco.MjModel, qpos: np.ndarray, width: int = 640, height: int = 480,
                  ghost: np.ndarray | None = None) -> np.ndarray:
    """RGB frames (T, H, W, 3) of qpos (T, nq), seen by a camera that follows the pelvis; with
    `ghost` (T, nq), a second, translucent humanoid in that pose (the reference) in every frame."""
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data, ghost_data = mujoco.MjData(model), mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid, camera.distance, camera.elevation, camera.azimuth = 1, 3.5, ELEVATION, 135.0
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


def caption(frame: np.ndarray, text: str, alert: bool = False) -> np.ndarray:
    """`frame` (H, W, 3) with `text` (lines) on a dark box in its top-left corner; `alert`: red text
    and a red border."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    size = max(8, frame.shape[0] // 28)
    font = ImageFont.load_default(size=size)
    box = draw.multiline_textbbox((size // 2, size // 2), text, font=font, spacing=size // 4)
    draw.rectangle((0, 0, box[2] + size // 2, box[3] + size // 2), fill=(0, 0, 0))
    color = FAILED_RGB if alert else (255, 255, 255)
    draw.multiline_text((size // 2, size // 2), text, font=font, fill=color, spacing=size // 4)
    if alert:
        height, width = frame.shape[:2]
        draw.rectangle((0, 0, width - 1, height - 1), outline=FAILED_RGB, width=max(2, size // 4))
    return np.asarray(image)


def write_render(model: mujoco.MjModel, qpos: np.ndarray, fps: float, out: str | Path,
                 width: int = 640, height: int = 480, ghost: np.ndarray | None = None,
                 notes: Sequence[str] | None = None, failed_at: int | None = None) -> Path:
    """Render qpos (T, nq) (and a translucent `ghost` (T, nq)) to `out`: an mp4 at `fps`, or a PNG
    contact sheet of 8 evenly spaced frames, `height` high and 2/3 as wide (the humanoid, without
    empty sides); written atomically. Every frame is captioned with its frame number and time, then
    its line of `notes` (T,); from frame `failed_at` on, in red with a red border."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".mp4", ".png"):
        raise ValueError(f"{out}: output must be .mp4 (video) or .png (contact sheet)")
    pick = np.arange(len(qpos))
    if kind == ".png":
        pick = np.linspace(0, len(qpos) - 1, SHEET_FRAMES).round().astype(int)
        width = height * 2 // 3
    frames = render_frames(model, qpos[pick], width, height, None if ghost is None else ghost[pick])
    failed_at = len(qpos) if failed_at is None else failed_at
    frames = np.stack([caption(f, f"frame {t} · {t / fps:.2f} s" + (f"\n{notes[t]}" if notes else ""),
                               alert=t >= failed_at) for f, t in zip(frames, pick)])
    with atomic_path(out) as tmp:
        if kind == ".png":
            imageio.imwrite(tmp, tile(frames, SHEET_COLUMNS))
        else:
            with warnings.catch_warnings():
                # imageio-ffmpeg starts ffmpeg by fork and an immediate exec: JAX's at-fork warning
                # (its threads in the child) does not apply to a child that only execs.
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
                imageio.mimwrite(tmp, list(frames), fps=fps, macro_block_size=8)
    return out
