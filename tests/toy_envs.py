"""Tiny torch envs with the learner's VecEnv interface: fast enough to train in a test."""

from __future__ import annotations

import torch

from humanoid_fpo.learn.rollout import Transition


class Bandit:
    """One-step bandit on a constant observation; reward has two equal, separated optima at ±mode
    in the first action dimension (the others are ignored)."""

    obs_size = critic_obs_size = 1

    def __init__(self, num_envs: int, action_size: int = 1, mode: float = 0.6, width: float = 0.15):
        self.num_envs, self.action_size, self.mode, self.width = num_envs, action_size, mode, width
        self.obs = torch.ones(num_envs, 1)

    def reward(self, action: torch.Tensor) -> torch.Tensor:
        a = action[:, 0]
        bump = lambda c: torch.exp(-0.5 * ((a - c) / self.width) ** 2)
        return bump(self.mode) + bump(-self.mode)

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.obs, self.obs

    def step(self, action: torch.Tensor) -> Transition:
        done = torch.ones(self.num_envs, dtype=torch.bool)
        return Transition(self.obs, self.obs, self.reward(action), done, torch.zeros_like(done), {})


class PointMass:
    """2-D point mass pushed by a force in [-1, 1]² towards a random goal; reward −distance per step,
    episodes of `horizon` steps (truncated), random start and goal in [-1, 1]²."""

    obs_size = critic_obs_size = 6
    action_size = 2

    def __init__(self, num_envs: int, horizon: int = 40, dt: float = 0.1, seed: int = 0):
        self.num_envs, self.horizon, self.dt = num_envs, horizon, dt
        self.gen = torch.Generator().manual_seed(seed)
        self.pos, self.vel, self.goal = (torch.zeros(num_envs, 2) for _ in range(3))
        self.t = torch.zeros(num_envs, dtype=torch.long)
        self._reset(torch.ones(num_envs, dtype=torch.bool))

    def _reset(self, mask: torch.Tensor) -> None:
        n = int(mask.sum())
        self.pos[mask] = torch.rand(n, 2, generator=self.gen) * 2 - 1
        self.goal[mask] = torch.rand(n, 2, generator=self.gen) * 2 - 1
        self.vel[mask] = 0
        self.t[mask] = 0

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        obs = torch.cat([self.pos, self.vel, self.goal - self.pos], 1)
        return obs, obs

    def step(self, action: torch.Tensor) -> Transition:
        self.vel = 0.9 * self.vel + self.dt * 2.0 * action.clamp(-1, 1)
        self.pos = self.pos + self.dt * self.vel
        reward = -(self.goal - self.pos).norm(dim=1)
        self.t += 1
        truncated = self.t >= self.horizon
        self._reset(truncated)
        obs, critic = self.observe()
        return Transition(obs, critic, reward, torch.zeros_like(truncated), truncated, {})
