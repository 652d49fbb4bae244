"""Running mean/variance observation normaliser (parallel Welford), kept in the checkpoint."""

from __future__ import annotations

import torch
from torch import nn

from humanoid_fpo.learn import distributed


class Normalizer(nn.Module):
    def __init__(self, size: int, clip: float = 10.0, eps: float = 1e-4):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., O) → (..., O) standardised and clipped."""
        return ((x - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch (B, O) into the statistics (under torchrun: every rank's batch)."""
        n, mean, var = distributed.moments(x)
        total = self.count + n
        delta = mean - self.mean
        w = (n / total).to(x.dtype)  # a device tensor: no host sync in the rollout loop
        self.mean += delta * w
        self.var.copy_(self.var * (1 - w) + var * w + delta ** 2 * w * (1 - w))
        self.count.copy_(total)
