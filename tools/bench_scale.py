"""Benchmark an AMASS-size motion library on this machine, without AMASS: a synthetic library of
--clips clips generated from the ASAP clips (each a random clip slowed by a random factor, turned and
shifted on the ground), then built, saved, loaded and used as a training run would: a device copy,
env steps, the motion prior's draws, and the evaluation cost during and after training.

    .venv/bin/python tools/bench_scale.py --clips 10000          # ~4 M frames, ~17 GB at its peak
    .venv/bin/python tools/bench_scale.py --clips 1000 --no-write

Memory is the process's resident set (peak and after each stage, from the kernel); the library's
own size is its arrays' bytes. Evaluation: `evaluate.eval_clip_count` sizes the subset evaluated
during training (the CPU preset: 64 envs x 32 steps, every 25 iterations); its seconds, and those of
every clip after training, are the frames of the clips (a tracker that completes them) over the
eval env's steps per second at the subset's batch and at --eval-batch envs (bench_env's measure:
every env steps throughout, a failed one restarting).
Minutes on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
import resource
import tempfile
import time
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import numpy as np

from humanoid_fpo.run import prepare
from humanoid_fpo.run import config as run_config
from humanoid_fpo.evaluate import eval_clip_count
from humanoid_fpo.body.humanoid import load_model
from humanoid_fpo.learn.prior import reference_rows
from humanoid_fpo.motion.library import build_library, load_library, load_motions, save_library
from humanoid_fpo.motion.retarget import RetargetedClip
from humanoid_fpo.sim.env import eval_config, make_env

from bench_env import measure  # tools/ is on sys.path
from bench_table import command_line, machine, write_rows

SECTION = "## An AMASS-size library on this machine: tools/bench_scale.py"
HEADER = ("| date | machine | clips | frames | build s | library GB | save / load s | peak RSS GB "
          "| env steps/s (64 envs) | prior draw of 65,536 s | eval subset: clips, s | every clip "
          "| command |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def rss_gb() -> tuple[float, float]:
    """(now, peak) resident memory of this process, GB."""
    now = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS"))
    return now / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def yaw_turn(qpos: np.ndarray, yaw: float, shift: np.ndarray) -> np.ndarray:
    """qpos (T, nq) turned by `yaw` about z through the origin and shifted by `shift` (2,) on the ground."""
    c, s = np.cos(yaw), np.sin(yaw)
    out = qpos.copy()
    out[:, 0] = c * qpos[:, 0] - s * qpos[:, 1] + shift[0]
    out[:, 1] = s * qpos[:, 0] + c * qpos[:, 1] + shift[1]
    w, z = np.cos(yaw / 2), np.sin(yaw / 2)  # (w, 0, 0, z) * q
    q = qpos[:, 3:7]
    out[:, 3:7] = np.stack([w * q[:, 0] - z * q[:, 3], w * q[:, 1] - z * q[:, 2],
                            w * q[:, 2] + z * q[:, 1], w * q[:, 3] + z * q[:, 0]], -1)
    return out


def slowed(qpos: np.ndarray, factor: float) -> np.ndarray:
    """qpos (T, nq) played `factor` times slower (linear in time; the root quaternion renormalised)."""
    t = np.linspace(0, len(qpos) - 1, int(round((len(qpos) - 1) * factor)) + 1)
    i0 = np.minimum(np.floor(t).astype(int), len(qpos) - 2)
    w = (t - i0)[:, None]
    out = (1 - w) * qpos[i0] + w * qpos[i0 + 1]
    out[:, 3:7] /= np.linalg.norm(out[:, 3:7], axis=1, keepdims=True)
    return out


def synthetic_clips(sources: list[np.ndarray], count: int, slow: tuple[float, float], fps: float,
                    seed: int = 0) -> list[RetargetedClip]:
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(count):
        qpos = slowed(sources[rng.integers(len(sources))], rng.uniform(*slow))
        qpos = yaw_turn(qpos, rng.uniform(-np.pi, np.pi), rng.uniform(-5, 5, 2))
        clips.append(RetargetedClip(name=f"synthetic_{i:05d}", source="synthetic", fps=fps, qpos=qpos,
                                    fit_error=0.0, fit_error_max=0.0, contact_error=0.0))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=10000)
    parser.add_argument("--slow", type=float, nargs=2, default=(1.5, 4.0),
                        help="range of the slow-down factor (ASAP clips: 142 frames on average; 1.5-4: ~390)")
    parser.add_argument("--motions", type=Path, default=Path("../shared/motions/asap_smpl"))
    parser.add_argument("--eval-batch", type=int, default=1024, help="envs of the after-training evaluation")
    parser.add_argument("--steps", type=int, default=50, help="env steps timed per measurement")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not args.motions.exists():
        raise SystemExit(f"error: {args.motions}: no such clip folder (the shared ASAP clips)")
    cfg, _ = run_config.compose(["preset=cpu"])
    model = load_model()
    asap = load_motions(args.motions, cache=".cache/motions")
    sources = [np.asarray(asap.qpos[s:s + n], np.float64) for s, n in zip(asap.clip_start, asap.clip_length)]
    clips = synthetic_clips(sources, args.clips, tuple(args.slow), asap.fps)
    frames = sum(len(c.qpos) for c in clips)
    print(f"{args.clips} clips, {frames:,} frames generated; rss {rss_gb()[0]:.1f} GB", flush=True)

    start = time.perf_counter()
    library = build_library(clips, model)
    build_s = time.perf_counter() - start
    del clips
    library_gb = sum(np.asarray(x).nbytes for x in jax.tree.leaves(library)) / 2**30
    print(f"built in {build_s:.0f} s: {library_gb:.2f} GB; rss {rss_gb()[0]:.1f} GB", flush=True)
    with tempfile.TemporaryDirectory(dir=".cache") as folder:
        path = Path(folder) / "library.npz"
        start = time.perf_counter()
        save_library(library, path)
        save_s = time.perf_counter() - start
        del library
        start = time.perf_counter()
        library = load_library(path, model)
        load_s = time.perf_counter() - start
    print(f"saved in {save_s:.0f} s, loaded in {load_s:.0f} s; rss {rss_gb()[0]:.1f} GB", flush=True)

    env_cfg = prepare.with_default_pose(cfg, library).env
    env = make_env(env_cfg, library)  # the training env's device copy (JAX on the CPU: a second host copy)
    rate = measure(env, args.steps)[1]
    print(f"env: {rate:,.0f} steps/s at {env.num_envs} envs; rss {rss_gb()[0]:.1f} GB", flush=True)

    rows = reference_rows(env, cfg.prior, jax.random.key(0))
    start = time.perf_counter()
    drawn = rows.draw(cfg.prior.pool, 1)
    draw_s = time.perf_counter() - start
    drawn_gb = sum(x.numel() * x.element_size() for x in drawn.values()) / 2**30
    del drawn
    print(f"prior: {rows.count:,} rows; a draw of {cfg.prior.pool:,} in {draw_s:.0f} s ({drawn_gb:.2f} GB); "
          f"rss {rss_gb()[0]:.1f} GB", flush=True)

    lengths = np.asarray(library.clip_length)
    between = cfg.eval_every * env_cfg.num_envs * cfg.steps_per_env
    subset = eval_clip_count(lengths, between)
    shared = env.library  # the evaluation envs share the training env's device copy, as in the trainer
    small = make_env(eval_config(env_cfg, subset), shared)
    subset_rate = measure(small, args.steps)[1]
    big = make_env(eval_config(env_cfg, min(args.eval_batch, library.num_clips)), shared)
    big_rate = measure(big, args.steps)[1]
    subset_s = subset * lengths.mean() / subset_rate
    every_s = frames / big_rate
    now, peak = rss_gb()
    print(f"evaluation: {subset} clips during training ~{subset_s:.1f} s ({subset_rate:,.0f} steps/s); "
          f"every clip ~{every_s / 60:.0f} min ({big_rate:,.0f} steps/s at {big.num_envs} envs); "
          f"rss {now:.1f}, peak {peak:.1f} GB")
    if args.no_write:
        return
    row = [datetime.date.today().isoformat(), machine(), f"{library.num_clips:,} synthetic", f"{frames:,}",
           f"{build_s:.0f}", f"{library_gb:.2f}", f"{save_s:.0f} / {load_s:.0f}", f"{peak:.1f}",
           f"{rate:,.0f}",
           f"{draw_s:.0f} ({drawn_gb:.2f} GB)",
           f"{subset}, {subset_s:.1f}",
           f"{every_s / 60:.0f} min at {big.num_envs} envs",
           f"`{command_line()}`"]
    write_rows(args.output, SECTION, HEADER, ["| " + " | ".join(row) + " |"], slice(1, 3))


if __name__ == "__main__":
    main()
