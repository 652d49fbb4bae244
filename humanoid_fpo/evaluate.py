"""Success-rate protocol (DESIGN.md): every clip played once from frame 0, without heading or
physical randomisation; a clip fails when the mean error of the 20 protocol bodies exceeds 0.5 m.

`evaluate_clips` drives an env made with `sim.env.eval_config` (one env per clip) with any torch
policy in one goal mode and reports per-clip and aggregate figures; `evaluate_grid` repeats it over
modes, sampler noises and flow-step counts (one compiled env serves them all) and
`markdown_tables` writes the result as "success vs flow steps".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import product

import jax
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.env import TrackingEnv, reset, step
from humanoid_fpo.sim.observations import MODES
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES

NOISES = ("zero", "random")
"""Sampler start for evaluation: x0 = 0 (deterministic) or x0 drawn as in rollouts."""
FIGURES = ("success_rate", "g_mpjpe_mm", "mpjpe_mm", "accel_mm")


class _Errors:
    """Per-env running sums of the protocol errors; accel from the last three positions."""

    def __init__(self, sim: np.ndarray, ref: np.ndarray):
        n = sim.shape[0]
        self.history = [(sim, ref)]  # (N, 20, 3) each, the last three frames
        self.sums = {name: np.zeros(n) for name in ("g_mpjpe_mm", "mpjpe_mm", "accel_mm")}
        self.frames, self.accel_frames = np.zeros(n, int), np.zeros(n, int)

    def add(self, active: np.ndarray, sim: np.ndarray, ref: np.ndarray) -> None:
        """Fold in one frame of body positions (N, 20, 3) for the envs still `active` (N,)."""
        self.sums["g_mpjpe_mm"] += np.where(active, np.linalg.norm(sim - ref, axis=-1).mean(-1), 0.0)
        local = (sim - sim[:, :1]) - (ref - ref[:, :1])  # protocol body 0 is the pelvis
        self.sums["mpjpe_mm"] += np.where(active, np.linalg.norm(local, axis=-1).mean(-1), 0.0)
        self.history = [*self.history[-2:], (sim, ref)]
        if len(self.history) == 3:
            (s0, r0), (s1, r1), (s2, r2) = self.history
            accel = np.linalg.norm((s2 - 2 * s1 + s0) - (r2 - 2 * r1 + r0), axis=-1).mean(-1)
            self.sums["accel_mm"] += np.where(active, accel, 0.0)
            self.accel_frames += active
        self.frames += active

    def per_env(self, name: str) -> np.ndarray:
        frames = self.accel_frames if name == "accel_mm" else self.frames
        return 1000 * self.sums[name] / np.maximum(frames, 1)


def evaluate_clips(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor], key: jax.Array,
                   mode: str | None = None, record: int | None = None) -> dict:
    """Play clip i in env i until it ends or fails, with goals of `mode` (default: the env's).

    act: (C, O) torch observations → (C, A) actions. Returns {"success_rate", "g_mpjpe_mm",
    "mpjpe_mm", "accel_mm", "clips": {name: {"success", "frames", "g_mpjpe_mm", "mpjpe_mm",
    "accel_mm"}}}: errors of the 20 protocol bodies, mean over the frames tracked (mm; accel in
    mm/frame², from second differences of the positions). With `record` = a clip index, also
    "qpos" (T, nq) of that clip's humanoid and "ref_qpos" (T, nq) of its reference, for videos.
    """
    lib = env.library
    num_clips = lib.num_clips
    if env.num_envs != num_clips or env.cfg.random_start or env.cfg.resample_clips:
        raise ValueError(f"evaluate_clips needs an eval_config env with one env per clip ({num_clips}), "
                         f"got {env.num_envs} envs")
    mode = mode or env.cfg.conditioning
    if mode not in MODES:
        raise ValueError(f"unknown conditioning mode {mode!r}; choose from {', '.join(MODES)}")
    state = reset(env, key, np.arange(num_clips), np.full(num_clips, MODES.index(mode)))
    bodies = np.asarray(PROTOCOL_BODIES)
    errors = _Errors(np.asarray(state.info["body_pos"])[:, bodies],
                     np.asarray(state.info["ref_body_pos"])[:, bodies])
    active = np.ones(num_clips, bool)
    failed = np.zeros(num_clips, bool)
    keys = ("body_pos", "ref_body_pos", "qpos", "ref_qpos")
    recorded = [] if record is None else [[np.asarray(state.info[k][record]) for k in keys[2:]]]
    for _ in range(int(np.max(lib.clip_length)) - 1):
        state = step(env, state, to_jax(act(to_torch(state.obs))))
        info = {k: np.asarray(state.info[k]) for k in keys}
        if record is not None and active[record]:
            recorded.append([info["qpos"][record], info["ref_qpos"][record]])
        errors.add(active, info["body_pos"][:, bodies], info["ref_body_pos"][:, bodies])
        done = np.asarray(state.done) & active
        failed |= done & np.asarray(state.terminated)
        active &= ~done
        if not active.any():
            break
    per_clip = {name: {"success": bool(~failed[i]), "frames": int(errors.frames[i]),
                       **{k: float(errors.per_env(k)[i]) for k in FIGURES[1:]}}
                for i, name in enumerate(lib.clip_names)}
    result = {"success_rate": float(np.mean(~failed)),
              **{k: float(np.mean([c[k] for c in per_clip.values()])) for k in FIGURES[1:]},
              "clips": per_clip}
    if record is not None:
        result["qpos"], result["ref_qpos"] = (np.stack(x) for x in zip(*recorded))
    return result


def evaluate_grid(env: TrackingEnv, learner: Learner, modes: Iterable[str], noises: Iterable[str],
                  flow_steps: Iterable[int], seed: int = 0) -> list[dict]:
    """`evaluate_clips` of the learner's EMA policy for every (mode, noise, K); each result carries
    its "mode", "noise" and "flow_steps". Random x0 is seeded, so a grid is reproducible."""
    results = []
    for mode, noise, steps in product(modes, noises, flow_steps):
        if noise not in NOISES:
            raise ValueError(f"unknown sampler noise {noise!r}; choose from {', '.join(NOISES)}")
        torch.manual_seed(seed)
        act = lambda obs, k=steps, r=noise == "random": learner.eval_action(obs.to(learner.device), k, r)
        result = evaluate_clips(env, act, jax.random.key(seed), mode)
        results.append({"mode": mode, "noise": noise, "flow_steps": steps, **result})
    return results


def markdown_tables(results: list[dict]) -> str:
    """Success rate vs flow steps (one row per mode and noise, one column per K), then every figure."""
    steps = sorted({r["flow_steps"] for r in results})
    rows = sorted({(r["mode"], r["noise"]) for r in results},
                  key=lambda x: (MODES.index(x[0]), NOISES.index(x[1])))
    lookup = {(r["mode"], r["noise"], r["flow_steps"]): r for r in results}
    lines = ["Success rate vs flow steps K", "",
             "| mode | x0 | " + " | ".join(f"K={k}" for k in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for mode, noise in rows:
        cells = [f"{lookup[mode, noise, k]['success_rate']:.3f}" if (mode, noise, k) in lookup else ""
                 for k in steps]
        lines.append(f"| {mode} | {noise} | " + " | ".join(cells) + " |")
    lines += ["", "| mode | x0 | K | success | G-MPJPE mm | MPJPE mm | accel mm/frame² |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['mode']} | {r['noise']} | {r['flow_steps']} | {r['success_rate']:.3f} | "
                     f"{r['g_mpjpe_mm']:.1f} | {r['mpjpe_mm']:.1f} | {r['accel_mm']:.1f} |")
    return "\n".join(lines) + "\n"
