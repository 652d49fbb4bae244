"""Generalised advantage estimation over a (T, N) rollout."""

from __future__ import annotations

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last_values: torch.Tensor,
                gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, both (T, N).

    rewards, values, dones: (T, N); dones[t] = 1 when the episode ended at step t (so values[t+1]
    belongs to a new episode); last_values: (N,) the value of the state after the last step.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    gae = torch.zeros_like(last_values)
    for t in reversed(range(T)):
        next_values = last_values if t == T - 1 else values[t + 1]
        alive = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_values * alive - values[t]
        gae = delta + gamma * lam * alive * gae
        advantages[t] = gae
    return advantages, advantages + values
