"""The generated humanoid: asset freshness, structure, mass, contacts, MJX."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from humanoid_fpo.body.humanoid import (ASSET_PATH, CONTACT_SETS, build_mjcf, hinge_names, hinge_order,
                                   skeleton_of)
from humanoid_fpo.motion.kinematics import lowest_points
from humanoid_fpo.motion.retarget import FEET
from humanoid_fpo.body.skeleton import JOINT_NAMES, MUJOCO_BODY_NAMES, PARENTS, mean_shape


def test_committed_asset_is_what_the_generator_makes() -> None:
    assert ASSET_PATH.read_text() == build_mjcf(), (
        "assets/humanoid.xml is stale: run `python -m humanoid_fpo.body.humanoid`")


def test_structure(model: mujoco.MjModel) -> None:
    assert (model.nq, model.nv, model.nu) == (76, 75, 69)
    assert tuple(model.body(b).name for b in range(1, model.nbody)) == MUJOCO_BODY_NAMES
    joints = [model.joint(j).name for j in range(1, model.njnt)]
    actuated = [model.joint(model.actuator_trnid[a, 0]).name for a in range(model.nu)]
    assert joints == actuated == hinge_names()  # ctrl i drives qpos 7 + i
    assert (model.actuator_gainprm[:, 0] > 0).all() and (model.actuator_biasprm[:, 2] == 0).all()
    hinge_dofs = model.jnt_dofadr[model.actuator_trnid[:, 0]]  # PD damping kp/10 as joint damping
    np.testing.assert_allclose(model.dof_damping[hinge_dofs], model.actuator_gainprm[:, 0] / 10)
    assert 68.0 < model.body_subtreemass[1] < 72.0
    np.testing.assert_array_equal(skeleton_of(model).offsets, mean_shape().offsets)


def test_bone_axis_is_the_middle_hinge() -> None:
    """The Euler singularity (middle angle at 90 degrees) must be a twist, not a flexion."""
    offsets = mean_shape().offsets
    for j, name in enumerate(JOINT_NAMES[1:], start=1):
        children = [c for c in range(len(PARENTS)) if PARENTS[c] == j]
        if len(children) == 1:
            bone = offsets[children[0]]
            assert "xyz"[int(np.argmax(np.abs(bone)))] == hinge_order(name)[1], name


def test_only_explicit_foot_floor_contacts(model: mujoco.MjModel) -> None:
    assert (model.geom_contype == 0).all() and (model.geom_conaffinity == 0).all()
    pairs = {frozenset((model.geom(model.pair_geom1[p]).name, model.geom(model.pair_geom2[p]).name))
             for p in range(model.npair)}
    assert pairs == {frozenset((b, "floor")) for b in CONTACT_SETS["feet"]}
    with_hands = mujoco.MjModel.from_xml_string(build_mjcf(contact="feet_hands"))
    assert with_hands.npair == 6
    with pytest.raises(ValueError, match="unknown contact set 'paws'"):
        build_mjcf(contact="paws")


def test_rest_pose_stands_on_the_floor(model: mujoco.MjModel) -> None:
    heights, _ = lowest_points(model, model.qpos0[None], FEET)
    assert heights.min() == pytest.approx(0.0, abs=1e-3)
    assert heights.max() < 0.01


def test_standing_still_settles_on_the_feet(model: mujoco.MjModel) -> None:
    """PD targets at the rest pose: the body must not sink through or bounce off the floor."""
    data = mujoco.MjData(model)
    for _ in range(60):
        mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all()
    assert data.ncon >= 4
    assert abs(data.qpos[2] - model.qpos0[2]) < 0.02


def test_a_fallen_humanoid_rests_on_the_floor_under_the_cpu_preset() -> None:
    """Every body meets the ground in the CPU preset, so renders and `play` of its runs show a fall
    landing; with the feet alone colliding, a limp body sank through the floor."""
    from humanoid_fpo.run.config import compose
    from humanoid_fpo.sim.scene import make_scene
    from humanoid_fpo.sim.terrain import make_terrain

    env = compose(["preset=cpu"])[0].env
    model = make_scene(make_terrain(env.terrain), env.contact, env.physics_dt, env.solver, env.solver_iterations,
                       env.ls_iterations)
    model.actuator_gainprm[:, 0] = model.actuator_biasprm[:, 1] = 0  # limp: no PD torques
    data = mujoco.MjData(model)
    for _ in range(round(3 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert data.qpos[2] < 0.3, "the limp body fell"
    assert data.xpos[1:, 2].min() > 0, "no body below the floor"


def test_loads_in_mjx(model: mujoco.MjModel) -> None:
    from mujoco import mjx

    mx = mjx.put_model(model)
    assert mx.nq == 76 and mx.nu == 69


def test_a_bad_smpl_model_is_one_line_naming_the_file(tmp_path, capsys) -> None:
    """`python -m humanoid_fpo.body.humanoid --smpl-model BAD` was a traceback."""
    from humanoid_fpo.body.humanoid import main

    (tmp_path / "bad.pkl").write_text("not a pickle")
    assert main(["--smpl-model", str(tmp_path / "bad.pkl"), "-o", str(tmp_path / "h.xml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'bad.pkl'}: not a readable SMPL model pickle") and err.count("\n") == 1
    assert main(["-o", str(tmp_path)]) == 1 and "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pkl"]
