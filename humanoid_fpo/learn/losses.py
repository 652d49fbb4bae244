"""FPO ratios and the trust-region objectives; one function per mode.

Shapes: B actions in a minibatch, S = N_mc (τ, ε) samples per action (S = 1 where one ratio per
action). A ratio (B, S) shares its action's advantage (B, 1).
"""

from __future__ import annotations

import torch


def per_sample_log_ratio(loss_old: torch.Tensor, loss_new: torch.Tensor, loss_clamp: float | None,
                         log_ratio_clamp: float | None) -> torch.Tensor:
    """FPO++: log r_i = clamp(min(L_old_i, c) − min(L_new_i, c), max=δ), (B, S) → (B, S)."""
    if loss_clamp is not None:
        loss_old, loss_new = loss_old.clamp(max=loss_clamp), loss_new.clamp(max=loss_clamp)
    log_ratio = loss_old - loss_new
    return log_ratio if log_ratio_clamp is None else log_ratio.clamp(max=log_ratio_clamp)


def per_action_log_ratio(loss_old: torch.Tensor, loss_new: torch.Tensor) -> torch.Tensor:
    """FPO paper: log r = mean_i L_old_i − mean_i L_new_i, (B, S) → (B, 1)."""
    return loss_old.mean(-1, keepdim=True) - loss_new.mean(-1, keepdim=True)


def clip_objective(ratio: torch.Tensor, advantage: torch.Tensor, eps: float) -> torch.Tensor:
    """PPO-clip surrogate to maximise, (B, S) × (B, 1) → (B, S)."""
    return torch.minimum(ratio * advantage, ratio.clamp(1 - eps, 1 + eps) * advantage)


def asymmetric_objective(ratio: torch.Tensor, advantage: torch.Tensor, eps: float) -> torch.Tensor:
    """FPO++: PPO clip where A > 0; where A <= 0 the SPO penalty r·A − |A|/(2ε)·(r − 1)², which keeps
    pulling a ratio back towards 1 instead of dropping its gradient once it leaves the clip range."""
    spo = ratio * advantage - advantage.abs() / (2 * eps) * (ratio - 1) ** 2
    return torch.where(advantage > 0, clip_objective(ratio, advantage, eps), spo)


TRUST_REGIONS = {"clip": clip_objective, "asymmetric": asymmetric_objective}
