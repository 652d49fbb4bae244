"""The tracking env end to end: kinematic replay, falls, seeds, NaN containment, masks, curriculum.

Two native-backend envs are compiled once each and shared: FLAT (the evaluation protocol on a
plane) and ROUGH (training settings on every terrain type, with all randomisation on); kinematic
replay also runs on FLAT's MJX twin. The library holds the built-in clips, plus the 33 real ASAP
clips where ../shared/motions is present. test_native.py compares the backends step by step.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from humanoid_fpo.motion.library import MotionLibrary
from humanoid_fpo.motion.source import MotionFileError
from humanoid_fpo.sim.config import MODES, TERRAIN_TYPES, EnvConfig, RandomizeConfig, TerrainConfig
from humanoid_fpo.sim.env import (TrackingEnv, make_env, reference, replay, reset, step, with_levels,
                                  with_termination_distance)
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES


TRACKING_TERMS = ("reward/pos", "reward/rot", "reward/vel", "reward/ang_vel")


@pytest.fixture(scope="module")
def library(tracking_library) -> MotionLibrary:
    return tracking_library


def all_clips(env: TrackingEnv) -> np.ndarray:
    return np.arange(env.num_envs) % env.library.num_clips


@pytest.fixture(scope="module")
def flat(eval_envs) -> TrackingEnv:
    return eval_envs["native"]


@pytest.fixture(scope="module")
def rough(library) -> TrackingEnv:
    cfg = EnvConfig(num_envs=max(library.num_clips, 16), backend="native", goal_drop_ratio=0.5,
                    terrain=TerrainConfig(types=TERRAIN_TYPES, num_levels=3, init_max_level=2),
                    randomize=RandomizeConfig(push_velocity=0.5, obs_noise=0.01))
    return make_env(cfg, library)


def assert_tracks(state) -> None:
    assert not bool(state.terminated.any()), "kinematic replay terminated"
    for name in TRACKING_TERMS:
        worst = float(state.info[name].min())
        assert worst > 0.99, f"{name} fell to {worst:.4f} in kinematic replay"


@pytest.mark.parametrize("backend", ["native", "mjx"])
def test_replay_of_real_clips_on_flat_ground(eval_envs, backend: str, shared_motions) -> None:
    flat = eval_envs[backend]
    state = reset(flat, jax.random.key(0), all_clips(flat))
    assert sum("asap_smpl" in source for source in flat.library.clip_sources) == 33
    np.testing.assert_array_equal(np.asarray(state.episode.clip), np.arange(flat.num_envs))
    finished = np.zeros(flat.num_envs, dtype=bool)
    for _ in range(int(flat.library.clip_length.max())):
        state = replay(flat, state)
        assert_tracks(state)
        finished |= np.asarray(state.truncated)
    assert finished.all(), "every clip should reach its end"


def test_replay_on_rough_terrain_and_ground_height(rough, shared_motions) -> None:
    model = rough.mj_model
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    height = rough.layout["root_height"].start
    state = reset(rough, jax.random.key(1), all_clips(rough))
    ground_seen = []
    for _ in range(90):
        state = replay(rough, state)
        assert_tracks(state)
        root = np.asarray(state.data.qpos[:, :3])
        ground = np.array([4.0 - mujoco.mj_rayHfield(model, data, 0, np.array([x, y, 4.0]),
                                                     np.array([0.0, 0.0, -1.0])) for x, y, _ in root])
        np.testing.assert_allclose(np.asarray(state.critic_obs[:, height]), root[:, 2] - ground, atol=1e-4)
        ground_seen.append(np.abs(ground))
    assert np.max(ground_seen) > 0.1, "the replay should cross uneven ground"


def test_zero_actions_fall_and_terminate(flat) -> None:
    stand = flat.library.clip_names.index("stand")
    state = reset(flat, jax.random.key(2), np.full(flat.num_envs, stand))
    start_qpos = np.asarray(state.data.qpos)
    zeros = jnp.zeros((flat.num_envs, flat.action_size))
    ended_at = np.zeros(flat.num_envs, dtype=int)
    for k in range(1, 151):
        state = step(flat, state, zeros)
        error = np.asarray(state.info["body_error"])[:, PROTOCOL_BODIES].mean(axis=1)
        np.testing.assert_array_equal(np.asarray(state.terminated), error > 0.5)
        new = np.asarray(state.terminated) & (ended_at == 0)
        if new.any():
            assert np.all(np.asarray(state.info["episode_length"])[new] == k)
            fallen = np.asarray(state.info["body_pos"])[new, 0, 2]  # pelvis, before the restart
            assert np.all(fallen < 0.7 * start_qpos[new, 2]), "terminated without falling"
            # the evaluation protocol restarts the same clip at frame 0 with no heading change
            assert np.all(np.asarray(state.episode.clip)[new] == stand)
            assert np.all(np.asarray(state.episode.step)[new] == 0)
            np.testing.assert_allclose(np.asarray(state.data.qpos)[new], start_qpos[new], atol=1e-6)
            ended_at[new] = k
        if ended_at.all():
            break
    assert ended_at.all(), "zero actions should make every standing humanoid fall"
    print(f"zero actions from standing: terminated at control step {ended_at.min()}-{ended_at.max()}")


def test_termination_distance_is_part_of_the_state(flat) -> None:
    """The curriculum's hook moves the distance without a new env: at 0 m every env fails at once."""
    state = reset(flat, jax.random.key(2), all_clips(flat))
    assert float(state.termination_distance) == flat.cfg.termination_distance
    zeros = jnp.zeros((flat.num_envs, flat.action_size))
    assert not bool(step(flat, state, zeros).terminated.any())
    strict = with_termination_distance(state, 0.0)
    after = step(flat, strict, zeros)
    assert bool(after.terminated.all()) and float(after.termination_distance) == 0.0


def test_reference_pd_targets_hold_a_standing_humanoid(flat) -> None:
    """PD gains stiff enough to stand: the reference joint angles as targets track the stand clip."""
    stand = flat.library.clip_names.index("stand")
    state = reset(flat, jax.random.key(8), np.full(flat.num_envs, stand))
    for _ in range(int(flat.library.clip_length[stand]) - 1):
        target = reference(flat, state.episode, state.episode.step + 1).qpos[:, 7:]
        state = step(flat, state, (target - flat.action_offset) / flat.action_scale)
        assert not bool(state.terminated.any())
        assert float(state.info["body_error"].mean()) < 0.1
    assert bool(state.truncated.all())


def rollout(env: TrackingEnv, key: jax.Array, steps: int):
    state = reset(env, key, all_clips(env))
    actions = jax.random.uniform(jax.random.key(9), (steps, env.num_envs, env.action_size), minval=-0.3,
                                 maxval=0.3)
    states = []
    for a in actions:
        state = step(env, state, a)
        states.append(state)
    return states


def test_same_seed_same_rollout(rough) -> None:
    first, again, other = (rollout(rough, jax.random.key(s), 12) for s in (3, 3, 4))
    for a, b in zip(first, again):
        a, b = (s.replace(rng=jax.random.key_data(s.rng)) for s in (a, b))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(first[-1].obs), np.asarray(other[-1].obs))
    assert all(bool(jnp.isfinite(s.obs).all()) for s in first)
    assert any(bool(s.done.any()) for s in first), "12 steps of random actions should end some episodes"


def test_blown_up_physics_is_contained(rough) -> None:
    state = reset(rough, jax.random.key(5), all_clips(rough))
    broken = state.replace(data=state.data.replace(qvel=state.data.qvel.at[0, 10].set(jnp.nan)))
    zeros = jnp.zeros((rough.num_envs, rough.action_size))
    clean, contained = step(rough, state, zeros), step(rough, broken, zeros)
    assert bool(contained.info["physics_reset"][0]) and bool(contained.terminated[0])
    assert float(contained.reward[0]) == 0.0
    assert int(contained.episode.step[0]) == 0  # restarted
    c = contained
    for leaf in jax.tree.leaves((c.data.qpos, c.data.qvel, c.obs, c.critic_obs, c.reward, c.info)):
        assert bool(jnp.isfinite(leaf).all())
    same = ~np.asarray(clean.done)
    same[0] = False
    assert same.sum() > 0
    np.testing.assert_array_equal(np.asarray(contained.obs)[same], np.asarray(clean.obs)[same])
    assert int(clean.info["physics_reset"].sum()) == 0


def test_goal_masks_in_the_env(rough) -> None:
    state = reset(rough, jax.random.key(6), all_clips(rough))
    mode = np.asarray(state.episode.mode)
    assert len(set(mode.tolist())) >= 2, "goal_drop_ratio 0.5 should mix modes"
    goal, flags = rough.layout["goal"], rough.layout["goal_mask"]
    masks = np.asarray(rough.masks)[mode]
    actor = np.asarray(state.obs[:, goal]).reshape(-1, 24, 24)
    critic = np.asarray(state.critic_obs[:, goal]).reshape(-1, 24, 24)
    np.testing.assert_array_equal(actor, critic * masks)
    np.testing.assert_array_equal(np.asarray(state.obs[:, flags]), masks.max(axis=2))
    assert state.obs.shape == state.critic_obs.shape == (rough.num_envs, rough.obs_size)
    for name, m in zip(MODES, range(3)):
        assert masks[mode == m].sum() in (0, (mode == m).sum() * {"full": 576, "hands": 18, "root": 6}[name])


def test_failures_raise_clip_weights_and_lower_levels(rough) -> None:
    state = with_levels(reset(rough, jax.random.key(7), all_clips(rough)), jnp.full(rough.num_envs, 2))
    zeros = jnp.zeros((rough.num_envs, rough.action_size))
    for _ in range(10):
        state = step(rough, state, zeros)
        failed = np.asarray(state.terminated)
        if failed.any():
            break
    assert failed.any()
    np.testing.assert_array_equal(np.asarray(state.episode.level)[failed], 1)
    tile = np.asarray(state.episode.tile)[failed]
    centres = np.asarray(rough.terrain.tile_centres)[1, tile]
    np.testing.assert_allclose(np.asarray(state.data.qpos)[failed, :2], centres, atol=1e-4)
    rate = np.asarray(state.clip_fail_rate)
    failed_clips = np.unique(np.asarray(state.info["clip"])[failed])
    assert np.all(rate[failed_clips] > 0) and rate.sum() > 0


def test_bad_input_is_named(library, model) -> None:
    with pytest.raises(ValueError, match="motion library is empty"):
        make_env(EnvConfig(num_envs=2), replace(library, clip_start=library.clip_start[:0],
                                                clip_length=library.clip_length[:0], clip_names=(),
                                                clip_sources=()))
    with pytest.raises(MotionFileError, match="made for another humanoid: 63 joint DoF"):
        make_env(EnvConfig(num_envs=2), replace(library, qpos=library.qpos[:, :70]))
    with pytest.raises(ValueError, match="unknown terrain type.*'ice'"):
        make_env(EnvConfig(num_envs=2, terrain=TerrainConfig(types=("flat", "ice"))), library)
    with pytest.raises(ValueError, match="unknown conditioning mode 'feet'"):
        make_env(EnvConfig(num_envs=2, conditioning="feet"), library)
    with pytest.raises(ValueError, match="does not divide control_dt"):
        make_env(EnvConfig(num_envs=2, physics_dt=0.01), library)


def test_step_compiles_once_for_torch_actions(library) -> None:
    """reset's state is committed to the device like every later state (the trainer's actions come
    from torch by DLPack, which commits them), so an env's step compiles once, not once for the
    first call and again for the rest (8 s each for a native env here, more for MJX)."""
    import torch

    from humanoid_fpo.learn.bridge import to_jax

    env = make_env(EnvConfig(num_envs=2, backend="native"), library)
    action = to_jax(torch.zeros(2, env.action_size))
    before = step._cache_size()
    state = reset(env, jax.random.key(0))
    for _ in range(3):
        state = step(env, state, action)
    assert step._cache_size() - before == 1
