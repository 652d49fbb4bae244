"""Motion-prior warm start: fit the actor to the reference by supervised learning before RL.

Data: every frame t of every clip (but the last), as the reference state and as
perturbed copies of it (joint angles, root position and orientation, velocities), observed by the
env's own code (`sim.env.observe_states`) under each goal mode the run trains; then, DAgger-style,
the states the fitted actor itself reaches in the training env. Target: the next frame's joint
angles as a normalised action, clip((q_ref[t+1] − offset) / scale, −1, 1).
The flow is fitted with its CFM loss, the Gaussian with its likelihood. Shapes: M samples,
O observation, A action.

A dataset is `Rows` until it is observed: up to `prior.pool` rows are observed at once (every row of
a library of a few hundred clips, fitted as one fixed set); a larger one is fitted on `prior.pool`
rows drawn afresh, with fresh perturbations, for every pass over them, so that its memory does not
grow with the library (an AMASS-size library has ~50 M rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.learn.config import PriorConfig
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.config import run_modes
from humanoid_fpo.sim.env import TrackingEnv, action_for, episodes_at, observe_states, reference, reset, step
from humanoid_fpo.sim.quat import quat_mul



@dataclass(frozen=True)
class Rows:
    """A dataset before it is observed: `count` rows; `decode` maps row indices (n,) to their fields
    (n, k) and `samples` observes such a chunk of rows (with its chunk key) as {"obs", "critic_obs",
    "actions"}."""

    count: int
    decode: Callable[[np.ndarray], np.ndarray]
    samples: Callable[[np.ndarray, int], dict[str, jax.Array]]

    def draw(self, size: int, round_: int = 0, chunk: int = 4096) -> dict[str, torch.Tensor]:
        """Every row in order where there are `size` or fewer; else `size` rows drawn for `round_` (a
        fresh draw, and fresh perturbations, for each round)."""
        if self.count <= size:
            return _chunked(self.decode(np.arange(self.count)), chunk, self.samples)
        rng = np.random.default_rng(round_)
        picked = np.sort(rng.choice(self.count, size, replace=False))  # O(size) memory for a large count
        offset = 1_000_003 * (round_ + 1)  # the chunks' keys: fresh perturbations for each round
        return _chunked(self.decode(picked), chunk, lambda part, k: self.samples(part, k + offset))


def _grid(counts: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """Decode flat indices of the row-major grid of `counts` into (n, len(counts)) coordinates."""
    return lambda index: np.stack(np.unravel_index(index, counts), -1)


def reference_rows(env: TrackingEnv, cfg: PriorConfig, key: jax.Array) -> Rows:
    """Every frame (but a clip's last) × copy × goal mode the run trains: the reference state (copy
    0) or a perturbed one, observed against the next frame, labelled with its joint angles."""
    lib = env.library
    length = np.asarray(lib.clip_length)
    first = np.r_[0, np.cumsum(length - 1)[:-1]]  # each clip's first row among the frames that have a next
    modes = np.asarray(run_modes(env.cfg.conditioning, env.cfg.goal_drop_ratio))

    def samples(part: np.ndarray, k: int) -> dict[str, jax.Array]:
        index, copy, mode = part.T
        clip = np.searchsorted(first, index, side="right") - 1
        return _samples(env, cfg, clip, index - first[clip], copy, modes[mode], jax.random.fold_in(key, k))

    counts = (int((length - 1).sum()), cfg.copies, len(modes))
    return Rows(int(np.prod(counts)), _grid(counts), samples)


def reference_dataset(env: TrackingEnv, cfg: PriorConfig, key: jax.Array,
                      chunk: int = 4096) -> dict[str, torch.Tensor]:
    """{"obs": (M, O), "critic_obs": (M, O), "actions": (M, A)} of every row of `reference_rows`,
    observed `chunk` states at a time (one compiled size; bounded memory on the native backend)."""
    rows = reference_rows(env, cfg, key)
    return rows.draw(rows.count, chunk=chunk)


def _chunked(rows: np.ndarray, chunk: int,
             samples: Callable[[np.ndarray, int], dict[str, jax.Array]]) -> dict[str, torch.Tensor]:
    """`samples` of `rows` (M, k) in chunks of one size (one compiled size; bounded memory on the native
    backend), the last one padded by repeating its last row; called with (chunk rows, chunk index)."""
    size = min(chunk, len(rows))
    parts = []
    for k, start in enumerate(range(0, len(rows), size)):
        part = rows[start:start + size]
        padded = np.concatenate([part, np.repeat(part[-1:], size - len(part), 0)])
        parts.append({name: to_torch(x[:len(part)]) for name, x in samples(padded, k).items()})
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


def _samples(env: TrackingEnv, cfg: PriorConfig, clip: np.ndarray, frame: np.ndarray, copy: np.ndarray,
             mode: np.ndarray, key: jax.Array) -> dict[str, jax.Array]:
    """The observations and target actions of frames `frame` (M,) of clips `clip` (M,) under goal
    modes `mode` (M,), perturbed where `copy` (M,) > 0."""
    episode = episodes_at(env, jnp.asarray(clip), jnp.asarray(frame / env.library.fps, jnp.float32),
                          jnp.asarray(mode, jnp.int32))
    now, then = reference(env, episode, episode.step), reference(env, episode, episode.step + 1)
    qpos, qvel = _perturb(cfg, now.qpos, now.qvel, jnp.asarray(copy > 0), key)
    obs, critic_obs = observe_states(env, episode, qpos, qvel)
    return {"obs": obs, "critic_obs": critic_obs, "actions": action_for(env, then.qpos[:, 7:])}


def visited_dataset(env: TrackingEnv, learner: Learner, steps: int,
                    key: jax.Array) -> dict[str, torch.Tensor]:
    """DAgger relabelling: the states the actor reaches in `env` (the training env: random starts,
    randomisation, restarts) over `steps` control steps, as the env observed them, each labelled
    with its episode's next reference frame; steps × N samples."""
    state, parts = reset(env, key), []
    for _ in range(steps):
        obs = to_torch(state.obs)
        goal = reference(env, state.episode, state.episode.step + 1)
        target = action_for(env, goal.qpos[:, 7:])
        parts.append({"obs": obs, "critic_obs": to_torch(state.critic_obs), "actions": to_torch(target)})
        action = learner.eval_action(obs.to(learner.device), random_x0=True)
        state = step(env, state, to_jax(action.cpu()))
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


def warm_start(learner: Learner, env: TrackingEnv, cfg: PriorConfig, seed: int = 0) -> tuple[list[float], int]:
    """The whole prior: fit on the reference dataset, then
    `cfg.dagger_rounds` rounds of visited states relabelled by the reference's next frame, and more
    fitting. Observations enter the normalisers once each. Returns the loss of every step and the
    number of samples fitted."""
    key = jax.random.key(seed)
    pool = Pool(reference_rows(env, cfg, key), cfg.pool, learner)
    losses = fit(learner, pool, cfg, seed)
    for round_ in range(1, cfg.dagger_rounds + 1):
        pool.add(visited_dataset(env, learner, cfg.dagger_steps, jax.random.fold_in(key, round_)))
        losses += fit(learner, pool, cfg, seed + round_)
    return losses, pool.samples


class Pool:
    """What the prior fits on: `rows` observed (all of them, or `size` drawn afresh for every pass,
    `Rows.draw`) and the DAgger rounds' samples; observations enter the normalisers once each."""

    def __init__(self, rows: Rows, size: int, learner: Learner):
        self.rows, self.size, self.learner, self.passes = rows, size, learner, 0
        self.added: dict[str, torch.Tensor] | None = None
        self.drawn = self._draw()

    @property
    def fixed(self) -> bool:
        """Every row observed once: the same data throughout."""
        return self.rows.count <= self.size

    @property
    def samples(self) -> int:
        return self.rows.count + (0 if self.added is None else len(self.added["actions"]))

    def _draw(self) -> dict[str, torch.Tensor]:
        drawn = self.rows.draw(self.size, self.passes)
        self.passes += 1
        _observe(self.learner, drawn)
        return drawn

    def refresh(self) -> None:
        """The next pass's rows, where they are drawn."""
        if not self.fixed:
            self.drawn = self._draw()

    def add(self, samples: dict[str, torch.Tensor]) -> None:
        _observe(self.learner, samples)
        self.added = samples if self.added is None else \
            {name: torch.cat([self.added[name], samples[name]]) for name in samples}

    def tensors(self) -> dict[str, torch.Tensor]:
        if self.added is None:
            return self.drawn
        return {name: torch.cat([self.drawn[name], self.added[name].to(self.drawn[name].device)])
                for name in self.drawn}


def _observe(learner: Learner, data: dict[str, torch.Tensor]) -> None:
    learner.obs_norm.update(data["obs"].to(learner.device))
    learner.critic_norm.update(data["critic_obs"].to(learner.device))


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


def fit(learner: Learner, data: dict[str, torch.Tensor] | Pool, cfg: PriorConfig,
        seed: int = 0) -> list[float]:
    """`cfg.steps` supervised steps of the actor on `data` (a `Pool` of drawn rows moves to its next
    draw after each pass over it), its observations normalised by the learner's normalisers as they
    stand; the EMA weights start from the result. Returns the loss of every step: the flow's CFM loss
    in noise units, or the Gaussian's negative log-likelihood per action dimension."""
    device = learner.device
    pool = data if isinstance(data, Pool) else None
    per_pass = cfg.steps if pool is None or pool.fixed else max(1, pool.size // cfg.batch)
    policy, generator = learner.policy, torch.Generator(device).manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    losses = []
    for k in range(cfg.steps):
        if k % per_pass == 0:
            if k and pool is not None:
                pool.refresh()
            data = {k: v.to(device) for k, v in (pool.tensors() if pool is not None else data).items()}
        idx = torch.randint(0, data["actions"].shape[0], (cfg.batch,), device=device, generator=generator)
        obs, action = learner.obs_norm(data["obs"][idx]), data["actions"][idx]
        if cfg.action_noise:
            action = action + cfg.action_noise * torch.randn(action.shape, device=device, generator=generator)
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
