"""The motion prior: its data is the env's own observation of reference states, fitting lowers the
loss, bad settings are named."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pytest
import torch

from humanoid_fpo.evaluate import reference_policy
from humanoid_fpo.learn.config import AlgoConfig, NetConfig, PriorConfig, check_prior
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.prior import fit, reference_dataset, visited_dataset, warm_start
from humanoid_fpo.sim.config import run_modes
from humanoid_fpo.sim.env import reference, reset


def test_a_reference_state_gives_the_env_observation(eval_envs) -> None:
    """Unperturbed samples (copies=1) of each clip's first frame equal the env's observation at a
    reset to that frame (the evaluation env: frame 0, no heading change, no noise)."""
    env = eval_envs["native"]
    data = reference_dataset(env, PriorConfig(copies=1), jax.random.key(0))
    lengths = np.asarray(env.library.clip_length)
    first = np.concatenate([[0], np.cumsum(lengths - 1)[:-1]])  # row of each clip's frame 0
    assert data["obs"].shape == (int((lengths - 1).sum()), env.obs_size)
    state = reset(env, jax.random.key(1), np.arange(env.num_envs))
    np.testing.assert_allclose(data["obs"][first].numpy(), np.asarray(state.obs), atol=1e-5)
    np.testing.assert_allclose(data["critic_obs"][first].numpy(), np.asarray(state.critic_obs), atol=1e-5)
    chunked = reference_dataset(env, PriorConfig(copies=1), jax.random.key(0), chunk=7)  # padded last chunk
    for name, x in data.items():
        np.testing.assert_allclose(chunked[name].numpy(), x.numpy(), atol=1e-5, err_msg=name)
    target = reference(env, state.episode, state.episode.step + 1).qpos[:, 7:]
    expected = np.clip((target - env.action_offset) / env.action_scale, -1, 1)
    np.testing.assert_allclose(data["actions"][first].numpy(), np.asarray(expected), atol=1e-6)


def test_perturbed_copies_differ_and_keep_their_targets(eval_envs) -> None:
    env = eval_envs["native"]
    data = reference_dataset(env, PriorConfig(copies=3), jax.random.key(0))
    obs = data["obs"].numpy().reshape(-1, 3, env.obs_size)  # (frames, copies, O)
    assert np.abs(obs[:, 1] - obs[:, 0]).max() > 0.05 and np.abs(obs[:, 2] - obs[:, 1]).max() > 0.05
    actions = data["actions"].numpy().reshape(-1, 3, env.action_size)
    np.testing.assert_array_equal(actions[:, 1], actions[:, 0])  # same targets: the next reference frame
    assert run_modes("full", 0.0) == [0] and run_modes("hands", 0.5) == [1, 2]
    assert run_modes("root", 0.3) == [2]


@pytest.mark.parametrize("policy", ["flow", "gaussian"])
def test_fitting_lowers_the_loss_on_a_tiny_set(policy: str) -> None:
    torch.manual_seed(0)
    tiny = NetConfig((32,))
    learner = Learner(replace(AlgoConfig(), policy=policy, actor=tiny, critic=tiny, n_mc=4), 6, 6, 3)
    obs = torch.randn(64, 6)
    data = {"obs": obs, "critic_obs": obs, "actions": torch.tanh(obs[:, :3] @ torch.randn(3, 3))}
    losses = fit(learner, data, PriorConfig(steps=300, batch=32, lr=3e-3))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    ema = learner.eval_policy.state_dict()
    assert all(torch.equal(v, learner.policy.state_dict()[k]) for k, v in ema.items())


def test_action_noise_keeps_the_flow_s_spread() -> None:
    """Fitted to noiseless targets a flow narrows towards one action per state; with action_noise
    σ it keeps about σ of spread for RL to explore with."""
    obs = torch.randn(64, 6)
    data = {"obs": obs, "critic_obs": obs, "actions": 0.5 * torch.tanh(obs[:, :3])}
    spreads = []
    for noise in (0.0, 0.05):
        torch.manual_seed(0)
        small = NetConfig((64, 64))
        learner = Learner(replace(AlgoConfig(), actor=small, critic=small, n_mc=4, noise_std=0.05), 6, 6, 3)
        fit(learner, data, PriorConfig(steps=1000, batch=64, lr=3e-3, action_noise=noise))
        spreads.append(learner.action_spread(obs, samples=32))
    assert spreads[0] < 0.5 * spreads[1] and 0.04 < spreads[1] < 0.07, spreads  # measured: 0.018, 0.053


def test_dagger_relabels_the_states_the_actor_reaches(eval_envs) -> None:
    env = eval_envs["native"]
    tiny = NetConfig((32,))
    learner = Learner(replace(AlgoConfig(), actor=tiny, critic=tiny, n_mc=2, flow_steps=2), env.obs_size,
                      env.obs_size, env.action_size)
    visited = visited_dataset(env, learner, 3, jax.random.key(2))
    n = env.num_envs
    assert visited["obs"].shape == (3 * n, env.obs_size)
    assert visited["actions"].shape == (3 * n, env.action_size)
    state = reset(env, jax.random.key(2))
    np.testing.assert_allclose(visited["obs"][:n].numpy(), np.asarray(state.obs), atol=1e-6)
    target = reference(env, state.episode, state.episode.step + 3).qpos[:, 7:]  # the third state's label
    expected = np.clip((target - env.action_offset) / env.action_scale, -1, 1)
    np.testing.assert_allclose(visited["actions"][2 * n:].numpy(), np.asarray(expected), atol=1e-5)
    assert np.abs(visited["obs"][2 * n:].numpy() - visited["obs"][:n].numpy()).max() > 0.01, "it moved"

    cfg = PriorConfig(steps=5, batch=8, copies=1, dagger_rounds=2, dagger_steps=3)
    losses, samples = warm_start(learner, env, cfg)
    frames = int((np.asarray(env.library.clip_length) - 1).sum())
    assert len(losses) == 15 and samples == frames + 2 * 3 * n


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="prior.steps must be non-negative, got -5"):
        check_prior(PriorConfig(steps=-5))
    with pytest.raises(ValueError, match="prior.copies must be positive, got 0"):
        check_prior(PriorConfig(copies=0))
    with pytest.raises(ValueError, match="prior.dagger_steps must be positive, got 0"):
        check_prior(PriorConfig(dagger_steps=0))
    with pytest.raises(ValueError, match="prior.action_noise must be non-negative, got -0.1"):
        check_prior(PriorConfig(action_noise=-0.1))


def test_reference_policy_plays_the_next_frames(eval_envs) -> None:
    """The open-loop ceiling of a prior: its k-th action is each clip's frame k as a target."""
    env = eval_envs["native"]
    state = reset(env, jax.random.key(1), np.arange(env.num_envs))
    act = reference_policy(env)
    for k in (1, 2):
        target = reference(env, state.episode, state.episode.step + k).qpos[:, 7:]
        expected = np.clip((target - env.action_offset) / env.action_scale, -1, 1)
        np.testing.assert_allclose(act(torch.zeros(1)).numpy(), np.asarray(expected), atol=1e-5)


def _tiled(library, times: int):
    """`library`'s clips repeated `times` times under new names: a library of many clips, cheaply."""
    from humanoid_fpo.motion.library import _FRAME_FIELDS

    n = len(library.qpos)
    return replace(library, **{k: np.concatenate([getattr(library, k)] * times) for k in _FRAME_FIELDS},
                   clip_start=np.concatenate([library.clip_start + i * n for i in range(times)]),
                   clip_length=np.tile(library.clip_length, times),
                   fit_error=np.tile(library.fit_error, times),
                   contact_error=np.tile(library.contact_error, times),
                   clip_sources=library.clip_sources * times,
                   clip_names=tuple(f"{name}.{i}" for i in range(times) for name in library.clip_names))


def test_a_thousand_clips_stay_within_their_memory_bound(eval_envs) -> None:
    """~1,000 clips (~140 k frames): the library holds 463 floats a frame and nothing more; the prior
    draws `prior.pool` of its ~1.7 M rows afresh for every pass (a new draw each time, the normalisers
    fed once per draw), never the whole grid of rows: numpy's peak while drawing stays within twice
    the drawn samples' bytes (~11 MB) where the rows' grid alone would take 40 MB."""
    import tracemalloc

    from humanoid_fpo.learn.prior import Pool, reference_rows
    from humanoid_fpo.sim.env import make_env

    small = eval_envs["native"]
    big = _tiled(small.library, -(-999 // small.library.num_clips))
    frames = len(big.qpos)
    assert big.num_clips >= 999 and frames > 130_000
    assert sum(np.asarray(x).nbytes for x in jax.tree.leaves(big)) <= frames * 463 * 4 + 64 * big.num_clips
    env = make_env(small.cfg, big)
    cfg = PriorConfig(copies=4, pool=512, batch=256, steps=4)
    rows = reference_rows(env, cfg, jax.random.key(0))
    assert rows.count == (frames - big.num_clips) * 4
    tiny = NetConfig((32,))
    learner = Learner(replace(AlgoConfig(), actor=tiny, critic=tiny, n_mc=2), env.obs_size, env.obs_size,
                      env.action_size)
    pool = Pool(rows, cfg.pool, learner)  # the first draw compiles the observation of 512 states
    assert pool.drawn["obs"].shape == (512, env.obs_size) and not pool.fixed
    drawn_bytes = sum(x.numel() * x.element_size() for x in pool.drawn.values())
    first = pool.drawn["obs"].clone()
    tracemalloc.start()
    pool.refresh()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * drawn_bytes + 2e6 < 40e6, (peak, drawn_bytes)  # the pool's size, not the library's
    assert not torch.equal(pool.drawn["obs"], first)  # a fresh draw
    losses = fit(learner, pool, cfg)
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert pool.passes == 3  # fit: its first pass on the pool as drawn, then a new draw for the second
    assert learner.obs_norm.count == 3 * 512  # each draw's observations entered the normaliser once
