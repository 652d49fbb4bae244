"""The Gaussian PPO baseline: the same trunk with a mean head and a learned state-independent std.
It has the flow policy's interface, so the learner and trainer do not know which one they run."""

from __future__ import annotations

import math

import torch
from torch import nn

from humanoid_fpo.learn.config import AlgoConfig
from humanoid_fpo.learn.networks import mlp


class GaussianPolicy(nn.Module):
    def __init__(self, obs_size: int, action_size: int, cfg: AlgoConfig):
        super().__init__()
        self.mean = mlp(obs_size, cfg.actor, action_size, out_gain=cfg.out_gain)
        self.log_std = nn.Parameter(torch.full((action_size,), math.log(cfg.init_std)))
        self.min_std = cfg.min_std

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = self.mean(obs).float()
        return torch.distributions.Normal(mean, self.log_std.exp().clamp(min=self.min_std).expand_as(mean))

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rollout: a sampled action (B, A), its log-probability (B,) and the distribution's mean
        and std (B, 2, A), the probe the update compares against."""
        dist = self.distribution(obs)
        action = dist.sample()
        return action, {"log_prob": dist.log_prob(action).sum(-1), "probe": _probe(dist)}

    def score(self, obs: torch.Tensor, action: torch.Tensor,
              stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the update reads of a mirrored transition, `action` (B, A) at `obs`: the recorded
        action's log-probability (B,) as its behaviour probability, since the mirrored policy draws
        the mirrored action with the same probability (rsl_rl's symmetry augmentation), and the mean
        and std at `obs` under these weights (the probe). Not the density of the mirrored action at
        `obs`: while the policy is not yet symmetric that action sits tens of stds out in its tail,
        where a tiny step moves the ratio by orders of magnitude (the recipe's PPO went NaN at
        iteration 226, BENCHMARKS.md "Levers on the real-motion recipe")."""
        return {"log_prob": stored["log_prob"], "probe": _probe(self.distribution(obs))}

    def sample(self, obs: torch.Tensor, x0: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """mean + std·x0 for standard-normal x0 (B, A): the flow sampler's interface, x0 = 0 gives
        the mean; a Gaussian has no flow steps, so `steps` is unused."""
        dist = self.distribution(obs)
        return dist.mean + dist.stddev * x0

    def initial_noise(self, batch: int, device: torch.device,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(batch, self.log_std.shape[0], device=device, generator=generator)

    def log_ratio(self, obs: torch.Tensor, action: torch.Tensor,
                  stored: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1) log π_new(a|o) − log π_old(a|o), and the current mean and std (B, 2, A)."""
        dist = self.distribution(obs)
        return (dist.log_prob(action).sum(-1) - stored["log_prob"])[:, None], _probe(dist)

    @staticmethod
    def divergence(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """Mean KL(before ‖ after) over the batch, from probes (B, 2, A)."""
        p = torch.distributions.Normal(before[:, 0], before[:, 1])
        q = torch.distributions.Normal(after[:, 0], after[:, 1])
        return torch.distributions.kl_divergence(p, q).sum(-1).mean()


def _probe(dist: torch.distributions.Normal) -> torch.Tensor:
    return torch.stack([dist.mean, dist.stddev], 1)
