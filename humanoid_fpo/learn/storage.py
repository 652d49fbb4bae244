"""Rollout storage: (T, N, ...) tensors filled step by step, then shuffled minibatches of (T·N, ...)."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class RolloutStorage:
    """Holds whatever the learner records per step, by name: obs, critic_obs, actions, values,
    rewards, dones and the policy's own stored quantities (flow: tau, eps, cfm_loss; Gaussian:
    log_prob). Buffers are allocated at the first `add`, from the shapes given."""

    def __init__(self, num_steps: int):
        self.num_steps = num_steps
        self.buffers: dict[str, torch.Tensor] = {}
        self.step = 0

    def add(self, **record: torch.Tensor) -> None:
        """Record one step: each tensor (N, ...)."""
        if self.step >= self.num_steps:
            raise RuntimeError(f"rollout storage is full ({self.num_steps} steps); call clear()")
        for name, value in record.items():
            if name not in self.buffers:
                self.buffers[name] = torch.empty((self.num_steps, *value.shape), dtype=value.dtype,
                                                 device=value.device)
            self.buffers[name][self.step] = value
        self.step += 1

    def clear(self) -> None:
        self.step = 0

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.buffers[name]

    def minibatches(self, num_minibatches: int, epochs: int, extra: dict[str, torch.Tensor],
                    generator: torch.Generator | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Every buffer and every `extra` (T, N, ...) flattened to (T·N, ...), shuffled each epoch and
        cut into equal minibatches (a remainder is dropped)."""
        flat = {k: v.flatten(0, 1) for k, v in (self.buffers | extra).items()}
        total = next(iter(flat.values())).shape[0]
        size = total // num_minibatches
        device = next(iter(flat.values())).device
        for _ in range(epochs):
            order = torch.randperm(total, generator=generator).to(device)
            for i in range(num_minibatches):
                idx = order[i * size:(i + 1) * size]
                yield {k: v[idx] for k, v in flat.items()}
