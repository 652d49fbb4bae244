"""Clip sampling weights, terrain levels and physical randomisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from humanoid_fpo.sim.config import RandomizeConfig, TerminationCurriculum
from humanoid_fpo.sim.curriculum import clip_probabilities, next_levels, next_termination_distance, update_fail_rate
from humanoid_fpo.sim.engines.mjx import MjxEngine
from humanoid_fpo.sim.quiet_mjx import mjx
from humanoid_fpo.sim.randomize import push, sample_physical


def test_failing_clips_are_drawn_more() -> None:
    np.testing.assert_allclose(clip_probabilities(jnp.zeros(4), 0.5), 0.25, rtol=1e-5)
    p = clip_probabilities(jnp.array([0.0, 0.0, 0.6, 0.2]), 0.5)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    assert p[2] > p[3] > p[0] and p[0] >= 0.5 / 4


def test_fail_rate_moves_only_for_clips_that_ended() -> None:
    rate = jnp.array([0.5, 0.5, 0.5])
    clip = jnp.array([0, 0, 1, 2])
    done = jnp.array([True, True, True, False])
    failed = jnp.array([True, False, False, True])
    new = update_fail_rate(rate, clip, done, failed, smoothing=0.1)
    np.testing.assert_allclose(new, [0.9 * 0.5 + 0.1 * 0.5, 0.9 * 0.5, 0.5], rtol=1e-6)


def test_levels_move_up_on_success_down_on_failure() -> None:
    level = jnp.array([0, 0, 2, 4, 4])
    terminated = jnp.array([True, False, True, False, False])
    truncated = jnp.array([False, True, False, True, False])
    np.testing.assert_array_equal(next_levels(level, terminated, truncated, 5), [0, 1, 1, 4, 4])


def test_termination_distance_tightens_while_episodes_are_long() -> None:
    c = TerminationCurriculum(start=1.0, rate=0.1, tighten_above=30, loosen_below=20)
    step = lambda distance, length: next_termination_distance(c, distance, 0.25, length)
    assert step(1.0, 40) == pytest.approx(0.9) and step(0.5, 40) == pytest.approx(0.45)
    assert step(0.5, 25) == 0.5 and step(0.5, float("nan")) == 0.5  # between the thresholds; no episode
    assert step(0.5, 10) == pytest.approx(0.55)
    assert step(0.26, 40) == 0.25 and step(0.98, 10) == 1.0  # within [final, start]
    off = TerminationCurriculum()
    assert next_termination_distance(off, 0.25, 0.25, 100.0) == 0.25


def test_physical_randomisation_scales_the_model(model) -> None:
    cfg = RandomizeConfig(friction=(0.5, 0.6), mass=(1.2, 1.3), kp=(2.0, 2.1), kv=(3.0, 3.1))
    p = sample_physical(cfg, jax.random.key(0), 3, model.nbody, model.nu)
    assert p.mass.shape == (3, model.nbody) and p.kp.shape == (3, model.nu)
    assert float(p.friction.min()) >= 0.5 and float(p.friction.max()) <= 0.6
    base = mjx.put_model(model)
    engine = MjxEngine(base, mjx.make_data(model), decimation=4, randomized=True)
    one = engine.env_model(jax.tree.map(lambda x: x[1], p))
    np.testing.assert_allclose(one.pair_friction[:, 0], model.pair_friction[:, 0] * p.friction[1], rtol=1e-6)
    np.testing.assert_allclose(one.body_mass, model.body_mass * p.mass[1], rtol=1e-6)
    np.testing.assert_allclose(one.actuator_gainprm[:, 0], model.actuator_gainprm[:, 0] * p.kp[1], rtol=1e-6)
    np.testing.assert_allclose(one.actuator_biasprm[:, 1], model.actuator_biasprm[:, 1] * p.kp[1], rtol=1e-6)
    dofs = model.jnt_dofadr[model.actuator_trnid[:, 0]]
    np.testing.assert_allclose(one.dof_damping[dofs], model.dof_damping[dofs] * p.kv[1], rtol=1e-6)
    np.testing.assert_array_equal(one.dof_damping[:6], model.dof_damping[:6])  # the free root's
    off = sample_physical(RandomizeConfig(friction=None, mass=None, kp=None, kv=None), jax.random.key(0), 3,
                          model.nbody, model.nu)
    assert all(bool(jnp.all(x == 1.0)) for x in off)


def test_pushes_kick_some_roots_horizontally() -> None:
    qvel = jnp.zeros((1000, 75))
    kicked = push(RandomizeConfig(push_velocity=0.5, push_interval=1.0), jax.random.key(1), qvel, 0.25)
    moved = np.asarray(jnp.any(kicked != 0, axis=1))
    assert 0.15 < moved.mean() < 0.35  # probability control_dt / push_interval = 0.25
    assert float(jnp.abs(kicked[:, :2]).max()) <= 0.5 and bool(jnp.all(kicked[:, 2:] == 0))
    assert push(RandomizeConfig(), jax.random.key(1), qvel, 0.25) is qvel
