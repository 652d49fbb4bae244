"""Sim-to-sim check: an exported policy.onnx drives native MuJoCo (CPU) over the clips of a motion
library, scored by the success-rate protocol of DESIGN.md (the figures of `humanoid-fpo eval`).

    python deploy/sim2sim.py POLICY.onnx MOTIONS.npz [--clip NAME ...] [--json OUT.json]
                             [--video OUT.mp4] [--mode full|hands|root] [--physics-dt S]

Each clip starts from its frame 0 (no heading change, flat ground); every control step observes the
state against the next reference frame, applies the PD targets and runs the physics. A clip fails
at the first frame where the mean position error of the protocol bodies exceeds 0.5 m.
Figures: g_mpjpe_mm / mpjpe_mm, the global / root-relative error of the protocol bodies (mean over
the frames tracked); accel_mm, the error of their second differences (mm/frame²).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "osmesa"  # offscreen video without a display
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from controller import Bodies, Controller, Metadata  # noqa: E402

FAIL_DISTANCE = 0.5
"""m, mean error of the protocol bodies that fails a clip."""
MAX_JOINT_SPEED = 1000.0
"""rad/s or m/s; a faster (or non-finite) state has blown up and fails the clip, as in the env."""
FIGURES = ("g_mpjpe_mm", "mpjpe_mm", "accel_mm")
GHOST_RGBA = (0.3, 0.6, 1.0, 0.25)
LIBRARY_KEYS = ("qpos", "qvel", "body_pos", "body_quat", "body_lin_vel", "body_ang_vel", "clip_start",
                "clip_length", "clip_names", "body_names", "fps", "format_version")


class Library(NamedTuple):
    """The arrays of a motion library npz that the check reads; F frames of C clips."""

    qpos: np.ndarray  # (F, nq)
    qvel: np.ndarray  # (F, nv)
    body_pos: np.ndarray  # (F, B, 3)
    body_quat: np.ndarray  # (F, B, 4)
    body_lin_vel: np.ndarray  # (F, B, 3)
    body_ang_vel: np.ndarray  # (F, B, 3)
    clip_start: np.ndarray  # (C,)
    clip_length: np.ndarray  # (C,)
    clip_names: tuple[str, ...]
    fps: float

    def frame(self, i: int) -> Bodies:
        """Bodies of frame i (B, ·), world frame."""
        return Bodies(self.body_pos[i], self.body_quat[i], self.body_lin_vel[i], self.body_ang_vel[i])


class ClipRun(NamedTuple):
    figures: dict  # success, frames, g_mpjpe_mm, mpjpe_mm, accel_mm
    qpos: np.ndarray  # (frames + 1, nq) the simulated states, from the start state
    obs: np.ndarray  # (frames, O) the observations the policy saw


def load_library(path: str | Path, meta: Metadata) -> Library:
    """Read a library npz (no pickles); one for another humanoid or frame rate, or holding NaN or inf,
    raises ValueError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable motion library ({e})") from None
    missing = [k for k in LIBRARY_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: not a motion library, missing {', '.join(missing)}")
    names = tuple(str(s) for s in data["body_names"])
    width = data["qpos"].shape[1]
    if names != meta.body_names or width != 7 + meta.action_size:
        differ = next((f"body {i} is {a!r}, not {b!r}" for i, (a, b) in enumerate(zip(names, meta.body_names))
                       if a != b), "")
        raise ValueError(f"{path}: made for another humanoid: {width - 7} joint DoF and {len(names)} bodies, "
                         f"the policy's has {meta.action_size} and {len(meta.body_names)}"
                         + (f" ({differ})" if differ else ""))
    fps = float(data["fps"])
    if not math.isclose(meta.control_dt * fps, 1.0, rel_tol=1e-6):
        raise ValueError(f"{path}: {fps:g} fps, the policy runs every {meta.control_dt:g} s "
                         f"({1 / meta.control_dt:g} Hz)")
    arrays = {k: data[k].astype(float) for k in Library._fields[:6]}
    non_finite = [k for k, v in arrays.items() if not np.isfinite(v).all()]
    if non_finite:
        raise ValueError(f"{path}: {', '.join(non_finite)} hold NaN or inf")
    return Library(**arrays, clip_start=data["clip_start"].astype(int),
                   clip_length=data["clip_length"].astype(int),
                   clip_names=tuple(str(s) for s in data["clip_names"]), fps=fps)


def make_model(meta: Metadata) -> mujoco.MjModel:
    """The policy's humanoid on flat ground, at its physics step (the XML rounds the timestep)."""
    model = mujoco.MjModel.from_xml_string(meta.mjcf)
    model.opt.timestep = meta.physics_dt
    return model


def run_clip(model: mujoco.MjModel, controller: Controller, lib: Library, clip: int) -> ClipRun:
    """Play clip `clip` from its frame 0 until its end or failure; x0 = 0 (deterministic policy)."""
    meta, data = controller.meta, mujoco.MjData(model)
    first, length = int(lib.clip_start[clip]), int(lib.clip_length[clip])
    bodies = meta.protocol_bodies
    data.qpos[:], data.qvel[:] = lib.qpos[first], lib.qvel[first]
    mujoco.mj_forward(model, data)
    sim_pos, ref_pos = [data.xpos[1:][bodies].copy()], [lib.body_pos[first][bodies]]
    qpos, obs, failed = [data.qpos.copy()], [], False
    for k in range(length - 1):
        goal = lib.frame(first + k + 1)
        obs.append(controller.observe(data.qpos, data.qvel, goal))
        action = controller.policy(obs[-1][None])[0]
        data.ctrl[:] = meta.targets(action)
        for _ in range(meta.decimation):
            mujoco.mj_step(model, data)
        mujoco.mj_kinematics(model, data)  # mj_step leaves xpos from before its last step
        qpos.append(data.qpos.copy())
        sim_pos.append(data.xpos[1:][bodies].copy())
        ref_pos.append(lib.body_pos[first + k + 1][bodies])
        healthy = np.isfinite(data.qpos).all() and (np.abs(data.qvel) < MAX_JOINT_SPEED).all()
        if not healthy or np.linalg.norm(sim_pos[-1] - ref_pos[-1], axis=-1).mean() > FAIL_DISTANCE:
            failed = True
            break
    figures = {"success": not failed, "frames": len(obs), **errors(np.stack(sim_pos), np.stack(ref_pos))}
    return ClipRun(figures, np.stack(qpos), np.stack(obs))


def errors(sim: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Protocol errors of positions P_0 .. P_n (n + 1, K, 3), P_0 the start state (not scored):
    global and root-relative (body 0 the root) means over frames 1..n, and the second-difference
    error over frames 1..n−1 (0 where n < 2); mm, mm/frame²."""
    local = (sim - sim[:, :1]) - (ref - ref[:, :1])
    accel = np.diff(sim, 2, axis=0) - np.diff(ref, 2, axis=0)
    return {"g_mpjpe_mm": 1000 * float(np.linalg.norm(sim - ref, axis=-1)[1:].mean(-1).mean()),
            "mpjpe_mm": 1000 * float(np.linalg.norm(local, axis=-1)[1:].mean(-1).mean()),
            "accel_mm": 1000 * float(np.linalg.norm(accel, axis=-1).mean(-1).mean()) if len(accel) else 0.0}


def evaluate(policy: str | Path, motions: str | Path, clips: list[str] | None = None, mode: str | None = None,
             video: str | Path | None = None, physics_dt: float | None = None) -> dict:
    """Success rate and mean figures over `clips` (default: all) of the library, in goal `mode`
    (default: the policy's), as `humanoid-fpo eval` reports them; {"clips": {name: figures}} too.
    With `video`, an mp4 of every clip played, the reference a translucent ghost. `physics_dt`
    replaces the trained physics step (it must divide the control period): is a gap the step's?"""
    controller = Controller(policy, mode)
    if physics_dt is not None:
        if not 0 < physics_dt <= controller.meta.control_dt:
            raise ValueError(f"physics_dt must be positive and at most the control period "
                             f"{controller.meta.control_dt:g} s, got {physics_dt:g}")
        steps = controller.meta.control_dt / physics_dt
        if not math.isclose(steps, round(steps), rel_tol=1e-6):
            raise ValueError(f"physics_dt {physics_dt:g} s does not divide the control period "
                             f"{controller.meta.control_dt:g} s")
        controller.meta = replace(controller.meta, physics_dt=physics_dt)
    lib = load_library(motions, controller.meta)
    names = list(clips or lib.clip_names)
    unknown = [c for c in names if c not in lib.clip_names]
    if unknown:
        raise ValueError(f"{motions}: no clip named {', '.join(unknown)}; "
                         f"it holds {', '.join(lib.clip_names)}")
    model = make_model(controller.meta)
    runs = {name: run_clip(model, controller, lib, lib.clip_names.index(name)) for name in names}
    per_clip = {name: run.figures for name, run in runs.items()}
    result = {"mode": controller.mode,
              "success_rate": float(np.mean([c["success"] for c in per_clip.values()])),
              **{k: float(np.mean([c[k] for c in per_clip.values()])) for k in FIGURES}, "clips": per_clip}
    if video is not None:
        ref = [lib.qpos[lib.clip_start[lib.clip_names.index(n)]:][:len(r.qpos)] for n, r in runs.items()]
        write_video(model, np.concatenate([r.qpos for r in runs.values()]), np.concatenate(ref),
                    1 / controller.meta.control_dt, video)
    return result


def write_video(model: mujoco.MjModel, qpos: np.ndarray, ghost: np.ndarray, fps: float, out: str | Path,
                width: int = 480, height: int = 360) -> None:
    """mp4 of qpos (T, nq) from a camera tracking the pelvis, `ghost` (T, nq) drawn translucent."""
    import imageio.v2 as imageio

    model.vis.global_.offwidth, model.vis.global_.offheight = max(model.vis.global_.offwidth, width), \
        max(model.vis.global_.offheight, height)
    data, ghost_data = mujoco.MjData(model), mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.type, camera.trackbodyid = mujoco.mjtCamera.mjCAMERA_TRACKING, 1
    camera.distance, camera.elevation, camera.azimuth = 3.5, -15.0, 135.0
    option, perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
    frames = []
    with mujoco.Renderer(model, height, width) as renderer:
        for q, g in zip(qpos, ghost):
            data.qpos[:], ghost_data.qpos[:] = q, g
            mujoco.mj_forward(model, data)
            mujoco.mj_kinematics(model, ghost_data)
            renderer.update_scene(data, camera)
            scene, start = renderer.scene, renderer.scene.ngeom
            mujoco.mjv_addGeoms(model, ghost_data, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
            for i in range(start, scene.ngeom):
                scene.geoms[i].rgba[:] = GHOST_RGBA
                scene.geoms[i].transparent = 1
            frames.append(renderer.render())
    with _atomic(out) as tmp:
        imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=8)


@contextmanager
def _atomic(path: str | Path) -> Iterator[str]:
    """A temporary path beside `path` (same suffix) that replaces `path` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_output(path: str | Path, suffix: str | None = None) -> None:
    """Raise ValueError, one line naming `path`, unless a file (a `suffix` one where given) can be
    written there: checked before the run, not after it."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; name a file in it")
    if suffix and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: expected a {suffix} file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise ValueError(f"{path}: cannot write in {folder} ({e.strerror})") from None


def table(result: dict) -> str:
    """The per-clip figures and the aggregate as a plain-text table."""
    width = max(8, *(len(n) for n in result["clips"]))
    lines = [f"{'clip':<{width}}  success  frames  G-MPJPE mm  MPJPE mm  accel mm/frame²"]
    for name, c in result["clips"].items():
        lines.append(f"{name:<{width}}  {'yes' if c['success'] else 'no':>7}  {c['frames']:>6}  "
                     f"{c['g_mpjpe_mm']:>10.1f}  {c['mpjpe_mm']:>8.1f}  {c['accel_mm']:>15.1f}")
    lines.append(f"{'mean':<{width}}  {result['success_rate']:>7.3f}  {'':>6}  "
                 f"{result['g_mpjpe_mm']:>10.1f}  {result['mpjpe_mm']:>8.1f}  {result['accel_mm']:>15.1f}")
    return "\n".join(lines)


def seconds(text: str) -> float:
    """argparse type of --physics-dt: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", help="policy.onnx from `humanoid-fpo export`")
    parser.add_argument("motions", help="motion library npz")
    parser.add_argument("--clip", action="append", help="clip name (repeatable; default: every clip)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--video", help="write an mp4 of the run here")
    parser.add_argument("--mode", choices=("full", "hands", "root"),
                        help="goal conditioning (default: the policy's)")
    parser.add_argument("--physics-dt", type=seconds, help="physics step in s, dividing the control period "
                                                          "(default: the trained one)")
    args = parser.parse_args(argv)
    try:
        for path, suffix in ((args.json, None), (args.video, ".mp4")):
            if path is not None:
                check_output(path, suffix)
        result = evaluate(args.policy, args.motions, args.clip, args.mode, args.video, args.physics_dt)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.policy} on {args.motions}, mode {result['mode']}")
    print(table(result))
    if args.json:
        with _atomic(args.json) as tmp, open(tmp, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
