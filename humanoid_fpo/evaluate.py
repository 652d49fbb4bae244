"""Success-rate protocol (DESIGN.md): every clip played once from frame 0, without heading or
physical randomisation; a clip fails when the mean error of the 20 protocol bodies exceeds 0.5 m.

`evaluate_clips` drives an env made with `sim.env.eval_config` (one env per clip) with any
deterministic torch policy and reports per-clip and aggregate figures.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.sim.env import TrackingEnv, reset, step
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES


def evaluate_clips(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor],
                   key: jax.Array) -> dict:
    """Play clip i in env i until it ends or fails.

    act: (C, O) torch observations → (C, A) actions. Returns {"success_rate", "g_mpjpe_mm",
    "mpjpe_mm", "clips": {name: {"success", "frames", "g_mpjpe_mm", "mpjpe_mm"}}}; the errors are
    the 20 protocol bodies' mean over the frames tracked.
    """
    lib = env.library
    num_clips = lib.num_clips
    if env.num_envs != num_clips or env.cfg.random_start or env.cfg.resample_clips:
        raise ValueError(f"evaluate_clips needs an eval_config env with one env per clip ({num_clips}), "
                         f"got {env.num_envs} envs")
    state = reset(env, key, np.arange(num_clips))
    steps = np.asarray(lib.clip_length) - 1
    active = np.ones(num_clips, bool)
    failed = np.zeros(num_clips, bool)
    frames = np.zeros(num_clips, int)
    err_global = np.zeros(num_clips)
    err_local = np.zeros(num_clips)
    bodies = np.asarray(PROTOCOL_BODIES)
    for _ in range(int(steps.max())):
        state = step(env, state, to_jax(act(to_torch(state.obs))))
        g = np.asarray(state.info["body_error"])[:, bodies].mean(-1)
        r = np.asarray(state.info["body_error_local"])[:, bodies].mean(-1)
        err_global += np.where(active, g, 0.0)
        err_local += np.where(active, r, 0.0)
        frames += active
        done = np.asarray(state.done) & active
        failed |= done & np.asarray(state.terminated)
        active &= ~done
        if not active.any():
            break
    per_clip = {name: {"success": bool(~failed[i]), "frames": int(frames[i]),
                       "g_mpjpe_mm": 1000 * err_global[i] / max(frames[i], 1),
                       "mpjpe_mm": 1000 * err_local[i] / max(frames[i], 1)}
                for i, name in enumerate(lib.clip_names)}
    return {"success_rate": float(np.mean(~failed)),
            "g_mpjpe_mm": float(np.mean([c["g_mpjpe_mm"] for c in per_clip.values()])),
            "mpjpe_mm": float(np.mean([c["mpjpe_mm"] for c in per_clip.values()])),
            "clips": per_clip}
