"""The SMPL skeleton: tree, frames, forward kinematics, and the chumpy-free SMPL model path."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.spatial.transform import Rotation

from humanoid_fpo.body.skeleton import (JOINT_NAMES, MUJOCO_ORDER, NUM_JOINTS, PARENTS, SMPL_TO_HUMANOID,
                                   forward_kinematics, from_smpl_model, load_smpl_pickle,
                                   mean_shape)


def test_tree_and_orders() -> None:
    assert len(JOINT_NAMES) == len(PARENTS) == NUM_JOINTS == 24
    assert all(PARENTS[j] < j for j in range(1, NUM_JOINTS))

    def depth_first(j: int) -> list[int]:
        return [j] + [k for c in range(NUM_JOINTS) if PARENTS[c] == j for k in depth_first(c)]

    assert list(MUJOCO_ORDER) == depth_first(0)


def test_mean_shape_is_upright_and_left_is_plus_y() -> None:
    rest = mean_shape().rest_positions()
    head, l_ankle = rest[JOINT_NAMES.index("Head")], rest[JOINT_NAMES.index("L_Ankle")]
    assert head[2] - l_ankle[2] > 1.2  # z is up, metres
    assert rest[JOINT_NAMES.index("L_Hand"), 1] > 0.6 > -0.6 > rest[JOINT_NAMES.index("R_Hand"), 1]
    assert rest[JOINT_NAMES.index("L_Toe"), 0] > rest[JOINT_NAMES.index("L_Ankle"), 0]  # x forward
    assert np.isclose(np.linalg.det(SMPL_TO_HUMANOID), 1.0)


def test_forward_kinematics_rotates_children_about_parent() -> None:
    skel = mean_shape()
    local = np.tile(np.eye(3), (1, NUM_JOINTS, 1, 1))
    knee = JOINT_NAMES.index("L_Knee")
    local[0, knee] = Rotation.from_euler("y", 90, degrees=True).as_matrix()  # flex the knee
    pos, rot = forward_kinematics(skel, local, np.zeros((1, 3)))
    shin = pos[0, JOINT_NAMES.index("L_Ankle")] - pos[0, knee]
    rest_shin = skel.offsets[JOINT_NAMES.index("L_Ankle")]
    np.testing.assert_allclose(shin, local[0, knee] @ rest_shin, atol=1e-12)
    assert shin[0] < -0.3  # the foot swings backwards
    np.testing.assert_allclose(rot[0, JOINT_NAMES.index("L_Toe")], local[0, knee], atol=1e-12)


# --- a synthetic SMPL model file, pickled with chumpy classes as real ones are -----------------

VERTS_PER_JOINT = 4


def _chumpy_module():
    """A stand-in `chumpy.ch` module whose `Ch` pickles like chumpy's (a dict with 'x')."""
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self.dterms = ()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    return ch


def write_synthetic_smpl(path: Path, num_betas: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """An SMPL-format pickle whose joints at betas = 0 are the mean-shape joints (SMPL frame)."""
    rng = np.random.default_rng(seed)
    joints = mean_shape().rest_positions() @ SMPL_TO_HUMANOID  # humanoid -> SMPL frame, pelvis at 0
    joints += mean_shape().pelvis_in_smpl_frame
    v_template = np.repeat(joints, VERTS_PER_JOINT, 0) + rng.normal(0, 0.01, (24 * VERTS_PER_JOINT, 3))
    v = len(v_template)
    regressor = np.zeros((NUM_JOINTS, v))
    for j in range(NUM_JOINTS):
        regressor[j, j * VERTS_PER_JOINT:(j + 1) * VERTS_PER_JOINT] = 1.0 / VERTS_PER_JOINT
    v_template += (joints - regressor @ v_template).repeat(VERTS_PER_JOINT, 0)  # exact joints
    arrays = {
        "v_template": v_template, "shapedirs": rng.normal(0, 0.01, (v, 3, num_betas)),
        "posedirs": np.zeros((v, 3, 207)), "weights": np.eye(NUM_JOINTS).repeat(VERTS_PER_JOINT, 0),
        "f": np.arange(v - v % 3).reshape(-1, 3),
    }
    chumpy = types.ModuleType("chumpy")
    ch = _chumpy_module()
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
    try:
        kintree = np.array([[4294967295, *PARENTS[1:]], range(NUM_JOINTS)], dtype=np.int64)
        payload = {"v_template": ch.Ch(arrays["v_template"]), "shapedirs": ch.Ch(arrays["shapedirs"]),
                   "posedirs": arrays["posedirs"], "weights": ch.Ch(arrays["weights"]),
                   "J_regressor": sparse.csc_matrix(regressor), "kintree_table": kintree,
                   "f": arrays["f"]}
        path.write_bytes(pickle.dumps(payload, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return {**arrays, "J_regressor": regressor}


def test_load_smpl_pickle_without_chumpy(tmp_path: Path) -> None:
    expected = write_synthetic_smpl(tmp_path / "SMPL_NEUTRAL.pkl")
    assert b"chumpy.ch" in (tmp_path / "SMPL_NEUTRAL.pkl").read_bytes()
    assert "chumpy" not in sys.modules
    data = load_smpl_pickle(tmp_path / "SMPL_NEUTRAL.pkl")
    for key in ("v_template", "shapedirs", "weights", "J_regressor"):
        assert isinstance(data[key], np.ndarray), key
        np.testing.assert_array_equal(data[key], expected[key])


def test_smpl_model_offsets_match_mean_shape_and_follow_betas(tmp_path: Path) -> None:
    model = write_synthetic_smpl(tmp_path / "SMPL_NEUTRAL.pkl")
    at_zero = from_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    np.testing.assert_allclose(at_zero.offsets, mean_shape().offsets, atol=1e-5)

    betas = np.linspace(-2, 2, 10)
    shaped = from_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl", betas)
    joints = model["J_regressor"] @ (model["v_template"] + model["shapedirs"] @ betas)
    offsets = joints.copy()
    offsets[1:] -= joints[list(PARENTS[1:])]
    np.testing.assert_allclose(shaped.offsets, offsets @ SMPL_TO_HUMANOID.T, atol=1e-5)
    assert np.abs(shaped.offsets - at_zero.offsets).max() > 1e-3


def test_bad_smpl_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl: not a readable SMPL model pickle"):
        load_smpl_pickle(tmp_path / "junk.pkl")
    (tmp_path / "partial.pkl").write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}))
    with pytest.raises(ValueError, match=r"partial.pkl: SMPL model file lacks \['J_regressor'"):
        load_smpl_pickle(tmp_path / "partial.pkl")
