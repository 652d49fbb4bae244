"""Left–right symmetry augmentation of the update, as rsl_rl's for a Gaussian: each transition is
learned twice, as recorded and mirrored (observation, critic observation and action mirrored; the
same advantage and return, since the task is symmetric). The flow's ratio of the mirrored pair is
built from the CFM losses of the mirrored action at the mirrored observation, with the same τ and
the mirrored noise, taken under the acting weights at rollout time (`Learner.act`). The Gaussian's
divides by the recorded action's probability, as rsl_rl's does (`GaussianPolicy.score` says why).

The maps come from the env (run/train.py: sim/observations.mirror_map and the action transform);
the learner sees tensors only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Mirror:
    """Index and sign maps: mirrored x = x[..., index] * sign (+ shift for actions).

    The action's shift is there because actions are PD targets about the default pose: where that
    pose is not symmetric the mirrored action of a is mirror(a) + (mirror(offset) − offset) / scale."""

    obs_index: torch.Tensor  # (O,)
    obs_sign: torch.Tensor  # (O,)
    critic_index: torch.Tensor  # (Oc,)
    critic_sign: torch.Tensor  # (Oc,)
    action_index: torch.Tensor  # (A,)
    action_sign: torch.Tensor  # (A,)
    action_shift: torch.Tensor  # (A,)

    @classmethod
    def of(cls, obs: tuple[np.ndarray, np.ndarray], critic: tuple[np.ndarray, np.ndarray],
           action: tuple[np.ndarray, np.ndarray], action_offset: np.ndarray, action_scale: np.ndarray,
           device: str | torch.device = "cpu") -> Mirror:
        """From (index, sign) maps of the observations and the hinges, and the action transform
        `offset + scale * a` (A,)."""
        index, sign = action
        shift = (sign * action_offset[index] - action_offset) / action_scale

        def tensor(x: np.ndarray, integer: bool = False) -> torch.Tensor:
            dtype = torch.long if integer else torch.float32
            return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

        return cls(tensor(obs[0], True), tensor(obs[1]), tensor(critic[0], True), tensor(critic[1]),
                   tensor(index, True), tensor(sign), tensor(shift))

    def obs(self, x: torch.Tensor) -> torch.Tensor:
        """(..., O) raw actor observations → the mirrored state's."""
        return x[..., self.obs_index] * self.obs_sign

    def critic_obs(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.critic_index] * self.critic_sign

    def action(self, a: torch.Tensor) -> torch.Tensor:
        """(..., A) normalised actions → those whose PD targets are the mirrored targets."""
        return a[..., self.action_index] * self.action_sign + self.action_shift

    def noise(self, eps: torch.Tensor) -> torch.Tensor:
        """(..., A) flow noise → its mirror (no shift: the noise stays N(0, σ²I))."""
        return eps[..., self.action_index] * self.action_sign
