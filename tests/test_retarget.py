"""Retargeting: exact SMPL clips, BVH keypoint IK, grounding, resampling, Euler continuity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_fpo.motion.amass import read_smpl_npz
from humanoid_fpo.motion.kinematics import body_states
from humanoid_fpo.motion.retarget import euler_continuous, retarget_file
from humanoid_fpo.motion.source import resample
from humanoid_fpo.body.skeleton import JOINT_NAMES, MUJOCO_ORDER, PARENTS, SMPL_TO_HUMANOID, mean_shape

from conftest import BUILTIN_MOTIONS


def smpl_joints(path: Path) -> np.ndarray:
    """SMPL mean-shape joint positions (T, 24, 3) of an npz clip at its own rate, computed here
    independently of the package: axis-angle chain in the SMPL frame, pelvis = trans + J0."""
    data = np.load(path)
    poses, trans = data["poses"].astype(float), data["trans"].astype(float)
    rot = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(len(poses), 24, 3, 3)
    offsets = mean_shape().offsets @ SMPL_TO_HUMANOID  # SMPL frame
    glob, pos = np.empty_like(rot), np.empty((len(poses), 24, 3))
    glob[:, 0], pos[:, 0] = rot[:, 0], trans + offsets[0]
    for j in range(1, 24):
        glob[:, j] = glob[:, PARENTS[j]] @ rot[:, j]
        pos[:, j] = pos[:, PARENTS[j]] + glob[:, PARENTS[j]] @ offsets[j]
    return pos


def humanoid_joints(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """MuJoCo body origins (T, 24, 3) in SMPL joint order."""
    pos = body_states(model, qpos, np.zeros((len(qpos), model.nv)))["pos"]
    return pos[:, np.argsort(MUJOCO_ORDER)]


def assert_exact_and_grounded(paths: list[Path], model) -> None:
    """Humanoid FK reproduces each clip's SMPL joints within 1 cm (up to the grounding shift)
    and planted feet are within 2 cm of the floor."""
    failures = []
    for path in paths:
        clip = retarget_file(path, model)
        assert clip.fps == 30.0 and np.isfinite(clip.qpos).all()
        expected = smpl_joints(path)  # these clips are 30 fps already: frames align
        got = humanoid_joints(model, clip.qpos)
        shift = np.median(got[..., 2] - expected[..., 2])  # the grounding offset, one per clip
        error = np.linalg.norm(got - expected - [0, 0, shift], axis=-1).max()
        if error > 0.01 or clip.contact_error > 0.02 or clip.fit_error_max > 0.01:
            failures.append(f"{path.name}: joint {error:.4f} m, contact {clip.contact_error:.4f} m")
    assert not failures, "\n".join(failures)


def test_all_asap_clips_are_exact_and_grounded(shared_motions: Path, model) -> None:
    paths = sorted((shared_motions / "asap_smpl").glob("*.npz"))
    assert len(paths) == 33
    assert_exact_and_grounded(paths, model)


def test_builtin_clips_are_exact_and_grounded(model) -> None:
    paths = sorted(BUILTIN_MOTIONS.glob("*.npz"))
    assert [p.stem for p in paths] == ["squat", "stand", "turn", "walk"]
    assert_exact_and_grounded(paths, model)


def test_cmu_bvh_keypoint_error(shared_motions: Path, model) -> None:
    clip = retarget_file(shared_motions / "cmu_bvh" / "cmu_01_01.bvh", model)
    assert clip.qpos.shape == (688, 76) and np.isfinite(clip.qpos).all()  # 120 Hz -> 30 fps
    assert clip.fit_error < 0.05  # mean keypoint error after height normalisation


def write_bvh(path: Path, clip_npz: Path, unit: float = 1 / 0.0254) -> np.ndarray:
    """Write an SMPL npz clip as a Y-up BVH in inches with ZXY channels (SMPL joint names).
    Returns the clip's joint positions (T, 24, 3), Z-up metres."""
    motion = read_smpl_npz(clip_npz)
    to_y_up = Rotation.from_euler("x", -90, degrees=True)  # world z -> y
    local = Rotation.from_quat(motion.local_quat.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_matrix()
    local = local.reshape(motion.num_frames, 24, 3, 3)
    local[:, 0] = to_y_up.as_matrix() @ local[:, 0]
    angles = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True)
    angles = angles.reshape(motion.num_frames, 72)
    root = to_y_up.apply(motion.local_pos[:, 0]) * unit
    offsets = motion.local_pos[0] * unit

    def block(j: int, depth: int) -> list[str]:
        pad, kind = "  " * depth, "ROOT" if j == 0 else "JOINT"
        channels = "6 Xposition Yposition Zposition" if j == 0 else "3"
        lines = [f"{pad}{kind} {JOINT_NAMES[j]}", f"{pad}{{",
                 f"{pad}  OFFSET {' '.join(f'{v:.6f}' for v in offsets[j])}",
                 f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation"]
        for c in [c for c in range(24) if PARENTS[c] == j]:
            lines += block(c, depth + 1)
        if not any(PARENTS[c] == j for c in range(24)):
            lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0 0", f"{pad}  }}"]
        return lines + [f"{pad}}}"]

    order = [j for j in _depth_first(0)]
    frames = [" ".join(f"{v:.6f}" for v in [*root[t], *np.concatenate([angles[t, 3 * j:3 * j + 3]
                                                                       for j in order])])
              for t in range(motion.num_frames)]
    path.write_text("\n".join(["HIERARCHY", *block(0, 0), "MOTION", f"Frames: {len(frames)}",
                               f"Frame Time: {1 / motion.fps:.8f}", *frames]) + "\n")
    return smpl_joints(clip_npz)


def _depth_first(j: int) -> list[int]:
    return [j] + [k for c in range(24) if PARENTS[c] == j for k in _depth_first(c)]


def test_bvh_of_a_known_clip_round_trips_through_ik(tmp_path: Path, model) -> None:
    """Units (inches), up axis (Y) and channel order (ZXY) must all be undone by the pipeline."""
    expected = write_bvh(tmp_path / "walk.bvh", BUILTIN_MOTIONS / "walk.npz")
    clip = retarget_file(tmp_path / "walk.bvh", model, joint_map={n: n for n in JOINT_NAMES})
    assert clip.fit_error < 0.005 and clip.fit_error_max < 0.02
    got = humanoid_joints(model, clip.qpos)
    shift = np.median(got[..., 2] - expected[..., 2])
    assert np.linalg.norm(got - expected - [0, 0, shift], axis=-1).mean() < 0.005


def test_grounding_removes_a_lifted_clip(tmp_path: Path, model) -> None:
    data = dict(np.load(BUILTIN_MOTIONS / "squat.npz"))
    lifted = tmp_path / "lifted.npz"
    np.savez(lifted, **{**data, "trans": data["trans"] + [0.0, 0.0, 0.3]})
    a, b = retarget_file(BUILTIN_MOTIONS / "squat.npz", model), retarget_file(lifted, model)
    np.testing.assert_allclose(a.qpos, b.qpos, atol=1e-5)
    assert b.contact_error < 0.02


def test_resample_halves_the_frames_and_keeps_shared_times(tmp_path: Path) -> None:
    motion = read_smpl_npz(BUILTIN_MOTIONS / "walk.npz")
    fast = resample(motion, 60.0)
    assert fast.num_frames == 2 * motion.num_frames - 1
    np.testing.assert_allclose(np.abs((fast.local_quat[::2] * motion.local_quat).sum(-1)), 1.0,
                               atol=1e-6)
    np.testing.assert_allclose(fast.local_pos[::2], motion.local_pos, atol=1e-9)
    back = resample(replace(fast, fps=60.0), 30.0)
    assert back.num_frames == motion.num_frames


def test_euler_angles_stay_continuous_through_deep_flexion() -> None:
    """A knee flexing to 150 degrees (past the 90 degrees where a y-middle order would lock)."""
    flex = np.radians(np.linspace(0, 150, 60))
    rot = Rotation.from_euler("XZY", np.stack([0.1 * np.sin(flex), 0.05 + 0 * flex, flex], 1))
    angles = euler_continuous(rot.as_matrix(), "xzy")
    np.testing.assert_allclose(angles[:, 2], flex, atol=1e-9)
    assert np.abs(np.diff(angles, axis=0)).max() < 0.1

    rng = np.random.default_rng(0)
    for order in ("xyz", "xzy", "yxz"):
        rot = Rotation.random(50, random_state=rng)
        back = Rotation.from_euler(order.upper(), euler_continuous(rot.as_matrix(), order))
        assert (back * rot.inv()).magnitude().max() < 1e-9
        assert np.abs(euler_continuous(rot.as_matrix(), order)).max() <= np.pi + 1e-9


def test_joint_map_errors_name_the_file(tmp_path: Path, model) -> None:
    write_bvh(tmp_path / "walk.bvh", BUILTIN_MOTIONS / "walk.npz")
    identity = {n: n for n in JOINT_NAMES}
    cases = [({**identity, "Tail": "Pelvis"}, "joints the file lacks: Tail"),
             ({**identity, "Pelvis": "Hips"}, "targets that are not humanoid bodies: Hips"),
             ({"Pelvis": "Pelvis", "L_Knee": "L_Knee"}, "onto: Head, L_Ankle, R_Ankle")]
    for joint_map, problem in cases:
        with pytest.raises(ValueError, match=f"walk.bvh: joint map has .*{problem}"):
            retarget_file(tmp_path / "walk.bvh", model, joint_map=joint_map)
    (tmp_path / "odd.bvh").write_text((tmp_path / "walk.bvh").read_text().replace("L_", "Left"))
    with pytest.raises(ValueError, match="odd.bvh: no built-in joint map fits"):
        retarget_file(tmp_path / "odd.bvh", model)


def test_workers_retarget_the_same_clips_in_the_same_order(tmp_path: Path, model) -> None:
    """Two processes give the clips one process gives, in the files' order, a bad file still a row."""
    from humanoid_fpo.motion.retarget import retarget_files

    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    files = [BUILTIN_MOTIONS / "walk.npz", tmp_path / "bad.npz", BUILTIN_MOTIONS / "squat.npz"]
    one, one_rows = retarget_files(files, model, progress=False)
    two, two_rows = retarget_files(files, model, progress=False, workers=2)
    assert [c.name for c in two] == [c.name for c in one] == ["walk", "squat"]
    assert all(np.array_equal(a.qpos, b.qpos) for a, b in zip(one, two))
    assert two_rows == one_rows and "skipped" in two_rows[1][-1]
