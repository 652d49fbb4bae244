"""Motion-prior warm start: fit the actor to the reference by supervised learning before RL.

Data: every frame t of every clip (but the last), as the reference state and as perturbed copies of
it (joint angles, root position and orientation, velocities), observed by the env's own code
(`sim.env.observe_states`) under each goal mode the run trains; target: the next frame's joint
angles as a normalised action, clip((q_ref[t+1] − offset) / scale, −1, 1). The flow is fitted with
its CFM loss, the Gaussian with its likelihood. Shapes: M samples, O observation, A action.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.env import TrackingEnv, episodes_at, observe_states, reference
from humanoid_fpo.sim.observations import MODES
from humanoid_fpo.sim.quat import quat_mul


@dataclass(frozen=True)
class PriorConfig:
    steps: int = 0
    """Supervised steps before the first RL iteration (0: no prior)."""
    batch: int = 512
    lr: float = 1e-3
    copies: int = 4
    """States per reference frame: the reference itself and copies - 1 perturbed ones."""
    joint_noise: float = 0.1
    """rad, std of the joint-angle perturbation."""
    root_noise: float = 0.02
    """m and rad, std of the root position and orientation perturbation."""
    velocity_noise: float = 0.3
    """m/s and rad/s, std of the velocity perturbation."""
    critic_iterations: int = 0
    """RL iterations after the prior in which only the critic learns, so that a random critic's
    advantages do not undo the prior."""


def check_prior(cfg: PriorConfig) -> None:
    for name in ("steps", "batch", "copies", "critic_iterations"):
        value, positive = getattr(cfg, name), name in ("batch", "copies")
        if value < positive:
            kind = "positive" if positive else "non-negative"
            raise ValueError(f"prior.{name} must be {kind}, got {value}")


def run_modes(conditioning: str, goal_drop_ratio: float) -> list[int]:
    """Goal modes (indices into MODES) a run trains: its own, and the sparser ones it drops to."""
    base = MODES.index(conditioning)
    return list(range(base, len(MODES) if goal_drop_ratio > 0 else base + 1))


def reference_dataset(env: TrackingEnv, cfg: PriorConfig, key: jax.Array) -> dict[str, torch.Tensor]:
    """{"obs": (M, O), "critic_obs": (M, O), "actions": (M, A)} over every frame, copy and mode."""
    lib = env.library
    clip = np.concatenate([np.full(n - 1, c) for c, n in enumerate(np.asarray(lib.clip_length))])
    frame = np.concatenate([np.arange(n - 1) for n in np.asarray(lib.clip_length)])
    modes = run_modes(env.cfg.conditioning, env.cfg.goal_drop_ratio)
    grid = np.stack(np.meshgrid(np.arange(len(clip)), np.arange(cfg.copies), modes, indexing="ij"), -1)
    index, copy, mode = grid.reshape(-1, 3).T
    episode = episodes_at(env, jnp.asarray(clip[index]), jnp.asarray(frame[index] / lib.fps, jnp.float32),
                          jnp.asarray(mode, jnp.int32))
    now, then = reference(env, episode, episode.step), reference(env, episode, episode.step + 1)
    qpos, qvel = _perturb(cfg, now.qpos, now.qvel, jnp.asarray(copy > 0), key)
    obs, critic_obs = observe_states(env, episode, qpos, qvel)
    actions = jnp.clip((then.qpos[:, 7:] - env.action_offset) / env.action_scale, -1.0, 1.0)
    return {"obs": to_torch(obs), "critic_obs": to_torch(critic_obs), "actions": to_torch(actions)}


def _perturb(cfg: PriorConfig, qpos: jax.Array, qvel: jax.Array, which: jax.Array,
             key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """qpos (M, nq), qvel (M, nv) with noise where `which` (M,): joints, root position, a small root
    rotation about a random axis, and every velocity."""
    k_joint, k_pos, k_rot, k_vel = jax.random.split(key, 4)
    on = which[:, None].astype(qpos.dtype)
    joints = qpos[:, 7:] + on * cfg.joint_noise * jax.random.normal(k_joint, qpos[:, 7:].shape)
    position = qpos[:, :3] + on * cfg.root_noise * jax.random.normal(k_pos, qpos[:, :3].shape)
    half = 0.5 * on * cfg.root_noise * jax.random.normal(k_rot, qpos[:, :3].shape)  # small-angle quaternion
    turn = jnp.concatenate([jnp.ones_like(half[:, :1]), half], -1)
    turn = turn / jnp.linalg.norm(turn, axis=-1, keepdims=True)
    qpos = jnp.concatenate([position, quat_mul(turn, qpos[:, 3:7]), joints], -1)
    return qpos, qvel + on * cfg.velocity_noise * jax.random.normal(k_vel, qvel.shape)


def fit(learner: Learner, data: dict[str, torch.Tensor], cfg: PriorConfig, seed: int = 0) -> list[float]:
    """`cfg.steps` supervised steps of the actor on `data` (after folding its observations into the
    normalisers); the EMA weights start from the result. Returns the loss of every step: the flow's
    CFM loss in noise units, or the Gaussian's negative log-likelihood per action dimension."""
    device = learner.device
    data = {k: v.to(device) for k, v in data.items()}
    learner.obs_norm.update(data["obs"])
    learner.critic_norm.update(data["critic_obs"])
    policy, generator = learner.policy, torch.Generator(device).manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    losses = []
    for _ in range(cfg.steps):
        idx = torch.randint(0, data["actions"].shape[0], (cfg.batch,), device=device, generator=generator)
        obs, action = learner.obs_norm(data["obs"][idx]), data["actions"][idx]
        loss = _loss(learner, obs, action, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if learner.ema is not None:
        learner.ema.load_state_dict(policy.state_dict())
    return losses


def _loss(learner: Learner, obs: torch.Tensor, action: torch.Tensor,
          generator: torch.Generator) -> torch.Tensor:
    policy = learner.policy
    if learner.cfg.policy == "gaussian":
        return -policy.distribution(obs).log_prob(action).mean()
    b, s = action.shape[0], learner.cfg.n_mc
    tau = torch.rand(b, s, device=obs.device, generator=generator)
    eps = policy.noise_std * torch.randn(b, s, action.shape[1], device=obs.device, generator=generator)
    return policy.cfm(obs, action, tau, eps)[0].mean()
