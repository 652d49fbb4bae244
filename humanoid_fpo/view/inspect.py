"""What a policy's action distribution looks like at one state: many actions sampled there (flow:
many x0; Gaussian: many draws), drawn on two joint angles and on their first two principal
components, one column per run (`humanoid-fpo inspect`). The state is the reference's at a clip
frame, observed by the env's own code under one goal mode."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.util.plots import figure, save_figure
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.sim.env import TrackingEnv, episodes_at, observe_states, reference


def reference_observation(env: TrackingEnv, clip: str, frame: int,
                          mode: str) -> tuple[torch.Tensor, np.ndarray]:
    """(1, O) the actor's observation of the reference state at `frame` of `clip` under `mode`, and
    (A,) the PD targets of action 0 (the env's action offset)."""
    lib = env.library
    if clip not in lib.clip_names:
        raise ValueError(f"no clip {clip!r}; the run has: {', '.join(lib.clip_names)}")
    c = lib.clip_names.index(clip)
    last = int(lib.clip_length[c]) - 2
    if not 0 <= frame <= last:
        raise ValueError(f"frame {frame} is outside clip {clip!r} (0 to {last}: the next frame is the goal)")
    episode = episodes_at(env, jnp.asarray([c]), jnp.asarray([frame / lib.fps], jnp.float32),
                          jnp.asarray([MODES.index(mode)], jnp.int32))
    now = reference(env, episode, episode.step)
    obs = observe_states(env, episode, now.qpos, now.qvel)[0]
    return to_torch(obs), np.asarray(env.action_offset)


@torch.no_grad()
def sample_actions(learner: Learner, obs: torch.Tensor, samples: int, seed: int = 0) -> np.ndarray:
    """(samples, A) normalised actions of the EMA policy at raw observation (1, O), each from its own
    sampler start x0 as in rollouts (a Gaussian: its own draw)."""
    policy, generator = learner.eval_policy, torch.Generator(learner.device).manual_seed(seed)
    obs = learner.obs_norm(obs.to(learner.device)).expand(samples, -1)
    return policy.sample(obs, policy.initial_noise(samples, learner.device, generator)).cpu().numpy()


def principal_components(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """x (S, A) → (its first k principal coordinates (S, k), their share of the variance (k,))."""
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T, s[:k] ** 2 / max((s ** 2).sum(), 1e-30)


def bimodality(x: np.ndarray) -> float:
    """Sarle's bimodality coefficient of 1-D samples, (skew² + 1) / kurtosis: 1/3 for a Gaussian,
    above 5/9 (0.555) suggests two modes."""
    z = (x - x.mean()) / max(x.std(), 1e-12)
    return float(((z ** 3).mean() ** 2 + 1) / (z ** 4).mean())


def plot_action_samples(columns: list[tuple[str, np.ndarray]], joints: tuple[int, int],
                        joint_names: tuple[str, str], path: Path, title: str) -> list[dict]:
    """One column per (label, joint angles (S, A) in rad): the samples on two joints, and on their own
    first two principal components. Returns per column the spread (mean std over joints, rad), the
    variance share and bimodality coefficient of PC1."""
    fig, axes = figure(2, len(columns), (4.6 * len(columns), 8.4))
    stats = []
    for (label, q), (top, bottom) in zip(columns, axes.T):
        a, b = joints
        top.scatter(q[:, a], q[:, b], s=4, alpha=0.4)
        top.set(xlabel=f"{joint_names[0]} (rad)", ylabel=f"{joint_names[1]} (rad)")
        coords, share = principal_components(q)
        stat = {"run": label, "spread_rad": float(q.std(0).mean()), "pc1_share": float(share[0]),
                "pc1_bimodality": bimodality(coords[:, 0])}
        top.set_title(f"{label}\nspread {stat['spread_rad']:.4f} rad", fontsize=9)
        bottom.scatter(coords[:, 0], coords[:, 1], s=4, alpha=0.4)
        bottom.set(xlabel=f"PC1 ({100 * share[0]:.0f} % of variance, rad)",
                   ylabel=f"PC2 ({100 * share[1]:.0f} %, rad)")
        bimodal = stat["pc1_bimodality"]
        bottom.set_title(f"bimodality of PC1: {bimodal:.2f} (Gaussian 0.33, > 0.56: two modes)", fontsize=9)
        for ax in (top, bottom):
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        stats.append(stat)
    save_figure(fig, path, title)
    return stats
