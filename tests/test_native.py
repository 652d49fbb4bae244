"""The native backend (MuJoCo C on CPU threads) against MJX, and what only the native backend does.

Both backends run the evaluation-protocol env over the shared library (conftest's `eval_envs`: the
native one is test_env.py's, the MJX twin compiles for replay there and for the steps here).
The PD damping is joint damping (body/humanoid.py), so the engines agree also where
actuators reach their force limits; what remains comes from contacts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from humanoid_fpo.body.humanoid import ASSET_PATH
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.engines.native import NativeEngine
from humanoid_fpo.sim.env import TrackingEnv, make_env, mean_pose, observe_states, reference, reset, step
from humanoid_fpo.sim.randomize import scaled_fields


@pytest.fixture(scope="module")
def envs(eval_envs) -> dict[str, TrackingEnv]:
    return eval_envs


def start(env: TrackingEnv):
    return reset(env, jax.random.key(0), np.arange(env.num_envs))


def saturates(env: TrackingEnv, state, action: jax.Array) -> np.ndarray:
    """(N,) whether any actuator reaches its force limit during the control step (MuJoCo C)."""
    m = env.mj_model
    ctrl = np.asarray(env.action_offset + env.action_scale * jnp.clip(action, -1, 1))
    limit = m.actuator_forcerange[:, 1] - 1e-6
    out = np.zeros(env.num_envs, bool)
    for i in range(env.num_envs):
        d = mujoco.MjData(m)  # a reset state: zero solver warm start, as the envs have
        d.qpos, d.qvel, d.ctrl = np.asarray(state.data.qpos[i]), np.asarray(state.data.qvel[i]), ctrl[i]
        for _ in range(env.cfg.decimation):
            mujoco.mj_step(m, d)
            out[i] |= bool((np.abs(d.actuator_force) >= limit).any())
    return out


def test_reset_states_agree(envs) -> None:
    """The same reference states give the same observations: MuJoCo C's kinematics equal MJX's."""
    mjx_state, native_state = (start(envs[b]) for b in ("mjx", "native"))
    np.testing.assert_allclose(np.asarray(native_state.obs), np.asarray(mjx_state.obs), atol=2e-5)
    np.testing.assert_allclose(np.asarray(native_state.info["body_error"]),
                               np.asarray(mjx_state.info["body_error"]), atol=1e-5)
    # any number of states, not only the env's batch (the native engine is sized per call)
    few = jax.tree.map(lambda x: x[:3], native_state.episode)
    actor, _ = observe_states(envs["native"], few, native_state.data.qpos[:3], native_state.data.qvel[:3])
    np.testing.assert_allclose(np.asarray(actor), np.asarray(native_state.obs[:3]), atol=1e-6)


def test_one_control_step_agrees(envs) -> None:
    """From every clip's first frame, with the next frame's joint angles as PD targets. Most envs
    agree to float32 precision; where the feet push on the ground, MJX's float32 contact solver
    and MuJoCo C's leave millimetres in poses and up to ~0.2 in velocities (measured 0.17)."""
    states = {b: start(envs[b]) for b in envs}
    env = envs["native"]
    ref = reference(env, states["native"].episode, states["native"].episode.step + 1)
    action = (ref.qpos[:, 7:] - env.action_offset) / env.action_scale
    workspace = env.engine.workspaces(env.num_envs)
    inside = workspace.physics_s
    a, b = (step(envs[k], states[k], action) for k in ("mjx", "native"))
    jax.block_until_ready(b)
    assert workspace.physics_s > inside  # the seconds inside MuJoCo, bench_train's split of the env's time
    exact = np.abs(np.asarray(b.obs) - np.asarray(a.obs)).max(1) < 1e-4
    assert exact.mean() >= 0.5, f"only {exact.sum()} of {exact.size} envs agree to 1e-4"
    layout = env.layout
    for name in ("root_height", "body_pos", "body_rot"):
        np.testing.assert_allclose(b.obs[:, layout[name]], a.obs[:, layout[name]], atol=1e-2)
    for name in ("body_lin_vel", "body_ang_vel", "goal"):
        np.testing.assert_allclose(b.obs[:, layout[name]], a.obs[:, layout[name]], atol=0.5)
    np.testing.assert_allclose(b.reward, a.reward, atol=5e-4)
    np.testing.assert_allclose(b.info["body_error"], a.info["body_error"], atol=5e-3)  # m


def test_saturated_actuators_agree_too(envs, shared_motions) -> None:
    """Random PD targets that drive every env (one per clip, the real clips among them) into its
    force limits: the PD damping is joint damping (body/humanoid.py), so saturation does not split the
    engines (with the damping in the actuators, no saturated env agreed). What differs comes from
    contacts, as above."""
    states = {b: start(envs[b]) for b in envs}
    env = envs["native"]
    action = jax.random.uniform(jax.random.key(5), (env.num_envs, env.action_size), minval=-0.5, maxval=0.5)
    a, b = (step(envs[k], states[k], action) for k in ("mjx", "native"))
    assert saturates(env, states["native"], action).all()
    exact = np.abs(np.asarray(b.obs) - np.asarray(a.obs)).max(1) < 1e-4
    assert exact.mean() >= 0.3, f"only {exact.sum()} of {exact.size} saturated envs agree to 1e-4"


def test_zero_actions_from_standing_terminate_alike(envs, shared_motions) -> None:
    """The trainer's zero action (PD targets at the library's mean pose, a standing pose; these envs'
    own zero is mid-range, over the real clips too) from the stand clip's first frame: both fall,
    within 2 steps of each other."""
    ended = {}
    for backend, env in envs.items():
        stand = env.library.clip_names.index("stand")
        state = reset(env, jax.random.key(2), np.full(env.num_envs, stand))
        mean = (jnp.asarray(mean_pose(env.library)) - env.action_offset) / env.action_scale
        action = jnp.broadcast_to(mean, (env.num_envs, env.action_size))
        for k in range(1, 151):
            state = step(env, state, action)
            if bool(state.terminated[0]):
                ended[backend] = k
                break
    print(f"zero actions from standing: terminated at control step {ended}")
    assert ended.keys() == {"mjx", "native"} and abs(ended["mjx"] - ended["native"]) <= 2


def test_randomised_envs_get_their_own_native_models(tracking_library) -> None:
    env = make_env(EnvConfig(num_envs=4, backend="native"), tracking_library)  # default randomisation
    state = reset(env, jax.random.key(3))
    physical = jax.tree.map(np.asarray, state.episode.physical)
    expected = scaled_fields(env.mj_model, physical)
    batch = env.engine.workspaces(env.num_envs).batch
    models = [batch.get_model(i) for i in range(env.num_envs)]
    for name, values in expected.items():
        got = np.stack([getattr(m, name) for m in models])
        np.testing.assert_allclose(got, values, rtol=1e-6)
        assert not np.allclose(got[0], got[1]), f"{name} is the same in two randomised envs"
    state = step(env, state, jnp.zeros((env.num_envs, env.action_size)))  # they step on those models
    assert bool(jnp.isfinite(state.obs).all())


def test_bad_backend_is_named_before_compiling(tracking_library, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown env.backend 'gpu'; choose from mjx, native, warp, auto"):
        make_env(EnvConfig(num_envs=2, backend="gpu"), tracking_library)
    implicit = tmp_path / "humanoid.xml"  # an integrator MJX does not implement
    implicit.write_text(ASSET_PATH.read_text().replace('integrator="implicitfast"', 'integrator="implicit"'))
    cfg = EnvConfig(num_envs=2, model_path=str(implicit))
    with pytest.raises(ValueError, match="backend=mjx cannot run this scene .*INT_IMPLICIT.*backend=native"):
        make_env(replace(cfg, backend="mjx"), tracking_library)
    assert isinstance(make_env(replace(cfg, backend="native"), tracking_library).engine, NativeEngine)


def test_a_new_engine_is_one_module_and_one_line(tracking_library, monkeypatch) -> None:
    """A toy engine (tests/toy_engine.py: joints reach their PD targets at once, the root stays) runs
    `reset` and `step` through the same task once ENGINES names it, and the teacher plans on it."""
    from humanoid_fpo.sim import config
    from humanoid_fpo.sim.env import action_for, eval_config
    from humanoid_fpo.teacher.config import TeacherConfig
    from humanoid_fpo.teacher.mppi import ClipReference, Teacher

    monkeypatch.setitem(config.ENGINES, "kinematic", "toy_engine")
    env = make_env(eval_config(EnvConfig(backend="kinematic"), 2), tracking_library)
    clips = jnp.array([tracking_library.clip_names.index(n) for n in ("walk", "squat")])
    state = reset(env, jax.random.key(0), clips)
    start = reference(env, state.episode, state.episode.step)
    np.testing.assert_allclose(state.data.qpos, start.qpos, atol=1e-6)  # reference-state initialisation
    goal = reference(env, state.episode, state.episode.step + 1)
    state = step(env, state, action_for(env, goal.qpos[:, 7:]))
    low, high = env.action_offset - env.action_scale, env.action_offset + env.action_scale
    joints = jnp.clip(goal.qpos[:, 7:], low, high)
    np.testing.assert_allclose(state.data.qpos[:, 7:], joints, atol=1e-5)  # the engine's physics
    np.testing.assert_allclose(state.data.qpos[:, :7], start.qpos[:, :7], atol=1e-6)
    assert (np.asarray(state.info["episode_length"]) == 1).all() and not np.asarray(state.terminated).any()
    assert np.isfinite(np.asarray(state.obs)).all() and (np.asarray(state.reward) > 0).all()  # the task's
    teacher = Teacher(env.engine, env.mj_model, TeacherConfig(samples=2, horizon=6),
                      np.asarray(env.action_offset), np.asarray(env.action_scale), env.cfg.decimation)
    run = teacher.track(ClipReference.of(tracking_library, int(clips[0])).part(0, 3))
    assert run.target.shape == (2, env.action_size) and np.isfinite(run.cost).all()
