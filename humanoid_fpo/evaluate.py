"""Success-rate protocol (DESIGN.md): every clip played once from frame 0, without heading or
physical randomisation; a clip fails when the mean error of the 20 protocol bodies exceeds 0.5 m
(`sim.rewards.protocol_error`, the env's own termination under `eval_config`).

`evaluate_clips` drives an env made with `sim.env.eval_config` (one env per clip) with any torch
policy in one goal mode and reports per-clip and aggregate figures; `evaluate_grid` repeats it over
modes, sampler noises and flow-step counts (one compiled env serves them all) and
`markdown_tables` writes the result as "success vs flow steps".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import count, product

import jax
import numpy as np
import torch

from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.sim.env import TrackingEnv, action_for, reset, step, with_termination_distance
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES, protocol_error

NOISES = ("zero", "random")
"""Sampler start for evaluation: x0 = 0 (deterministic) or x0 drawn as in rollouts."""
ERRORS = ("g_mpjpe_mm", "mpjpe_mm", "accel_mm")
FIGURES = ("success_rate", "frames", *ERRORS)
"""Aggregates over clips: success rate, mean frames tracked per clip, and the mean errors."""


class _Errors:
    """Per-env running sums of the protocol errors; accel from the last three positions."""

    def __init__(self, info: dict[str, np.ndarray]):
        self.history = [_positions(info)]  # the last three frames' (sim, ref) positions (N, 20, 3)
        n = len(self.history[0][0])
        self.sums = {name: np.zeros(n) for name in ERRORS}
        self.frames, self.accel_frames = np.zeros(n, int), np.zeros(n, int)

    def add(self, active: np.ndarray, info: dict[str, np.ndarray]) -> None:
        """Fold in one step's info (host arrays) for the envs still `active` (N,)."""
        self.sums["g_mpjpe_mm"] += np.where(active, protocol_error(info["body_error"]), 0.0)
        self.sums["mpjpe_mm"] += np.where(active, protocol_error(info["body_error_local"]), 0.0)
        self.history = [*self.history[-2:], _positions(info)]
        if len(self.history) == 3:
            (s0, r0), (s1, r1), (s2, r2) = self.history
            accel = np.linalg.norm((s2 - 2 * s1 + s0) - (r2 - 2 * r1 + r0), axis=-1).mean(-1)
            self.sums["accel_mm"] += np.where(active, accel, 0.0)
            self.accel_frames += active
        self.frames += active

    def per_env(self, name: str) -> np.ndarray:
        frames = self.accel_frames if name == "accel_mm" else self.frames
        return 1000 * self.sums[name] / np.maximum(frames, 1)


def _positions(info: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bodies = np.asarray(PROTOCOL_BODIES)
    return np.asarray(info["body_pos"])[:, bodies], np.asarray(info["ref_body_pos"])[:, bodies]


def evaluate_clips(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor], key: jax.Array,
                   mode: str | None = None, record: int | None = None, play_on: bool = False) -> dict:
    """Play clip i in env i until it ends or fails, with goals of `mode` (default: the env's).

    act: (C, O) torch observations → (C, A) actions. Returns {"success_rate", "frames",
    "g_mpjpe_mm", "mpjpe_mm", "accel_mm", "clips": {name: {"success", "frames", "g_mpjpe_mm",
    "mpjpe_mm", "accel_mm"}}}: frames tracked (control steps before the failure or the clip's end)
    and errors of the 20 protocol bodies, mean over the frames tracked (mm; accel in mm/frame², from
    second differences of the positions); the aggregates are means over clips. With `record` = a
    clip index, also "qpos" (T, nq) of that clip's humanoid, "ref_qpos" (T, nq) of its reference and
    "error" (T,) its mean protocol-body error (m), for videos. With `play_on`, a clip that fails plays
    on to its end (for videos; the figures still stop at the failure).
    """
    lib = env.library
    num_clips = lib.num_clips
    if env.num_envs != num_clips or env.cfg.random_start or env.cfg.resample_clips:
        raise ValueError(f"evaluate_clips needs an eval_config env with one env per clip ({num_clips}), "
                         f"got {env.num_envs} envs")
    mode = mode or env.cfg.conditioning
    if mode not in MODES:
        raise ValueError(f"unknown conditioning mode {mode!r}; choose from {', '.join(MODES)}")
    fail_distance = env.cfg.termination_distance  # the protocol's, as eval_config sets it
    state = reset(env, key, np.arange(num_clips), np.full(num_clips, MODES.index(mode)))
    if play_on:  # the env no longer ends a failed clip; the failure is found here, by the same rule
        state = with_termination_distance(state, np.inf)
    errors = _Errors(state.info)
    playing = np.ones(num_clips, bool)  # before the clip's end (or its failure, without play_on)
    active = np.ones(num_clips, bool)  # before the clip's end or its failure: the frames scored
    failed = np.zeros(num_clips, bool)
    scored = ("body_error", "body_error_local", "body_pos", "ref_body_pos")
    videos = ("qpos", "ref_qpos") if record is not None else ()
    recorded = [] if record is None else [_frame(state.info, record)]
    for _ in range(int(np.max(lib.clip_length)) - 1):
        state = step(env, state, to_jax(act(to_torch(state.obs))))
        info = {k: np.asarray(state.info[k]) for k in (*scored, *videos)}
        if record is not None and playing[record]:
            recorded.append(_frame(info, record))
        errors.add(active, info)
        failing = np.asarray(state.terminated) | (protocol_error(info["body_error"]) > fail_distance)
        failed |= active & failing
        playing &= ~np.asarray(state.done)
        active &= playing & ~failed
        if not (active.any() or (play_on and record is not None and playing[record])):
            break
    per_clip = {name: {"success": bool(~failed[i]), "frames": int(errors.frames[i]),
                       **{k: float(errors.per_env(k)[i]) for k in ERRORS}}
                for i, name in enumerate(lib.clip_names)}
    result = {"success_rate": float(np.mean(~failed)),
              **{k: float(np.mean([c[k] for c in per_clip.values()])) for k in FIGURES[1:]},
              "clips": per_clip}
    if record is not None:
        result["qpos"], result["ref_qpos"], result["error"] = (np.stack(x) for x in zip(*recorded))
    return result


def _frame(info: dict, i: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(qpos, ref_qpos, mean protocol-body error in m) of env i, for videos."""
    error = float(protocol_error(info["body_error"][i]))
    return np.asarray(info["qpos"][i]), np.asarray(info["ref_qpos"][i]), error


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


def reference_policy(env: TrackingEnv) -> Callable[[torch.Tensor], torch.Tensor]:
    """Open-loop reference targets as a policy for `evaluate_clips` (a fresh one per call of it): at
    its k-th call, each clip's frame k joint angles as a normalised action (C, A), the ceiling of a
    prior that copies the reference. Observations are ignored."""
    lib = env.library
    start, length = np.asarray(lib.clip_start), np.asarray(lib.clip_length)
    joints = np.asarray(lib.qpos)[:, 7:]
    calls = count(1)

    def act(obs: torch.Tensor) -> torch.Tensor:
        return to_torch(action_for(env, joints[start + np.minimum(next(calls), length - 1)]))

    return act


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
    lines += ["", "| mode | x0 | K | success | frames | G-MPJPE mm | MPJPE mm | accel mm/frame² |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['mode']} | {r['noise']} | {r['flow_steps']} | {r['success_rate']:.3f} | "
                     f"{r['frames']:.1f} | "
                     f"{r['g_mpjpe_mm']:.1f} | {r['mpjpe_mm']:.1f} | {r['accel_mm']:.1f} |")
    return "\n".join(lines) + "\n"
