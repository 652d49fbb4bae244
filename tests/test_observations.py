"""Observations: layout sizes, goal masks, heading-frame invariance, body velocities from MJX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx
from scipy.spatial.transform import Rotation

from humanoid_fpo.sim.config import MODES, ObsConfig, TerrainConfig
from humanoid_fpo.sim.observations import (GOAL_FEATURES, SELF_SIZE, Bodies, goal_masks, obs_layout, observe,
                                           scan_points, sim_bodies)
from humanoid_fpo.sim.terrain import make_terrain
from humanoid_fpo.body.skeleton import MUJOCO_BODY_NAMES

observe_jit = jax.jit(observe)


def random_bodies(rng: np.random.Generator, n: int) -> Bodies:
    quat = Rotation.random(n * 24, random_state=rng).as_quat(scalar_first=True).reshape(n, 24, 4)
    return Bodies(pos=jnp.asarray(rng.normal(size=(n, 24, 3)) + [0, 0, 1], jnp.float32),
                  quat=jnp.asarray(quat, jnp.float32),
                  lin_vel=jnp.asarray(rng.normal(size=(n, 24, 3)), jnp.float32),
                  ang_vel=jnp.asarray(rng.normal(size=(n, 24, 3)), jnp.float32))


def test_layout_sizes() -> None:
    layout = obs_layout(ObsConfig())
    size = {name: s.stop - s.start for name, s in layout.items()}
    assert SELF_SIZE == 358 == sum(size[k] for k in ("root_height", "body_pos", "body_rot",
                                                   "body_lin_vel", "body_ang_vel"))
    assert size["goal"] == 24 * 24 and size["goal_mask"] == 24
    assert size["height_scan"] == len(scan_points(ObsConfig())) == 9 * 7
    assert list(layout.values())[-1].stop == 358 + 576 + 24 + 63


@pytest.mark.parametrize("mode", MODES)
def test_goal_mask_zeroes_exactly_its_entries(mode: str) -> None:
    rng = np.random.default_rng(1)
    n = 3
    sim, ref = random_bodies(rng, n), random_bodies(rng, n)
    terrain = make_terrain(TerrainConfig())
    layout = obs_layout(ObsConfig())
    masks = jnp.asarray(goal_masks())
    actor, critic = observe_jit(terrain, jnp.asarray(scan_points(ObsConfig())), masks,
                                jnp.full(n, MODES.index(mode)), sim, ref)
    assert actor.shape == critic.shape == (n, layout["height_scan"].stop)
    goal = np.asarray(actor[:, layout["goal"]]).reshape(n, 24, 24)
    full = np.asarray(critic[:, layout["goal"]]).reshape(n, 24, 24)
    assert np.all(full != 0)  # random states: every critic goal entry is informative
    kept = np.zeros((24, 24), dtype=bool)
    visible = {"full": MUJOCO_BODY_NAMES, "hands": ("Pelvis", "L_Wrist", "R_Wrist"),
               "root": ("Pelvis",)}[mode]
    for name in visible:
        row = MUJOCO_BODY_NAMES.index(name)
        if mode == "full":
            kept[row] = True
        else:
            kept[row, GOAL_FEATURES["pos_diff"]] = kept[row, GOAL_FEATURES["ref_pos"]] = True
    np.testing.assert_array_equal(goal[:, kept], full[:, kept])
    assert np.all(goal[:, ~kept] == 0.0)
    flags = np.asarray(actor[:, layout["goal_mask"]])
    np.testing.assert_array_equal(flags, np.broadcast_to(kept.any(axis=1), (n, 24)).astype(np.float32))
    np.testing.assert_array_equal(actor[:, :358], critic[:, :358])
    if mode == "root":  # the pelvis position rows are the offset from current to reference pelvis
        pelvis = goal[:, 0]
        np.testing.assert_allclose(pelvis[:, GOAL_FEATURES["pos_diff"]], pelvis[:, GOAL_FEATURES["ref_pos"]])


def test_without_the_actor_scan_only_the_actors_scan_is_zero() -> None:
    """env.obs.actor_height_scan=false (bench_terrain's ablation) blinds the actor to the ground alone."""
    rng = np.random.default_rng(3)
    sim, ref = random_bodies(rng, 4), random_bodies(rng, 4)
    sim = sim._replace(pos=sim.pos + jnp.array([4.0, 4.0, 0.0]))  # over the rough tile, not its flat border
    terrain = make_terrain(TerrainConfig(types=("rough",), num_levels=1, rough_amplitude=(0.1, 0.1)))
    points, masks = jnp.asarray(scan_points(ObsConfig())), jnp.asarray(goal_masks())
    args = (terrain, points, masks, jnp.zeros(4, int), sim, ref)
    seeing, critic = observe_jit(*args)
    blind, blind_critic = jax.jit(observe, static_argnames="actor_scan")(*args, actor_scan=False)
    scan = obs_layout(ObsConfig())["height_scan"]
    assert (np.asarray(seeing[:, scan]) != 0).mean() > 0.9, "rough ground: the scan (but its centre) reads it"
    assert np.all(np.asarray(blind[:, scan]) == 0)
    np.testing.assert_array_equal(blind[:, :scan.start], seeing[:, :scan.start])
    np.testing.assert_array_equal(blind_critic, critic)


def test_observations_are_heading_invariant() -> None:
    """Rotating and shifting the whole scene about z leaves every observation unchanged (flat ground)."""
    rng = np.random.default_rng(2)
    sim, ref = random_bodies(rng, 2), random_bodies(rng, 2)
    yaw = jnp.asarray(Rotation.from_euler("z", 1.1).as_quat(scalar_first=True), jnp.float32)
    shift = jnp.array([3.0, -2.0, 0.0])

    def move(b: Bodies) -> Bodies:
        from humanoid_fpo.sim.quat import quat_mul, quat_rotate
        return Bodies(quat_rotate(yaw, b.pos) + shift, quat_mul(yaw, b.quat), quat_rotate(yaw, b.lin_vel),
                      quat_rotate(yaw, b.ang_vel))

    args = (make_terrain(TerrainConfig()), jnp.asarray(scan_points(ObsConfig())), jnp.asarray(goal_masks()),
            jnp.zeros(2, jnp.int32))
    before = observe_jit(*args, sim, ref)
    after = observe_jit(*args, move(sim), move(ref))
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_sim_body_velocities_match_mujoco(model) -> None:
    """Origin velocities from MJX's com-based cvel equal MuJoCo's mj_objectVelocity at the body origin."""
    rng = np.random.default_rng(3)
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    data.qpos[7:] = rng.uniform(-0.5, 0.5, model.nq - 7)
    data.qvel[:] = rng.normal(size=model.nv)
    mujoco.mj_forward(model, data)
    mx = mjx.put_model(model)
    dx = mjx.put_data(model, data)

    @jax.jit
    def bodies(d):
        d = mjx.com_vel(mx, mjx.com_pos(mx, mjx.kinematics(mx, d)))
        return sim_bodies(jax.tree.map(lambda x: x[None], d))

    got = bodies(dx)
    vel = np.zeros((model.nbody, 6))
    for b in range(1, model.nbody):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, b, vel[b], 0)
    # mj_objectVelocity reports the velocity of the body's centre of mass; move it to the origin.
    origin_vel = vel[1:, 3:] + np.cross(vel[1:, :3], data.xpos[1:] - data.xipos[1:])
    np.testing.assert_allclose(got.ang_vel[0], vel[1:, :3], atol=1e-4)
    np.testing.assert_allclose(got.lin_vel[0], origin_vel, atol=1e-4)
    np.testing.assert_allclose(got.pos[0], data.xpos[1:], atol=1e-5)
