"""The flow policy: a velocity net v(obs, x_τ, τ), a K-step Euler sampler and per-sample CFM losses.

τ = 0 is noise, τ = 1 the action: x_τ = τ·a + (1 − τ)·ε, target velocity a − ε, with x0, ε ~ N(0, σ²I).
The losses behind the ratio are in units of the noise (divided by σ²): the same policy change gives
the same ratio whatever σ, so the clip ε and the clamps c, δ mean what they mean in FPO++.
Shapes: B batch, S flow samples per action, O observation, A action.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.losses import per_action_log_ratio, per_sample_log_ratio
from humanoid_fpo.learn.networks import ACTIVATION, mlp, tau_features


class VelocityNet(nn.Module):
    """An MLP on [obs, x_τ, embed(τ)]; the first layer is split so that the observation part is
    computed once per action and shared by its S samples."""

    def __init__(self, obs_size: int, action_size: int, cfg: NetConfig, tau_embed: int, out_gain: float):
        super().__init__()
        width = cfg.hidden[0]
        self.tau_embed = tau_embed
        self.obs_in = nn.Linear(obs_size, width)
        self.x_in = nn.Linear(action_size + tau_embed, width, bias=False)
        self.activation = ACTIVATION[cfg.activation]()
        self.body = mlp(width, NetConfig(cfg.hidden[1:], cfg.activation), action_size, out_gain=out_gain)

    def forward(self, obs: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """obs (B, O), x (B, S, A), tau (B, S) → velocity (B, S, A)."""
        return self.velocity(self.obs_in(obs), x, tau)

    def velocity(self, obs_features: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """`forward` from obs_in(obs) (B, W), which a sampler computes once for its K steps."""
        h = obs_features[:, None] + self.x_in(torch.cat([x, tau_features(tau, self.tau_embed)], -1))
        return self.body(self.activation(h))


class FlowPolicy(nn.Module):
    def __init__(self, obs_size: int, action_size: int, cfg: AlgoConfig):
        super().__init__()
        self.net = VelocityNet(obs_size, action_size, cfg.actor, cfg.tau_embed, cfg.out_gain)
        self.action_size, self.steps, self.n_mc = action_size, cfg.flow_steps, cfg.n_mc
        self.noise_std = cfg.noise_std
        self.ratio = (partial(per_sample_log_ratio, loss_clamp=cfg.loss_clamp,
                              log_ratio_clamp=cfg.log_ratio_clamp)
                      if cfg.ratio == "per_sample" else per_action_log_ratio)

    def sample(self, obs: torch.Tensor, x0: torch.Tensor, steps: int | None = None,
               features: torch.Tensor | None = None) -> torch.Tensor:
        """Integrate dx/dτ = v from τ = 0 to 1 in K Euler steps: obs (B, O), x0 (B, A) → action (B, A).
        `features`: net.obs_in(obs) where the caller has it."""
        steps = steps or self.steps
        x = x0[:, None]
        features = self.net.obs_in(obs) if features is None else features
        for k in range(steps):
            tau = torch.full(x.shape[:2], k / steps, dtype=x.dtype, device=x.device)
            x = x + self.net.velocity(features, x, tau) / steps
        return x[:, 0]

    def cfm(self, obs: torch.Tensor, action: torch.Tensor, tau: torch.Tensor, eps: torch.Tensor,
            features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample conditional flow-matching losses and predicted clean actions, both in units of
        the noise: obs (B, O), action (B, A), tau (B, S), eps (B, S, A) → loss (B, S), the mean over
        action dimensions of |v − (a − ε)|² / σ², and clean (B, S, A) = (x_τ + (1 − τ)·v) / σ."""
        a, t = action[:, None], tau[..., None]
        x_tau = t * a + (1 - t) * eps
        v = self.net.velocity(self.net.obs_in(obs) if features is None else features, x_tau, tau).float()
        loss = (v - (a - eps)).square().mean(-1) / self.noise_std ** 2
        return loss, (x_tau + (1 - t) * v) / self.noise_std

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rollout: a sampled action (B, A) from x0 ~ N(0, σ²I), and what the update needs later:
        tau (B, S), eps (B, S, A) ~ N(0, σ²I), and under the acting weights the CFM losses (B, S)
        and the predicted clean actions (B, S, A) of those samples."""
        b, device = obs.shape[0], obs.device
        features = self.net.obs_in(obs)
        action = self.sample(obs, self.initial_noise(b, device), features=features)
        tau = torch.rand(b, self.n_mc, device=device)
        eps = self.noise_std * torch.randn(b, self.n_mc, self.action_size, device=device)
        loss, clean = self.cfm(obs, action, tau, eps, features)
        return action, {"tau": tau, "eps": eps, "cfm_loss": loss, "probe": clean}

    def score(self, obs: torch.Tensor, action: torch.Tensor,
              stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What `act` stores of `action` (B, A) at `obs` under these weights, at stored's tau and eps:
        the CFM losses (B, S) and predicted clean actions (B, S, A) (a mirrored transition's)."""
        loss, clean = self.cfm(obs, action, stored["tau"], stored["eps"])
        return {"cfm_loss": loss, "probe": clean}

    def initial_noise(self, batch: int, device: torch.device,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """x0 (B, A) ~ N(0, σ²I), the sampler's start in rollouts (evaluation and export use 0)."""
        return self.noise_std * torch.randn(batch, self.action_size, device=device, generator=generator)

    def log_ratio(self, obs: torch.Tensor, action: torch.Tensor,
                  stored: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-ratio of the current to the acting policy, (B, S) per sample or (B, 1) per action,
        and the current predicted clean actions (B, S, A) at the stored samples (the probe)."""
        loss, clean = self.cfm(obs, action, stored["tau"], stored["eps"])
        return self.ratio(stored["cfm_loss"], loss), clean

    @staticmethod
    def divergence(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """Mean squared change of the predicted clean action, in units of the noise."""
        return (after - before).square().mean()
