"""Success-rate protocol (DESIGN.md): every clip played once from frame 0, without heading or
physical randomisation; a clip fails when the mean error of the 20 protocol bodies exceeds 0.5 m
(`sim.rewards.protocol_error`, the env's own termination under `eval_config`). Clips whose reference
never leaves its first pose by that rule pass for a humanoid that stands still (`standing_still`): 12 of
the 28 fitted ASAP clips do, so beside the success rate every result carries it over the clips that
need motion (`moving_success_rate`, and `frames_past_still`: how much further than standing still
the policy follows them) and the share a still humanoid completes (`still_rate`).

`evaluate_clips` drives an env made with `sim.env.eval_config` with any torch policy in one goal
mode and reports per-clip and aggregate figures: with one env per clip all clips play at once,
with fewer envs (a library larger than the batch, or a subset of it) clips of similar length play
in batches, so that one long clip does not hold short ones; `evaluate_grid` repeats it over
modes, sampler noises and flow-step counts (one compiled env serves them all) and
`markdown_tables` writes the result as "success vs flow steps".

`humanoid-fpo eval` is `evaluate_and_save`: a run's policy (`load_policy`) on an eval-protocol env
(`eval_env`, the one place that builds it from a run and `EvalOptions`), over terrain tiles one at a
time (`evaluate_tiles`), written to RUN/eval/`eval_name`/results.json and results.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import count, product
from pathlib import Path

import jax
import numpy as np
import torch

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.run.checkpoint import TrainedPolicy, load_trained, run_folder
from humanoid_fpo.run.config import project_path
from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.motion.library import MotionLibrary, load_motions
from humanoid_fpo.sim.config import MODES, TerrainConfig, run_modes
from humanoid_fpo.sim.env import (EnvState, TrackingEnv, action_for, eval_config, make_env,
                                  reference, reset, step, use_jax_cache, with_termination_distance)
from humanoid_fpo.sim.rewards import FAIL_DISTANCE, PROTOCOL_BODIES, protocol_error
from humanoid_fpo.sim.terrain import at_level

NOISES = ("zero", "random")
"""Sampler start for evaluation: x0 = 0 (deterministic) or x0 drawn as in rollouts."""
ERRORS = ("g_mpjpe_mm", "mpjpe_mm", "accel_mm")
FIGURES = ("success_rate", "moving_success_rate", "frames_past_still", "frames", *ERRORS)
"""Aggregates over clips: success rate; over the clips a humanoid standing still fails, the success
rate and the frames tracked past where standing still fails (NaN where there are none); mean frames
tracked per clip, and the mean errors."""


class _Score:
    """The protocol's bookkeeping over one pass of every clip: frames tracked, failures, and per-env
    running sums of the errors (accel from the last three positions)."""

    def __init__(self, info: dict[str, np.ndarray], fail_distance: float):
        self.history = [_positions(info)]  # the last three frames' (sim, ref) positions (N, 20, 3)
        n = len(self.history[0][0])
        self.sums = {name: np.zeros(n) for name in ERRORS}
        self.frames, self.accel_frames = np.zeros(n, int), np.zeros(n, int)
        self.fail_distance = fail_distance
        self.playing = np.ones(n, bool)  # before the clip's end (or its failure, where the env ends it)
        self.active = np.ones(n, bool)  # before the clip's end or its failure: the frames scored
        self.failed = np.zeros(n, bool)

    def add(self, state: EnvState) -> dict[str, np.ndarray]:
        """Fold in one step; returns its info as host arrays."""
        info = {k: np.asarray(state.info[k]) for k in _SCORED}
        active = self.active
        self.sums["g_mpjpe_mm"] += np.where(active, protocol_error(info["body_error"]), 0.0)
        self.sums["mpjpe_mm"] += np.where(active, protocol_error(info["body_error_local"]), 0.0)
        self.history = [*self.history[-2:], _positions(info)]
        if len(self.history) == 3:
            (s0, r0), (s1, r1), (s2, r2) = self.history
            accel = np.linalg.norm((s2 - 2 * s1 + s0) - (r2 - 2 * r1 + r0), axis=-1).mean(-1)
            self.sums["accel_mm"] += np.where(active, accel, 0.0)
            self.accel_frames += active
        self.frames += active
        failing = np.asarray(state.terminated) | (protocol_error(info["body_error"]) > self.fail_distance)
        self.failed |= active & failing
        self.playing &= ~np.asarray(state.done)
        self.active &= self.playing & ~self.failed
        return info

    def per_clip(self, clip_names: Iterable[str]) -> dict[str, dict]:
        """{name: figures} of the first envs, one per name."""
        def per_env(name: str) -> np.ndarray:
            frames = self.accel_frames if name == "accel_mm" else self.frames
            return 1000 * self.sums[name] / np.maximum(frames, 1)

        return {name: {"success": bool(~self.failed[i]), "frames": int(self.frames[i]),
                       **{k: float(per_env(k)[i]) for k in ERRORS}}
                for i, name in enumerate(clip_names)}


def standing_still(library: MotionLibrary) -> tuple[np.ndarray, np.ndarray]:
    """How the protocol scores a humanoid frozen in each clip's first pose: (C,) frames (the first
    frame where the reference has left that pose by the failure rule, else the clip's last frame) and
    (C,) whether it completes the clip without any motion. Kinematic: a real humanoid also has to
    balance, so this is what standing still can reach at best."""
    pos, frames, completed = np.asarray(library.body_pos), [], []
    for start, length in zip(np.asarray(library.clip_start), np.asarray(library.clip_length)):
        clip = pos[start:start + length]
        over = np.flatnonzero(protocol_error(np.linalg.norm(clip - clip[0], axis=-1)) > FAIL_DISTANCE)
        frames.append(over[0] if len(over) else length - 1)
        completed.append(len(over) == 0)
    return np.array(frames, int), np.array(completed)


def _summary(per_clip: dict[str, dict], library: MotionLibrary) -> dict:
    """The aggregates (means over clips) and the per-clip figures, each clip with how `standing_still`
    scores it ("still_frames", "still": whether standing still completes it)."""
    still = dict(zip(library.clip_names, zip(*standing_still(library)), strict=True))
    per_clip = {name: c | {"still_frames": int(still[name][0]), "still": bool(still[name][1])}
                for name, c in per_clip.items()}
    moving = [c for c in per_clip.values() if not c["still"]]
    return {"success_rate": float(np.mean([c["success"] for c in per_clip.values()])),
            "moving_success_rate": float(np.mean([c["success"] for c in moving])) if moving else float("nan"),
            "frames_past_still": (float(np.mean([c["frames"] - c["still_frames"] for c in moving])) if moving
                                  else float("nan")),
            **{k: float(np.mean([c[k] for c in per_clip.values()])) for k in FIGURES[3:]},
            "still_rate": float(np.mean([c["still"] for c in per_clip.values()])), "clips": per_clip}


_SCORED = ("body_error", "body_error_local", "body_pos", "ref_body_pos")


def _positions(info: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bodies = np.asarray(PROTOCOL_BODIES)
    return np.asarray(info["body_pos"])[:, bodies], np.asarray(info["ref_body_pos"])[:, bodies]


def _start(env: TrackingEnv, key: jax.Array, mode: str | None, play_on: bool,
           clips: np.ndarray) -> tuple[EnvState, _Score]:
    """Clip clips[i] (N,) at frame 0 in env i, goals of `mode` (default: the env's); with `play_on`
    the env no longer ends a failed clip (the score finds the failure by the same rule)."""
    if env.cfg.random_start or env.cfg.resample_clips:
        raise ValueError("evaluating needs an eval_config env (frame 0, no clip resampling)")
    mode = mode or env.cfg.conditioning
    if mode not in MODES:
        raise ValueError(f"unknown conditioning mode {mode!r}; choose from {', '.join(MODES)}")
    state = reset(env, key, clips, np.full(env.num_envs, MODES.index(mode)))
    score = _Score({k: np.asarray(state.info[k]) for k in _SCORED}, env.cfg.termination_distance)
    return (with_termination_distance(state, np.inf) if play_on else state), score


def _steps(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor], state: EnvState,
           frames: int) -> Iterator[EnvState]:
    """The env's states after each control step from `state`, for the `frames` of the longest clip."""
    for _ in range(frames - 1):
        state = step(env, state, to_jax(act(to_torch(state.obs))))
        yield state


def batches(lengths: np.ndarray, clips: np.ndarray, size: int) -> list[tuple[np.ndarray, int]]:
    """`clips` (M,) as batches of `size` envs: (clip per env (size,), how many are real). All in one
    batch in their order where they fit; else longest first, so each batch's clips are of similar
    `lengths` (C,); the last batch is filled up with copies of its first clip."""
    order = clips if len(clips) <= size else clips[np.argsort(-lengths[clips], kind="stable")]
    parts = [order[i:i + size] for i in range(0, len(order), size)]
    return [(np.r_[part, np.full(size - len(part), part[0])], len(part)) for part in parts]


def evaluate_clips(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor], key: jax.Array,
                   mode: str | None = None, clips: Iterable[int] | None = None) -> dict:
    """Play `clips` (library indices; default every clip), each in an env of its own until it ends or
    fails, with goals of `mode` (default: the env's), as many at once as the env has envs (`batches`).

    act: (N, O) torch observations → (N, A) actions. Returns {"success_rate", "moving_success_rate",
    "frames_past_still", "frames", "g_mpjpe_mm", "mpjpe_mm", "accel_mm", "still_rate", "clips": {name:
    {"success", "frames", "g_mpjpe_mm", "mpjpe_mm", "accel_mm", "still_frames", "still"}}} (`_summary`,
    `standing_still`): frames tracked (control steps before the failure or the clip's end)
    and errors of the 20 protocol bodies, mean over the frames tracked (mm; accel in mm/frame², from
    second differences of the positions); the aggregates are means over clips."""
    lib = env.library
    lengths = np.asarray(lib.clip_length)
    clips = np.arange(lib.num_clips) if clips is None else np.asarray(list(clips), int)
    per_clip = {}
    for b, (batch, real) in enumerate(batches(lengths, clips, env.num_envs)):
        start, score = _start(env, key if b == 0 else jax.random.fold_in(key, b), mode, False, batch)
        for state in _steps(env, act, start, int(lengths[batch].max())):
            score.add(state)
            if not score.active.any():
                break
        per_clip |= score.per_clip(lib.clip_names[c] for c in batch[:real])
    return _summary({lib.clip_names[c]: per_clip[lib.clip_names[c]] for c in clips}, lib)


def record_clip(env: TrackingEnv, act: Callable[[torch.Tensor], torch.Tensor], key: jax.Array, clip: int,
                mode: str | None = None, play_on: bool = False) -> dict:
    """`evaluate_clips`' pass (the same figures) recording clip `clip` for a video: adds "qpos" (T, nq)
    of its humanoid, "ref_qpos" (T, nq) of its reference and "error" (T,) its mean protocol-body
    error (m), frame 0 to its failure or end. With `play_on`, a failed clip plays on to its end (the
    figures still stop at the failure)."""
    if env.num_envs != env.library.num_clips:
        raise ValueError(f"record_clip needs one env per clip ({env.library.num_clips}), got {env.num_envs}")
    start, score = _start(env, key, mode, play_on, np.arange(env.num_envs))
    first = reference(env, start.episode, start.episode.step)
    recorded = [(np.asarray(start.data.qpos[clip]), np.asarray(first.qpos[clip]),
                 float(protocol_error(np.asarray(start.info["body_error"][clip]))))]
    before = start
    for state in _steps(env, act, start, int(np.max(env.library.clip_length))):
        playing = score.playing[clip]
        info = score.add(state)
        if playing:  # the pose before any reset, against the frame its step aimed at
            ref = reference(env, before.episode, before.episode.step + 1).qpos[clip]
            recorded.append((np.asarray(state.info["qpos"][clip]), np.asarray(ref),
                             float(protocol_error(info["body_error"][clip]))))
        before = state
        if not (score.active.any() or (play_on and score.playing[clip])):
            break
    qpos, ref_qpos, error = (np.stack(x) for x in zip(*recorded))
    recording = {"qpos": qpos, "ref_qpos": ref_qpos, "error": error}
    return _summary(score.per_clip(env.library.clip_names), env.library) | recording


def stratified_clips(lengths: np.ndarray, n: int) -> np.ndarray:
    """(n,) ascending library indices of `n` clips spread evenly over the clips ordered by `lengths`
    (C,) (every clip where n ≥ C): a fixed subset with short and long clips in proportion."""
    order = np.argsort(lengths, kind="stable")
    if n >= len(order):
        return np.arange(len(order))
    return np.sort(order[((np.arange(n) + 0.5) * len(order) / n).astype(int)])


def eval_clip_count(lengths: np.ndarray, env_steps: int, share: float = 0.05) -> int:
    """How many clips of mean length (`lengths` (C,)) an evaluation can play for `share` of the
    `env_steps` between two evaluations: at least 1, at most every clip."""
    return int(np.clip(share * env_steps // max(float(np.mean(lengths)), 1.0), 1, len(lengths)))


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
    """Open-loop reference targets as a policy for `evaluate_clips` of every clip on an env with one
    env per clip (a fresh one per call of it): at
    its k-th call, each clip's frame k joint angles as a normalised action (C, A), the ceiling of a
    prior that copies the reference. Observations are ignored."""
    lib = env.library
    start, length = np.asarray(lib.clip_start), np.asarray(lib.clip_length)
    joints = np.asarray(lib.qpos)[:, 7:]
    calls = count(1)

    def act(obs: torch.Tensor) -> torch.Tensor:
        frame = np.minimum(next(calls), length - 1)
        return to_torch(action_for(env, joints[start + frame]))

    return act


def markdown_tables(results: list[dict], lengths: dict[str, int] | None = None) -> str:
    """Success rate vs flow steps (one row per tile, mode and noise, one column per K), then every
    figure (with the success over the clips that need motion, `standing_still`), then per setting a
    row per clip (success, frames tracked of the clip's `lengths`, G-MPJPE, the frames a humanoid
    standing still is scored); the tile column only where results carry one (`eval --terrain`)."""
    steps = sorted({r["flow_steps"] for r in results})
    tiles = list(dict.fromkeys(r.get("tile") for r in results))
    rows = sorted({(r.get("tile"), r["mode"], r["noise"]) for r in results},
                  key=lambda x: (tiles.index(x[0]), MODES.index(x[1]), NOISES.index(x[2])))
    lookup = {(r.get("tile"), r["mode"], r["noise"], r["flow_steps"]): r for r in results}
    tile = (lambda t: [t]) if tiles != [None] else (lambda t: [])
    row = lambda cells: "| " + " | ".join(cells) + " |"
    lines = ["Success rate vs flow steps K", "",
             row([*tile("tile"), "mode", "x0", *(f"K={k}" for k in steps)]),
             row(["---"] * (len(tile("")) + 2 + len(steps)))]
    for t, mode, noise in rows:
        cells = [f"{lookup[t, mode, noise, k]['success_rate']:.3f}" if (t, mode, noise, k) in lookup else ""
                 for k in steps]
        lines.append(row([*tile(t), mode, noise, *cells]))
    still = results[0]["still_rate"] if results else float("nan")
    lines += ["", f"A humanoid standing still in each clip's first pose would complete {still:.3f} of the "
                  "clips; over the others, \"moving\" is the success rate and \"past still\" the frames "
                  "tracked past where standing still fails.", "",
              row([*tile("tile"), "mode", "x0", "K", "success", "moving", "past still", "frames",
                   "G-MPJPE mm", "MPJPE mm", "accel mm/frame²"]), row(["---"] * (len(tile("")) + 10))]
    for r in results:
        lines.append(row([*tile(r.get("tile")), r["mode"], r["noise"], str(r["flow_steps"]),
                          f"{r['success_rate']:.3f}", f"{r['moving_success_rate']:.3f}",
                          f"{r['frames_past_still']:.1f}", f"{r['frames']:.1f}", f"{r['g_mpjpe_mm']:.1f}",
                          f"{r['mpjpe_mm']:.1f}", f"{r['accel_mm']:.1f}"]))
    lengths = lengths or {}
    for r in results:
        setting = ", ".join([*tile(f"tile {r.get('tile')}"), f"{r['mode']} goals", f"x0 {r['noise']}",
                             f"K={r['flow_steps']}"])
        lines += ["", f"Per clip ({setting})", "",
                  row(["clip", "success", "frames", "G-MPJPE mm", "standing still"]), row(["---"] * 5)]
        for name, c in r["clips"].items():
            of = f"/{lengths[name]}" if name in lengths else ""
            still = "completes" if c["still"] else f"{c['still_frames']}"
            lines.append(row([name, "yes" if c["success"] else "no", f"{c['frames']}{of}",
                              f"{c['g_mpjpe_mm']:.1f}", still]))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class EvalOptions:
    """Where an evaluation departs from its run (None or False: as the run trained)."""

    motions: Path | None = None
    """A motion library or clip files/folder instead of the run's motions.npz."""
    terrain: tuple[str, ...] | None = None
    """Terrain types: one tile column each (`eval_env`), or one terrain each (`evaluate_tiles`)."""
    terrain_seed: int | None = None
    """Heightfield seed (not the run's: unseen terrain)."""
    terrain_level: int | None = None
    """One fixed difficulty (`sim.terrain.at_level`) instead of the run's start levels."""
    backend: str | None = None
    """Physics: mjx, native or auto."""
    randomised: bool = False
    """Each clip's friction, masses and gains drawn from the run's training ranges (env.randomize;
    seeded), the protocol otherwise unchanged."""


def load_policy(run: Path, device: str = "cpu", which: str = "last") -> TrainedPolicy:
    """The EMA policy of `run` (a run folder's checkpoint `which`: last or best, or a checkpoint file)
    on torch `device`, with its run's JAX compilation cache (so that an evaluation reuses the run's
    compiled step)."""
    trained = load_trained(run, device, which)
    use_jax_cache(project_path(trained.cfg.jax_cache))
    return trained


def eval_terrain(cfg: TerrainConfig, options: EvalOptions,
                 types: tuple[str, ...] | None = None) -> TerrainConfig:
    """The run's terrain `cfg` on tiles of `types` (default: options.terrain, else the run's), at
    options' seed and fixed level where given."""
    types = types or options.terrain
    if types:
        cfg = replace(cfg, types=types)
    if options.terrain_seed is not None:
        cfg = replace(cfg, seed=options.terrain_seed)
    if options.terrain_level is not None:
        cfg = at_level(cfg, options.terrain_level)
    return cfg


def eval_env(trained: TrainedPolicy, options: EvalOptions,
             types: tuple[str, ...] | None = None) -> TrackingEnv:
    """An eval-protocol env (`sim.env.eval_config`, one env per clip) for `trained` over its clips (or
    options.motions), on `eval_terrain`'s ground, on options.backend (default: the run's)."""
    run = trained.cfg.env
    library = load_motions(options.motions, run.model_path) if options.motions else trained.library
    terrain = eval_terrain(run.terrain, options, types)
    cfg = eval_config(replace(run, terrain=terrain, backend=options.backend or run.backend),
                      library.num_clips)
    if options.randomised:
        cfg = replace(cfg, randomize=run.randomize)
    return make_env(cfg, library)


def evaluate_tiles(trained: TrainedPolicy, options: EvalOptions, modes: Sequence[str], noises: Sequence[str],
                   flow_steps: Sequence[int], seed: int = 0) -> tuple[list[dict], dict[str, int]]:
    """`evaluate_grid` of `trained`'s policy on each of options.terrain's tile types, each on a terrain
    of its own so that every figure names the ground it was on (each result carries its "tile"); once,
    on the run's terrain, where options.terrain is None. Prints what it evaluates. Returns the results
    and the clips' lengths (frames)."""
    tiles = options.terrain or (None,)
    results = []
    for tile in tiles:
        env = eval_env(trained, options, tile and (tile,))
        if tile == tiles[0]:
            one_by_one = f", {len(tiles)} tile types one at a time" if options.terrain else ""
            print(f"evaluating on {env.library.num_clips} clips{one_by_one}")
        results += [({"tile": tile} if tile else {}) | r
                    for r in evaluate_grid(env, trained.learner, modes, noises, flow_steps, seed)]
    lib = env.library
    return results, {n: int(k) for n, k in zip(lib.clip_names, np.asarray(lib.clip_length))}


def eval_name(options: EvalOptions, modes: Sequence[str], noises: Sequence[str], flow_steps: Sequence[int],
              seed: int = 0) -> str:
    """A folder name for one evaluation's settings (`motions-full-zero-K10`), so that an evaluation on
    other clips, modes, samplers, K, terrain or backend never replaces another's results."""
    parts = [options.motions.stem if options.motions else "motions", "+".join(modes), "+".join(noises),
             "K" + "+".join(map(str, flow_steps))]
    parts += [f"{k}{v}" for k, v in (("terrain-", options.terrain and "+".join(options.terrain)),
                                     ("seed", options.terrain_seed), ("level", options.terrain_level),
                                     ("", options.backend), ("evalseed", seed or None),
                                     ("", "randomised" if options.randomised else None)) if v is not None]
    return "-".join(parts)


def _note_untrained(trained: TrainedPolicy, modes: Sequence[str]) -> None:
    """Say which of `modes` the run never trained on: their figures are of goals it never saw."""
    seen = [MODES[m] for m in run_modes(trained.cfg.env.conditioning, trained.cfg.env.goal_drop_ratio)]
    unseen = [m for m in modes if m not in seen]
    if unseen:
        print(f"note: this run trained on {', '.join(seen)} goals only; {', '.join(unseen)} "
              f"{'was' if len(unseen) == 1 else 'were'} never trained (conditioning=mixed trains all three)")


def write_results(out: Path, trained: TrainedPolicy, options: EvalOptions, results: list[dict],
                  lengths: dict[str, int] | None = None) -> str:
    """OUT/results.json (the checkpoint, its iteration, the terrain and `results`) and OUT/results.md
    (`markdown_tables`), each written atomically; returns the tables."""
    terrain = eval_terrain(trained.cfg.env.terrain, options)
    header = {"checkpoint": str(trained.checkpoint), "iteration": trained.iteration,
              "terrain": {"types": list(terrain.types), "seed": terrain.seed, "levels": terrain.num_levels,
                          "level": options.terrain_level}}
    table = markdown_tables(results, lengths)
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(header | {"results": results}, indent=1))
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(f"# {trained.checkpoint} (iteration {trained.iteration})\n\n{table}")
    return table


def evaluate_and_save(run: Path, options: EvalOptions, modes: Sequence[str] | None = None,
                      noises: Sequence[str] = ("zero",), flow_steps: Sequence[int] | None = None,
                      seed: int = 0, device: str = "cpu", output: Path | None = None,
                      which: str = "last") -> Path:
    """`humanoid-fpo eval`: `evaluate_tiles` of the policy of `run` in `modes` (default: the run's
    conditioning) with K in `flow_steps` (default: the run's eval K), written to `output` (default:
    RUN/eval/`eval_name`) and printed; returns the folder. `which`: the run's last or best checkpoint."""
    trained = load_policy(run, device, which)
    print(f"evaluating {trained.describe()}")
    steps = flow_steps or [trained.cfg.eval_flow_steps or trained.cfg.algo.flow_steps]
    _note_untrained(trained, modes or [])
    modes = modes or [trained.cfg.env.conditioning]
    results, lengths = evaluate_tiles(trained, options, modes, noises, steps, seed)
    out = output or run_folder(run) / "eval" / eval_name(options, modes, noises, steps, seed)
    print(write_results(out, trained, options, results, lengths))
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return out
