"""The tracking env (either physics backend) as a torch `VecEnv` (learn/rollout.py's protocol):
arrays cross between JAX and torch by DLPack, zero copy on the same device (no host round trip in
the rollout loop on a GPU)."""

from __future__ import annotations

import jax
import numpy as np
import torch

from humanoid_fpo.learn.rollout import Transition
from humanoid_fpo.util.shapes import check_shape
from humanoid_fpo.sim.env import EnvState, TrackingEnv, reset, step, with_levels, with_termination_distance

LOGGED_INFO = ("reward/pos", "reward/rot", "reward/vel", "reward/ang_vel", "reward/power", "physics_reset",
               "level")
"""Per-env (N,) info entries passed to the learner's logs; plus mean_body_error (m)."""


def to_torch(x: jax.Array) -> torch.Tensor:
    return torch.from_dlpack(x)


def to_jax(x: torch.Tensor) -> jax.Array:
    return jax.dlpack.from_dlpack(x.detach().contiguous())


@jax.jit
def _with_fail_rate(state: EnvState, clip_fail_rate: jax.Array) -> EnvState:
    return state.replace(clip_fail_rate=clip_fail_rate)


class TrackingVecEnv:
    """Holds the env state; `step` takes torch actions (N, A) and returns a torch `Transition`."""

    def __init__(self, env: TrackingEnv, key: jax.Array):
        self.env, self.state = env, reset(env, key)
        self.num_envs, self.action_size = env.num_envs, env.action_size
        self.obs_size = self.critic_obs_size = env.obs_size

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        return to_torch(self.state.obs), to_torch(self.state.critic_obs)

    def step(self, action: torch.Tensor) -> Transition:
        check_shape("actions", action, (self.num_envs, self.action_size))
        self.state = s = step(self.env, self.state, to_jax(action))
        info = {name: to_torch(s.info[name]) for name in LOGGED_INFO}
        info["mean_body_error"] = to_torch(s.info["body_error"]).mean(-1)
        return Transition(to_torch(s.obs), to_torch(s.critic_obs), to_torch(s.reward), to_torch(s.terminated),
                          to_torch(s.truncated), info)

    @property
    def termination_distance(self) -> float:
        """m, training's termination distance now (the termination curriculum moves it)."""
        return float(self.state.termination_distance)

    @termination_distance.setter
    def termination_distance(self, distance: float) -> None:
        self.state = with_termination_distance(self.state, distance)

    @property
    def clip_fail_rate(self) -> torch.Tensor:
        """(C,) each clip's running failure rate, which weights the clips drawn at resets."""
        return to_torch(self.state.clip_fail_rate)

    @clip_fail_rate.setter
    def clip_fail_rate(self, rate: torch.Tensor) -> None:
        self.state = _with_fail_rate(self.state, to_jax(rate))

    def progress(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps of the env: curriculum levels (N,), clip failure rates (C,) and
        the termination distance ()."""
        return {"level": np.asarray(self.state.episode.level),
                "clip_fail_rate": np.asarray(self.state.clip_fail_rate),
                "termination_distance": np.asarray(self.state.termination_distance)}

    def restore(self, progress: dict[str, np.ndarray]) -> None:
        """Continue a run: levels apply at each env's next reset, the rest at once."""
        self.state = with_levels(self.state, progress["level"])
        self.state = _with_fail_rate(self.state, jax.numpy.asarray(progress["clip_fail_rate"]))
        if "termination_distance" in progress:  # absent from checkpoints written before the curriculum
            self.termination_distance = progress["termination_distance"]
