"""A motion clip as read from a file, before retargeting, and the operations on it.

Both readers (AMASS-style npz, BVH) produce a `SourceMotion`: a joint tree with a local rotation
and a local translation per joint and frame, in the file's own frame and units. Resampling and
forward kinematics work on that one form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from humanoid_fpo.body.skeleton import tree_kinematics


class MotionFileError(ValueError):
    """A motion file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


@dataclass(frozen=True)
class SourceMotion:
    """One clip in its source skeleton.

    local_quat: (T, J, 4) wxyz rotation of joint j relative to its parent (row 0: to the world).
    local_pos: (T, J, 3) origin of joint j in its parent's frame (row 0: in the world).
    """

    name: str
    path: Path
    fps: float
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    local_quat: np.ndarray
    local_pos: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.local_quat.shape[0]

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps


def wxyz_to_rotation(q: np.ndarray) -> Rotation:
    """scipy Rotation from wxyz quaternions (..., 4)."""
    return Rotation.from_quat(np.asarray(q).reshape(-1, 4)[:, [1, 2, 3, 0]])


def rotation_to_wxyz(r: Rotation, shape: tuple[int, ...]) -> np.ndarray:
    """wxyz quaternions of shape `shape + (4,)` from a flat scipy Rotation."""
    return r.as_quat()[:, [3, 0, 1, 2]].reshape(shape + (4,))


def global_transforms(motion: SourceMotion) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics: world positions (T, J, 3) and rotation matrices (T, J, 3, 3)."""
    t, j = motion.local_quat.shape[:2]
    local_rot = wxyz_to_rotation(motion.local_quat).as_matrix().reshape(t, j, 3, 3)
    return tree_kinematics(motion.parents, local_rot, motion.local_pos)


def resample(motion: SourceMotion, fps: float) -> SourceMotion:
    """Resample to `fps` over the same duration: slerp rotations, lerp translations."""
    t_src = np.arange(motion.num_frames) / motion.fps
    n_out = int(np.floor(motion.duration * fps + 1e-3)) + 1  # tolerate rounded frame times
    t_out = np.minimum(np.arange(n_out) / fps, t_src[-1])
    j = len(motion.parents)
    quat = np.empty((n_out, j, 4))
    for k in range(j):
        if motion.num_frames == 1:
            quat[:, k] = motion.local_quat[0, k]
            continue
        slerp = Slerp(t_src, wxyz_to_rotation(motion.local_quat[:, k]))
        quat[:, k] = rotation_to_wxyz(slerp(t_out), (n_out,))
    flat = motion.local_pos.reshape(motion.num_frames, -1)
    pos = np.stack([np.interp(t_out, t_src, col) for col in flat.T], -1).reshape(n_out, j, 3)
    return replace(motion, fps=float(fps), local_quat=quat, local_pos=pos)
