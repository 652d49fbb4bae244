"""Reward terms and tracking errors on small hand-made states."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_fpo.sim.config import RewardConfig
from humanoid_fpo.sim.observations import Bodies
from humanoid_fpo.sim.rewards import (PROTOCOL_BODIES, body_errors, power, protocol_error, reward_ang_vel,
                                      reward_pos, reward_rot, reward_vel, tracking_reward)
from humanoid_fpo.body.skeleton import MUJOCO_BODY_NAMES


def still(n: int = 2) -> Bodies:
    pos = jnp.asarray(np.random.default_rng(0).normal(size=(n, 24, 3)), jnp.float32)
    quat = jnp.tile(jnp.array([1.0, 0.0, 0.0, 0.0]), (n, 24, 1))
    return Bodies(pos, quat, jnp.zeros((n, 24, 3)), jnp.zeros((n, 24, 3)))


def test_perfect_tracking_scores_one() -> None:
    ref = still()
    still_joints = jnp.zeros((2, 69))
    reward, terms = tracking_reward(RewardConfig(), ref, ref, still_joints, still_joints, jnp.ones(2))
    np.testing.assert_allclose(reward, 1.0, rtol=1e-6)
    for name in ("pos", "rot", "vel", "ang_vel"):
        np.testing.assert_allclose(terms[name], 1.0, rtol=1e-6)


def test_terms_follow_their_formulas() -> None:
    ref = still()
    # every body 0.1 m off in x: mean over bodies and xyz of Δp² is 0.01 / 3
    shifted = ref._replace(pos=ref.pos + jnp.array([0.1, 0.0, 0.0]))
    np.testing.assert_allclose(reward_pos(shifted, ref, 100.0), math.exp(-100 * 0.01 / 3), rtol=1e-5)
    # every body turned 0.2 rad: mean over bodies of Δθ² is 0.04
    turned = jnp.asarray(Rotation.from_rotvec([0.0, 0.2, 0.0]).as_quat(scalar_first=True), jnp.float32)
    rotated = ref._replace(quat=jnp.broadcast_to(turned, ref.quat.shape))
    np.testing.assert_allclose(reward_rot(rotated, ref, 10.0), math.exp(-10 * 0.04), rtol=1e-5)
    # one body moving 1 m/s along z: Δv² averages to 1 / (24 · 3)
    moving = ref._replace(lin_vel=ref.lin_vel.at[:, 5, 2].set(1.0), ang_vel=ref.ang_vel.at[:, 5, 2].set(1.0))
    np.testing.assert_allclose(reward_vel(moving, ref, 0.1), math.exp(-0.1 / 72), rtol=1e-6)
    np.testing.assert_allclose(reward_ang_vel(moving, ref, 0.1), math.exp(-0.1 / 72), rtol=1e-6)


def test_power_penalty_waits_for_the_warmup() -> None:
    ref = still()
    torque, speed = jnp.full((2, 69), 2.0), jnp.full((2, 69), -3.0)
    assert float(power(torque, speed)[0]) == 69 * 6.0
    cfg = RewardConfig()
    reward, terms = tracking_reward(cfg, ref, ref, torque, speed, jnp.array([3, 4]))
    np.testing.assert_allclose(terms["power"], [414.0, 414.0])  # logged at every step
    np.testing.assert_allclose(reward, [1.0, 1.0 - cfg.power_weight * 414.0], rtol=1e-6)


def test_body_errors_global_and_root_relative() -> None:
    ref = still()
    moved = ref._replace(pos=ref.pos + jnp.array([0.3, 0.4, 0.0]))
    error, local = body_errors(moved, ref)
    np.testing.assert_allclose(error, 0.5, rtol=1e-5)
    np.testing.assert_allclose(local, 0.0, atol=1e-6)
    assert len(PROTOCOL_BODIES) == 20
    assert {MUJOCO_BODY_NAMES[i] for i in set(range(24)) - set(PROTOCOL_BODIES)} == \
        {"L_Hand", "R_Hand", "L_Toe", "R_Toe"}


def test_reward_floor_keeps_a_flailing_policy_from_preferring_to_fall() -> None:
    ref = still()
    torque, speed = jnp.full((1, 69), 50.0), jnp.full((1, 69), 10.0)  # 34.5 kW: penalty 17 > tracking 1
    step = jnp.array([10])
    floored, _ = tracking_reward(RewardConfig(), ref, ref, torque, speed, step)
    assert float(floored[0]) == 0.0
    unbounded, _ = tracking_reward(RewardConfig(floor=None), ref, ref, torque, speed, step)
    np.testing.assert_allclose(unbounded, 1.0 - 0.0005 * 34500.0, rtol=1e-6)


def test_protocol_error_ignores_hands_and_toes_in_numpy_and_jax() -> None:
    """The one failure rule: the mean over the 20 protocol bodies, whatever the array library."""
    error = np.full((3, 24), 0.2)
    ends = [MUJOCO_BODY_NAMES.index(n) for n in ("L_Hand", "R_Hand", "L_Toe", "R_Toe")]
    error[:, ends] = 9.0  # far off: not part of the rule
    error[1, 0] = 0.2 + 20 * 0.4  # the root: the mean rises by 0.4 m
    for array in (error, jnp.asarray(error)):
        np.testing.assert_allclose(protocol_error(array), [0.2, 0.6, 0.2], rtol=1e-6)
    assert protocol_error(error[0]).shape == ()
