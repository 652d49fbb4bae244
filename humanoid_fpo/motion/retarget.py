"""Retarget source clips to humanoid qpos at 30 fps.

- SMPL clips are exact: the humanoid's joints are the SMPL joints, so every local rotation maps
  to three hinge angles by one Euler decomposition (after the fixed change of frame P).
- BVH clips go through keypoint inverse kinematics: the source joints named in a joint map are
  scaled by body height, turned Z-up and tracked by a damped least-squares solver on MuJoCo's
  Jacobians; the mean keypoint error is the clip's fit error.
- Either way the clip is then shifted vertically so the feet rest on z = 0 in stance frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_fpo.body.humanoid import hinge_order, skeleton_of
from humanoid_fpo.motion.amass import read_smpl_npz
from humanoid_fpo.motion.bvh import read_bvh
from humanoid_fpo.motion.kinematics import body_states, lowest_points
from humanoid_fpo.motion.source import (MotionFileError, SourceMotion, global_transforms, resample,
                                        wxyz_to_rotation)
from humanoid_fpo.body.skeleton import (JOINT_NAMES, MUJOCO_BODY_NAMES, MUJOCO_ORDER, NUM_JOINTS,
                                   SMPL_TO_HUMANOID)

FPS = 30.0
FEET = {"left": ("L_Ankle", "L_Toe"), "right": ("R_Ankle", "R_Toe")}
STANCE_SPEED = 0.15  # m/s: an ankle slower than this is planted (if low enough)
STANCE_HEIGHT = 0.1  # m: support above this is a flight phase, not stance
JOINT_MAP_DIR = Path(__file__).resolve().parent / "joint_maps"


@dataclass(frozen=True)
class RetargetedClip:
    """A clip on the humanoid. qpos: (T, 76) at `fps`; errors in metres. A simulated clip (the
    teacher's run) also has its true velocities `qvel` (T, 75); a recorded one leaves them None."""

    name: str
    source: str
    fps: float
    qpos: np.ndarray
    fit_error: float  # mean joint (SMPL) or keypoint (BVH) position error
    fit_error_max: float
    contact_error: float  # max |lowest foot point| over stance frames after grounding
    qvel: np.ndarray | None = None


def retarget_file(path: str | Path, model: mujoco.MjModel,
                  joint_map: dict[str, str] | None = None) -> RetargetedClip:
    """Read, resample to 30 fps, retarget and ground one `.npz` (SMPL) or `.bvh` clip.

    Raises MotionFileError for a malformed file, ValueError for a BVH no joint map fits.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind == ".npz":
        motion = resample(read_smpl_npz(path, skeleton_of(model)), FPS)
        targets = global_transforms(motion)[0][:, list(MUJOCO_ORDER)]
        bodies = list(MUJOCO_BODY_NAMES)
        qpos = smpl_qpos(motion)
    elif kind == ".bvh":
        motion = resample(read_bvh(path), FPS)
        joint_map = joint_map or find_joint_map(motion)
        targets, bodies = bvh_keypoints(motion, joint_map, model), list(joint_map.values())
        qpos, _ = solve_ik(model, targets, bodies)
    else:
        raise MotionFileError(path, f"unknown motion format {path.suffix!r} (expected .npz or .bvh)")
    ids = [MUJOCO_BODY_NAMES.index(b) for b in bodies]
    fit = np.linalg.norm(body_states(model, qpos, np.zeros((len(qpos), model.nv)))["pos"][:, ids]
                         - targets, axis=-1)
    qpos, contact = ground(model, qpos, FPS)
    return RetargetedClip(name=motion.name, source=str(path), fps=FPS, qpos=qpos,
                          fit_error=float(fit.mean()), fit_error_max=float(fit.max()),
                          contact_error=contact)


# --- SMPL: exact ------------------------------------------------------------------------------


def euler_continuous(rot: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (T, 3) in axis `order` (e.g. 'xzy') of rotations (T, 3, 3).

    Each rotation has two angle triples in [-pi, pi], (a, b, c) and (a+pi, pi-b, c+pi) wrapped;
    frame by frame we keep the one nearer the previous frame, so a joint moving smoothly gets
    smooth hinge angles.
    """
    base = Rotation.from_matrix(rot).as_euler(order.upper())
    alt = base + np.array([np.pi, 0.0, np.pi])
    alt[:, 1] = np.pi - base[:, 1]
    alt = (alt + np.pi) % (2 * np.pi) - np.pi
    out = base.copy()
    for i in range(1, len(out)):
        if np.abs(alt[i] - out[i - 1]).sum() < np.abs(base[i] - out[i - 1]).sum():
            out[i] = alt[i]
    return out


def smpl_qpos(motion: SourceMotion) -> np.ndarray:
    """Exact humanoid qpos (T, 76) of an SMPL clip (SMPL joints, SMPL model frame, Z-up world).

    With P the SMPL-to-humanoid frame change, the root rotation is R_root @ P.T and every local
    rotation P @ R @ P.T; the latter become hinge angles in each joint's hinge order.
    """
    t, p = motion.num_frames, SMPL_TO_HUMANOID
    local = wxyz_to_rotation(motion.local_quat).as_matrix().reshape(t, NUM_JOINTS, 3, 3)
    quat = Rotation.from_matrix(local[:, 0] @ p.T).as_quat()[:, [3, 0, 1, 2]]
    flips = np.cumsum(np.r_[0, (np.sum(quat[1:] * quat[:-1], -1) < 0)]) % 2  # keep one hemisphere
    quat = np.where(flips[:, None] == 1, -quat, quat)
    local = p @ local @ p.T
    hinges = [euler_continuous(local[:, j], hinge_order(JOINT_NAMES[j])) for j in MUJOCO_ORDER[1:]]
    return np.concatenate([motion.local_pos[:, 0], quat, *hinges], axis=1)


# --- BVH: keypoint IK -------------------------------------------------------------------------


def load_joint_map(path: str | Path) -> dict[str, str]:
    """A joint map file: {"joints": {source joint name: humanoid body name}}."""
    path = Path(path)
    try:
        joints = json.loads(path.read_text())["joints"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a joint map ({e})") from e
    return dict(joints)


def find_joint_map(motion: SourceMotion) -> dict[str, str]:
    """The built-in joint map whose source joints all appear in the clip."""
    for path in sorted(JOINT_MAP_DIR.glob("*.json")):
        joint_map = load_joint_map(path)
        if set(joint_map) <= set(motion.joint_names):
            return joint_map
    raise ValueError(f"{motion.path}: no built-in joint map fits its joints "
                     f"({', '.join(motion.joint_names[:6])}, ...); pass one with --joint-map")


def bvh_keypoints(motion: SourceMotion, joint_map: dict[str, str],
                  model: mujoco.MjModel) -> np.ndarray:
    """Mapped source joint positions (T, K, 3) in humanoid units, Z-up.

    Body height is the bone-path length from the ankles to the head, which does not depend on
    the rest pose (T, A or splayed legs); the scale makes the source's equal the humanoid's.
    The up axis is the dominant axis of the ankles-to-head direction at the rest pose.
    """
    unknown_src = sorted(set(joint_map) - set(motion.joint_names))
    unknown_dst = sorted(set(joint_map.values()) - set(MUJOCO_BODY_NAMES))
    missing = sorted({"Head", "L_Ankle", "R_Ankle"} - set(joint_map.values()))
    for problem, names in (("joints the file lacks", unknown_src),
                           ("targets that are not humanoid bodies", unknown_dst),
                           ("no mapping (needed for the body height) onto", missing)):
        if names:
            raise ValueError(f"{motion.path}: joint map has {problem}: {', '.join(names)}")
    by_target = {v: motion.joint_names.index(k) for k, v in joint_map.items()}
    offsets = motion.local_pos[0]
    src_height = np.mean([_path_length(motion.parents, offsets, by_target[a], by_target["Head"])
                          for a in ("L_Ankle", "R_Ankle")])
    rest_quat = np.tile([1.0, 0.0, 0.0, 0.0], (1, len(motion.parents), 1))
    rest = global_transforms(replace(motion, local_quat=rest_quat, local_pos=offsets[None]))[0][0]
    up_dir = rest[by_target["Head"]] - (rest[by_target["L_Ankle"]] + rest[by_target["R_Ankle"]]) / 2
    axis = int(np.argmax(np.abs(up_dir)))
    to_z_up = Rotation.align_vectors([[0.0, 0.0, 1.0]], [np.eye(3)[axis] * np.sign(up_dir[axis])])[0]
    h_parents = [-1] + [model.body_parentid[b] - 1 for b in range(2, model.nbody)]
    h_ids = {model.body(b).name: b - 1 for b in range(1, model.nbody)}
    h_height = np.mean([_path_length(h_parents, model.body_pos[1:], h_ids[a], h_ids["Head"])
                        for a in ("L_Ankle", "R_Ankle")])
    idx = [motion.joint_names.index(n) for n in joint_map]
    return global_transforms(motion)[0][:, idx] @ (h_height / src_height * to_z_up.as_matrix()).T


def _path_length(parents: tuple[int, ...] | list[int], offsets: np.ndarray, a: int, b: int) -> float:
    """Length of the bone path between joints a and b of a tree; offsets (J, 3) from parents."""
    def ancestors(j: int) -> list[int]:
        chain = [j]
        while parents[chain[-1]] >= 0:
            chain.append(parents[chain[-1]])
        return chain
    up_a, up_b = ancestors(a), ancestors(b)
    common = next(j for j in up_a if j in up_b)
    path = up_a[: up_a.index(common)] + up_b[: up_b.index(common)]
    return float(sum(np.linalg.norm(offsets[j]) for j in path))


def solve_ik(model: mujoco.MjModel, targets: np.ndarray, bodies: list[str],
             iterations: int = 20, damping: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Track keypoints with damped least squares (Levenberg-Marquardt) frame by frame.

    targets: (T, K, 3) world positions for the origins of `bodies`; each frame starts from the
    last solution, hinges stay inside their ranges. Returns qpos (T, nq), errors (T, K) in m.
    """
    data = mujoco.MjData(model)
    ids = [model.body(b).id for b in bodies]
    hinge = model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE
    lo, hi = model.jnt_range[hinge, 0], model.jnt_range[hinge, 1]
    qadr = model.jnt_qposadr[hinge]
    q = model.qpos0.copy()
    q[:3] = targets[0].mean(0)
    jac = np.zeros((3, model.nv))
    qpos, err = np.zeros((len(targets), model.nq)), np.zeros(targets.shape[:2])
    for t, target in enumerate(targets):
        for _ in range(iterations * (5 if t == 0 else 1)):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            e = (target - data.xpos[ids]).reshape(-1)
            jacs = []
            for b in ids:
                mujoco.mj_jacBody(model, data, jac, None, b)
                jacs.append(jac.copy())
            j_all = np.concatenate(jacs)
            dq = np.linalg.solve(j_all.T @ j_all + damping * np.eye(model.nv), j_all.T @ e)
            mujoco.mj_integratePos(model, q, dq, 1.0)
            q[qadr] = np.clip(q[qadr], lo, hi)
            if np.abs(dq).max() < 1e-5:
                break
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        qpos[t], err[t] = q, np.linalg.norm(target - data.xpos[ids], axis=-1)
    return qpos, err


# --- ground -----------------------------------------------------------------------------------


def ground(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """Shift the clip vertically so the supporting foot touches z = 0.

    A foot is planted while its ankle moves slower than STANCE_SPEED; a frame's support height
    is its lowest planted foot point, and the ground is the median support height. Returns the
    shifted qpos (T, nq) and the contact error (m): the largest |support height| over stance
    frames (support below STANCE_HEIGHT, so jump apexes do not count), or the deepest
    penetration of any foot in any frame, whichever is larger.
    """
    heights, anchors = lowest_points(model, qpos, FEET)  # (T, 2), (T, 2, 3)
    speed = np.linalg.norm(np.gradient(anchors, axis=0), axis=-1) * fps if len(qpos) > 1 \
        else np.zeros_like(heights)
    support = np.where(speed < STANCE_SPEED, heights, np.inf).min(1)  # (T,), inf: none planted
    planted = np.isfinite(support)
    level = np.median(support[planted]) if planted.any() else heights.min()
    support, heights = support - level, heights - level
    stance = planted & (support < STANCE_HEIGHT)
    shifted = qpos.copy()
    shifted[:, 2] -= level
    floating = np.abs(support[stance]).max() if stance.any() else 0.0
    return shifted, float(max(floating, -heights.min()))


MOTION_SUFFIXES = (".npz", ".bvh")


def find_motion_files(inputs: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for .npz/.bvh, in a stable order."""
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in MOTION_SUFFIXES)
        else:
            files.append(item)  # a missing or odd file is reported by the reader, per clip
    return files


def clip_names(files: list[Path]) -> list[str]:
    """File stems, with the parent folder prepended where two stems collide."""
    stems = [f.stem for f in files]
    return [f"{f.parent.name}/{f.stem}" if stems.count(f.stem) > 1 else f.stem for f in files]


def retarget_files(files: list[Path], model: mujoco.MjModel, joint_map: dict[str, str] | None = None,
                   progress: bool = True, workers: int = 1) -> tuple[list[RetargetedClip], list[list]]:
    """Retarget each file, in `workers` processes (0: one per core); a bad one is reported in its row
    and skipped. Clips and rows keep the files' order. Rows: name, frames, seconds, fit cm,
    contact cm, status."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from tqdm import tqdm

    workers = min(workers or os.cpu_count() or 1, len(files))
    jobs = [(path, model, joint_map) for path in files]
    shown = {"desc": "retarget", "unit": "clip", "disable": not progress, "total": len(jobs)}
    if workers > 1:  # spawned: a forked child of a process that runs JAX's threads may hang
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(tqdm(pool.map(_retarget_or_error, jobs), **shown))
    else:
        results = [_retarget_or_error(job) for job in tqdm(jobs, **shown)]
    clips, rows = [], []
    for result, name in zip(results, clip_names(files)):
        if isinstance(result, str):
            rows.append([name, "-", "-", "-", "-", f"skipped: {result}"])
            continue
        clip = replace(result, name=name)
        clips.append(clip)
        rows.append([name, len(clip.qpos), f"{(len(clip.qpos) - 1) / clip.fps:.2f}",
                     f"{100 * clip.fit_error:.2f}", f"{100 * clip.contact_error:.2f}", "ok"])
    return clips, rows


def _retarget_or_error(job: tuple[Path, mujoco.MjModel, dict[str, str] | None]) -> RetargetedClip | str:
    """`retarget_file` of one (path, model, joint map), or the message of the error that refused it."""
    try:
        return retarget_file(*job)
    except (MotionFileError, ValueError) as e:
        return str(e)
