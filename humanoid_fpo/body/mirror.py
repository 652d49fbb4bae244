"""The humanoid's left–right mirror: the reflection y → −y of the humanoid frame (x forward, y left).

A reflection M = diag(1, −1, 1) maps a rotation R to M R M and swaps each left body with its right
twin. Every quantity mirrors by one of three rules:
- a position or linear velocity (a vector): (x, −y, z);
- an angular velocity (an axial vector): (−x, y, −z);
- a rotation: M R M, i.e. the quaternion (w, −x, y, −z); the tangent and normal columns of
  `tan_norm` are vectors, so each becomes (x, −y, z).
Every body frame is aligned with its parent's at rest and each left joint has its right twin's hinge
order, so a hinge about x or z changes sign and one about y keeps it (M R_x(a) M = R_x(−a)).

The mean-shape skeleton is not exactly symmetric (the SMPL neutral model is not): each joint offset
lies within 5.5 mm of its twin's mirror, so a mirrored motion puts a hand up to 2 cm from where this
body's own kinematics would; `symmetric` gives the exactly symmetric
skeleton the tests use. Index maps here are over MuJoCo body order (`MUJOCO_BODY_NAMES`) and
qpos hinge order (`hinge_names`).
"""

from __future__ import annotations

import numpy as np

from humanoid_fpo.body.humanoid import hinge_names
from humanoid_fpo.body.skeleton import JOINT_NAMES, MUJOCO_BODY_NAMES, Skeleton

VECTOR = np.array([1.0, -1.0, 1.0])
AXIAL = np.array([-1.0, 1.0, -1.0])
QUAT = np.array([1.0, -1.0, 1.0, -1.0])
TAN_NORM = np.tile(VECTOR, 2)


def twin(name: str) -> str:
    """'L_Knee' ↔ 'R_Knee'; a body on the midline is its own twin."""
    side = {"L_": "R_", "R_": "L_"}.get(name[:2])
    return side + name[2:] if side else name


BODY_SWAP = np.array([MUJOCO_BODY_NAMES.index(twin(n)) for n in MUJOCO_BODY_NAMES])
"""(24,) the mirror body of each body, MuJoCo order: `x[..., BODY_SWAP, :]` swaps the sides."""


def _hinge_maps() -> tuple[np.ndarray, np.ndarray]:
    names = hinge_names()
    swap = [names.index(f"{twin(h.rsplit('_', 1)[0])}_{h[-1]}") for h in names]
    sign = [1.0 if h[-1] == "y" else -1.0 for h in names]
    return np.array(swap), np.array(sign)


HINGE_SWAP, HINGE_SIGN = _hinge_maps()
"""(69,) each hinge's twin and the sign its angle takes: mirrored[i] = HINGE_SIGN[i] * x[HINGE_SWAP[i]]."""


def mirror_hinges(x: np.ndarray) -> np.ndarray:
    """(..., 69) hinge angles, velocities or PD targets → the mirror's."""
    return HINGE_SIGN * x[..., HINGE_SWAP]


def mirror_qpos(qpos: np.ndarray) -> np.ndarray:
    """(..., 76) free root (position, wxyz quaternion) then hinges → the mirror's."""
    return np.concatenate([qpos[..., :3] * VECTOR, qpos[..., 3:7] * QUAT, mirror_hinges(qpos[..., 7:])], -1)


def mirror_qvel(qvel: np.ndarray) -> np.ndarray:
    """(..., 75) root linear velocity (world), angular velocity (root frame), hinge rates → the mirror's."""
    return np.concatenate([qvel[..., :3] * VECTOR, qvel[..., 3:6] * AXIAL, mirror_hinges(qvel[..., 6:])], -1)


def mirror_bodies(x: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """(..., 24, k) per-body quantities → the mirror's: sides swapped, each row times `rule` (k,)."""
    return x[..., BODY_SWAP, :] * rule


def symmetric(skeleton: Skeleton) -> Skeleton:
    """The skeleton with each left offset and its right twin's mirror averaged (midline: y = 0)."""
    offsets = skeleton.offsets.copy()
    for j, name in enumerate(JOINT_NAMES):
        k = JOINT_NAMES.index(twin(name))
        offsets[j] = (skeleton.offsets[j] + skeleton.offsets[k] * VECTOR) / 2
    return Skeleton(offsets)
