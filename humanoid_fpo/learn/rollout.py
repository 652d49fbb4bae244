"""Collect one rollout from a batched env into storage; the env is anything with `VecEnv`'s shape."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch

from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.storage import RolloutStorage


class Transition(NamedTuple):
    obs: torch.Tensor  # (N, O) actor observation after the step (of the new episode where one ended)
    critic_obs: torch.Tensor  # (N, Oc)
    reward: torch.Tensor  # (N,)
    terminated: torch.Tensor  # (N,) bool: failed, no bootstrapping
    truncated: torch.Tensor  # (N,) bool: time limit or clip end, bootstrapped
    info: dict[str, torch.Tensor]  # per-env extras of the step, (N, ...)


class VecEnv(Protocol):
    num_envs: int
    obs_size: int
    critic_obs_size: int
    action_size: int

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]: ...

    def step(self, action: torch.Tensor) -> Transition: ...


class EpisodeTracker:
    """Sums rewards per env and, without host syncs, the returns and lengths of finished episodes."""

    def __init__(self, num_envs: int, device: torch.device):
        self.returns = torch.zeros(num_envs, device=device)
        self.lengths = torch.zeros(num_envs, device=device)
        self.totals = torch.zeros(3, device=device)  # episodes, summed return, summed length

    def add(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        self.returns += reward
        self.lengths += 1
        d = done.float()
        self.totals += torch.stack([d.sum(), (self.returns * d).sum(), (self.lengths * d).sum()])
        self.returns *= 1 - d
        self.lengths *= 1 - d

    def pop(self) -> dict[str, float]:
        """Episodes finished since the last pop, with their mean return and length (NaN if none)."""
        n, ret, length = self.totals.tolist()
        self.totals.zero_()
        mean = (lambda s: s / n) if n else (lambda s: float("nan"))
        return {"episodes": int(n), "episode_return": mean(ret), "episode_length": mean(length)}


def collect(learner: Learner, env: VecEnv, storage: RolloutStorage, tracker: EpisodeTracker,
            info_sums: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Run storage.num_steps env steps with the learner's stochastic policy and return the values
    (N,) of the final states for GAE. A truncated step gets γ·V(s_t) added to its reward (the
    rsl_rl time-out bootstrap: the state after a truncation already belongs to the next episode).
    `info_sums` accumulates, on the device, the per-step batch means of the info entries."""
    storage.clear()
    obs, critic_obs = env.observe()
    for _ in range(storage.num_steps):
        action, record = learner.act(obs, critic_obs)
        t = env.step(action)
        reward = t.reward + learner.cfg.gamma * record["values"] * t.truncated
        done = t.terminated | t.truncated
        storage.add(**record, rewards=reward, dones=done)
        tracker.add(t.reward, done)
        if info_sums is not None:
            for name, value in (t.info | {"reward": t.reward}).items():
                info_sums[name] = info_sums.get(name, 0.0) + value.float().mean()
        obs, critic_obs = t.obs, t.critic_obs
    return learner.value(critic_obs)
