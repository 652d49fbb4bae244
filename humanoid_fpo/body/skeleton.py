"""The SMPL 24-joint skeleton: names, parents and rest offsets.

Two frames appear here:
- the SMPL model frame (x left, y up, z forward), in which SMPL files and `poses` are written;
- the humanoid frame (x forward, y left, z up), in which the MJCF and everything downstream live.
`SMPL_TO_HUMANOID` maps the first to the second (a cyclic axis permutation, det +1), so an SMPL
local rotation R becomes `P @ R @ P.T` in the humanoid frame.

The built-in rest offsets are the SMPL neutral model's mean-shape joints (betas = 0), so no
licensed file is needed. Users who own SMPL model files get shape-specific offsets through
`from_smpl_model` (the file is loaded without chumpy, see `load_smpl_pickle`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "Torso", "L_Knee", "R_Knee", "Spine", "L_Ankle", "R_Ankle",
    "Chest", "L_Toe", "R_Toe", "Neck", "L_Thorax", "R_Thorax", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand",
)
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_JOINTS = len(JOINT_NAMES)
# MuJoCo numbers bodies depth-first; body k of the MJCF (after the world) is SMPL joint
# MUJOCO_ORDER[k]. qpos hinges, actuators and every per-body array downstream use this order.
MUJOCO_ORDER: tuple[int, ...] = (
    0, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12, 15, 13, 16, 18, 20, 22, 14, 17, 19, 21, 23,
)
MUJOCO_BODY_NAMES: tuple[str, ...] = tuple(JOINT_NAMES[j] for j in MUJOCO_ORDER)

SMPL_TO_HUMANOID = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

# SMPL neutral mean-shape joint offsets from the parent joint, SMPL model frame, metres.
# Row 0 is the pelvis joint's position relative to the model origin (what `trans` moves).
_MEAN_SHAPE_OFFSETS_SMPL = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.0914, -0.0068], [-0.0677, -0.0905, -0.0043],
    [-0.0025, 0.1090, -0.0267], [0.0343, -0.3752, -0.0045], [-0.0383, -0.3826, -0.0089],
    [0.0055, 0.1352, 0.0011], [-0.0136, -0.3980, -0.0437], [0.0158, -0.3984, -0.0423],
    [0.0015, 0.0529, 0.0254], [0.0264, -0.0558, 0.1193], [-0.0254, -0.0481, 0.1233],
    [-0.0028, 0.2139, -0.0429], [0.0788, 0.1217, -0.0341], [-0.0818, 0.1188, -0.0386],
    [0.0052, 0.0650, 0.0513], [0.0910, 0.0305, -0.0089], [-0.0960, 0.0326, -0.0091],
    [0.2596, -0.0128, -0.0275], [-0.2537, -0.0133, -0.0214], [0.2492, 0.0090, -0.0012],
    [-0.2553, 0.0078, -0.0056], [0.0840, -0.0082, -0.0149], [-0.0846, -0.0061, -0.0103],
])


@dataclass(frozen=True)
class Skeleton:
    """Rest geometry of the 24-joint tree.

    offsets: (24, 3) humanoid frame; row j > 0 is joint j's offset from its parent, row 0 the
        pelvis position relative to the SMPL model origin.
    """

    offsets: np.ndarray

    def __post_init__(self) -> None:
        if self.offsets.shape != (NUM_JOINTS, 3) or not np.isfinite(self.offsets).all():
            raise ValueError(f"skeleton offsets must be finite (24, 3), got {self.offsets.shape}")

    @property
    def pelvis_in_smpl_frame(self) -> np.ndarray:
        """(3,) pelvis rest position in the SMPL model frame: `trans + this` is the pelvis."""
        return SMPL_TO_HUMANOID.T @ self.offsets[0]

    def rest_positions(self) -> np.ndarray:
        """(24, 3) joint positions in the humanoid frame at the rest (T-) pose, pelvis at origin."""
        pos = np.zeros((NUM_JOINTS, 3))
        for j in range(1, NUM_JOINTS):
            pos[j] = pos[PARENTS[j]] + self.offsets[j]
        return pos


def mean_shape() -> Skeleton:
    """The built-in skeleton: SMPL neutral, betas = 0."""
    return Skeleton(_MEAN_SHAPE_OFFSETS_SMPL @ SMPL_TO_HUMANOID.T)


def tree_kinematics(parents: tuple[int, ...], local_rot: np.ndarray,
                    local_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of any joint tree (parents before children, root parent -1).

    local_rot: (T, J, 3, 3) rotation of each joint relative to its parent (root: the world);
    local_pos: (T, J, 3) its origin in the parent's frame (root: the world).
    Returns world positions (T, J, 3) and rotations (T, J, 3, 3).
    """
    rot = np.empty_like(local_rot)
    pos = np.empty(local_rot.shape[:2] + (3,))
    for j, p in enumerate(parents):
        if p < 0:
            rot[:, j], pos[:, j] = local_rot[:, j], local_pos[:, j]
        else:
            rot[:, j] = rot[:, p] @ local_rot[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], local_pos[:, j])
    return pos, rot


def forward_kinematics(
    skeleton: Skeleton, local_rot: np.ndarray, root_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions and global rotations from local rotations (humanoid frame).

    local_rot: (T, 24, 3, 3), row 0 the root's global rotation; root_pos: (T, 3) pelvis position.
    Returns positions (T, 24, 3) and global rotations (T, 24, 3, 3).
    """
    local_pos = np.broadcast_to(skeleton.offsets, local_rot.shape[:2] + (3,)).copy()
    local_pos[:, 0] = root_pos
    return tree_kinematics(PARENTS, local_rot, local_pos)


# --- SMPL model files (user-supplied) -------------------------------------------------------


class _ChumpyArray:
    """Stands in for `chumpy.ch.Ch` while unpickling: keeps the pickled state, holds the value."""

    def __init__(self, *args, **kwargs) -> None:
        self.state = None

    def __setstate__(self, state) -> None:
        self.state = state

    def value(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        if "x" not in state:
            raise ValueError("a chumpy object in the SMPL file holds no array ('x')")
        return np.asarray(state["x"])


class _SmplUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "chumpy":
            return _ChumpyArray
        return super().find_class(module, name)


def load_smpl_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Load an SMPL `.pkl` model file as plain numpy arrays, without importing chumpy.

    Real SMPL files are Python-2 pickles whose arrays are chumpy objects; those become numpy
    arrays and scipy sparse matrices become dense. Raises ValueError naming the file on bad input.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = _SmplUnpickler(f, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
        raise ValueError(f"{path}: not a readable SMPL model pickle ({e})") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: SMPL model pickle holds {type(raw).__name__}, expected a dict")
    out = {}
    for key, val in raw.items():
        if isinstance(val, _ChumpyArray):
            val = val.value()
        elif hasattr(val, "toarray"):
            val = val.toarray()
        out[key] = val
    missing = {"v_template", "shapedirs", "J_regressor", "kintree_table"} - out.keys()
    if missing:
        raise ValueError(f"{path}: SMPL model file lacks {sorted(missing)}")
    return out


def from_smpl_model(path: str | Path, betas: np.ndarray | None = None) -> Skeleton:
    """Shape-specific skeleton from a user's SMPL model file (`.pkl`) and shape `betas` (B,).

    `smplx` evaluates the model at the rest pose; the offsets are its 24 joints' differences.
    """
    data = load_smpl_pickle(path)  # a bad file is named before smplx and torch load
    import smplx
    import torch
    from smplx.utils import Struct

    parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
    if parents.shape[0] != NUM_JOINTS or tuple(parents[1:]) != PARENTS[1:]:
        raise ValueError(f"{path}: kintree_table is not the SMPL 24-joint tree")
    num_betas = np.asarray(data["shapedirs"]).shape[-1]
    betas = np.zeros(num_betas) if betas is None else np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.shape[0] > num_betas:
        raise ValueError(f"{path}: model has {num_betas} shape components, got betas {betas.shape}")
    model = smplx.SMPL(
        model_path=str(path), data_struct=Struct(**data), num_betas=betas.shape[0],
        vertex_ids={k: 0 for k in _SMPLX_KEYPOINTS},
    )
    with torch.no_grad():
        out = model(betas=torch.as_tensor(betas, dtype=torch.float32)[None])
    joints = out.joints[0, :NUM_JOINTS].double().numpy()
    offsets = joints.copy()
    offsets[1:] -= joints[list(PARENTS[1:])]
    return Skeleton(offsets @ SMPL_TO_HUMANOID.T)


# smplx appends extra vertex keypoints to its joints; we use only the first 24, so any valid
# vertex index serves (real models could use smplx's defaults, synthetic test meshes cannot).
_SMPLX_KEYPOINTS = ("nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel",
                    "RBigToe", "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring",
                    "lpinky", "rthumb", "rindex", "rmiddle", "rring", "rpinky")
