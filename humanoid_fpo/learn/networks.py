"""Plain MLPs and the flow-time embedding."""

from __future__ import annotations

import math

import torch
from torch import nn

from humanoid_fpo.learn.config import NetConfig

ACTIVATION = {"elu": nn.ELU, "relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def mlp(in_size: int, cfg: NetConfig, out_size: int, out_gain: float = 1.0) -> nn.Sequential:
    """in → hidden... → out, activation between layers; the last layer's init scaled by out_gain."""
    sizes = [in_size, *cfg.hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATION[cfg.activation]()]
    last = nn.Linear(sizes[-1], out_size)
    with torch.no_grad():
        last.weight.mul_(out_gain)
        last.bias.zero_()
    return nn.Sequential(*layers, last)


def tau_features(tau: torch.Tensor, size: int) -> torch.Tensor:
    """(...,) flow times in [0, 1] → (..., size) sin/cos features at octave frequencies."""
    freqs = math.pi * 2.0 ** torch.arange(size // 2, dtype=tau.dtype, device=tau.device)
    angles = tau[..., None] * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
