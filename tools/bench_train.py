"""Benchmark training throughput: env-only and end-to-end env-steps/s for a composed train config.

    .venv/bin/python tools/bench_train.py                        # the CPU preset, writes BENCHMARKS.md
    python tools/bench_train.py preset=gpu --check-transfers     # on a GPU
    .venv/bin/python tools/bench_train.py --backend mjx native   # both physics backends, side by side
    python tools/bench_train.py preset=gpu --ranks 1 2 4 8         # whole-job env-steps/s under torchrun

Arguments are `humanoid-fpo train` overrides. Physics-only: MuJoCo C alone (`mujoco.batch`) stepping
the same scene's envs on the same threads (bench_env's measure, the native backend's ceiling).
Env-only: TrackingVecEnv steps with random torch actions (what the trainer's rollout pays for the
physics, the task in XLA and the DLPack hand-over). End-to-end: whole trainer iterations (rollout
with the policy, then the update), after one warm-up iteration. Per iteration it prints where the
time goes: the env (env-only's rate; in brackets its seconds inside MuJoCo, the physics at the
states the env visits, where physics-only steps reference poses), policy sampling (`learner.act` at
the rollout's batch, timed alone), the update, and the rest of the iteration (negative with
`overlap=true`, where the rollout runs during the update); its last line is
`end-to-end / physics-only: R`.
--check-transfers runs one rollout under `jax.transfer_guard("disallow")` and, on CUDA,
`torch.cuda.set_sync_debug_mode("error")`: any host copy or sync in the rollout loop raises.
--ranks N ... launches `torchrun --standalone --nproc_per_node=N humanoid-fpo train` for each N
(every rank with the config's envs: weak scaling) and reports the whole job's env-steps/s over the
iterations after the first, and its ratio to the first N's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import torch

from humanoid_fpo.run import config as run_config
from humanoid_fpo.run import train
from humanoid_fpo.learn.rollout import collect

from bench_env import measure_physics  # tools/ is on sys.path when this script runs
from bench_table import command_line, machine, write_rows

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Training: tools/bench_train.py"
HEADER = ("| date | machine | config | envs × steps | physics-only steps/s | env-only steps/s "
          "| end-to-end steps/s | end-to-end / physics-only "
          "| s per iteration: env (its physics) / sampling / update / rest | host copies in rollout | command |\n|---|---|---|---|---|---|---|---|---|---|---|")
RANKS_SECTION = "## Training on several ranks: tools/bench_train.py --ranks"
RANKS_HEADER = ("| date | machine | config | ranks | envs × steps per rank | job env-steps/s | × first row's "
                "| command |\n|---|---|---|---|---|---|---|---|")


def physics_seconds(trainer: train.Trainer) -> float:
    """Seconds the native engine has spent inside MuJoCo so far (NaN on MJX, whose physics is part
    of the env's XLA program)."""
    workspaces = getattr(trainer.env.env.engine, "workspaces", None)
    return float("nan") if workspaces is None else sum(w.physics_s for w in workspaces.sizes.values())


def env_only(trainer: train.Trainer, steps: int) -> tuple[float, float]:
    """env-steps/s of `steps` steps with random actions, after one warm-up step, and the seconds
    of those steps spent inside MuJoCo (the physics at the states the env visits)."""
    env, device = trainer.env, trainer.device
    actions = [0.1 * torch.randn(env.num_envs, env.action_size, device=device) for _ in range(steps + 1)]
    env.step(actions[0]).reward.sum().item()
    physics = physics_seconds(trainer)
    start = time.perf_counter()
    for a in actions[1:]:
        t = env.step(a)
    t.reward.sum().item()
    return env.num_envs * steps / (time.perf_counter() - start), physics_seconds(trainer) - physics


def sampling_s(trainer: train.Trainer, steps: int) -> float:
    """Seconds of `steps` calls of the policy's rollout sampling (`learner.act`) at the envs' batch."""
    obs, critic_obs = trainer.env.observe()
    trainer.learner.act(obs, critic_obs)
    start = time.perf_counter()
    for _ in range(steps):
        action, _ = trainer.learner.act(obs, critic_obs)
    action.sum().item()
    return time.perf_counter() - start


def check_transfers(trainer: train.Trainer) -> str:
    """Run one rollout with host transfers forbidden; 'none' or raises."""
    if trainer.device.type == "cuda":
        torch.cuda.set_sync_debug_mode("error")
    try:
        with jax.transfer_guard("disallow"):
            collect(trainer.learner, trainer.env, trainer.storage, trainer.tracker, {})
    finally:
        if trainer.device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    return "none (asserted)"


def measure(overrides: list[str], iterations: int, transfers: bool) -> tuple[str, float]:
    """One table row (physics-only, env-only and end-to-end env-steps/s of the composed config, the
    per-iteration breakdown) and end-to-end / physics-only."""
    cfg, _ = run_config.compose(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(cfg, run_dir=tmp, progress=False, wandb=run_config.WandbConfig(mode="disabled"))
        trainer = train.build_trainer(cfg, Path(tmp))
        start = time.perf_counter()
        trainer.train_iteration()  # compiles the env step
        compile_s = time.perf_counter() - start
        print(f"{' '.join(overrides)}: first iteration (compile included) {compile_s:.0f} s", flush=True)
        env = trainer.env.env
        physics = measure_physics(env, cfg.steps_per_env, cfg.env.threads or os.cpu_count()) \
            if env.cfg.backend == "native" else float("nan")
        env_rate, env_physics_s = env_only(trainer, cfg.steps_per_env)
        sample_s = sampling_s(trainer, cfg.steps_per_env)
        rows = [trainer.train_iteration() for _ in range(iterations)]
        checked = check_transfers(trainer) if transfers else "not checked"
    batch = cfg.env.num_envs * cfg.steps_per_env
    seconds = sum(r["iteration_s"] for r in rows)
    end_to_end = len(rows) * batch / seconds
    update_s = sum(r["update_s"] for r in rows) / len(rows)
    env_s = batch / env_rate
    rest_s = seconds / len(rows) - update_s - env_s - sample_s
    parts = f"{env_s:.2f} ({env_physics_s:.2f}) / {sample_s:.2f} / {update_s:.2f} / {rest_s:.2f}"
    ratio = end_to_end / physics
    print(f"per iteration ({batch} env steps, {seconds / len(rows):.2f} s): env {env_s:.2f} s "
          f"(inside MuJoCo {env_physics_s:.2f} s), "
          f"policy sampling {sample_s:.2f} s, update {update_s:.2f} s, the rest {rest_s:.2f} s", flush=True)
    command = command_line()
    label = " ".join(overrides) or "defaults (preset=cpu, algo=fpo_pp)"
    return (f"| {datetime.date.today().isoformat()} | {machine()} | {label} | {cfg.env.num_envs} × "
            f"{cfg.steps_per_env} | {physics:,.0f} | {env_rate:,.0f} | {end_to_end:,.0f} | {ratio:.2f} "
            f"| {parts} | {checked} | `{command}` |"), ratio


def job_rate(overrides: list[str], ranks: int, iterations: int) -> tuple[float, str]:
    """Whole-job env-steps/s of `ranks` torchrun ranks over `iterations` timed iterations (after a
    first that compiles), and the envs × steps of one rank."""
    cfg, _ = run_config.compose(overrides)
    last = iterations + 1
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                   "-m", "humanoid_fpo.cli", "train", *overrides, f"iterations={last}", "prior.steps=0",
                   "eval_every=0", f"checkpoint_every={last}", f"plot_every={last}", "progress=false",
                   f"run_dir={tmp}/run", f"jax_cache={ROOT / '.cache' / 'jax'}"]
        done = subprocess.run(command, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True,
                              text=True)
        if done.returncode:
            raise SystemExit(f"{ranks} ranks failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        rows = [json.loads(line) for line in Path(tmp, "run", "metrics.jsonl").read_text().splitlines()]
    per_iteration, timed = rows[1]["env_steps"], rows[2:]  # rows[0]: before training; rows[1] compiles
    return per_iteration * len(timed) / sum(r["iteration_s"] for r in timed), \
        f"{cfg.env.num_envs} × {cfg.steps_per_env}"


def measure_ranks(overrides: list[str], ranks: list[int], iterations: int) -> list[str]:
    """One table row per number of ranks."""
    rows, first = [], None
    command = command_line()
    label = " ".join(overrides) or "defaults (preset=cpu, algo=fpo_pp)"
    for n in ranks:
        rate, batch = job_rate(overrides, n, iterations)
        first = first or rate
        rows.append(f"| {datetime.date.today().isoformat()} | {machine()} | {label} | {n} | {batch} | "
                    f"{rate:,.0f} | {rate / first:.2f} | `{command}` |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="humanoid-fpo train overrides, e.g. preset=gpu")
    parser.add_argument("--backend", nargs="+", choices=["mjx", "native"],
                        help="measure each of these physics backends side by side (default: the config's)")
    parser.add_argument("--iterations", type=int, default=3, help="timed end-to-end iterations")
    parser.add_argument("--check-transfers", action="store_true")
    parser.add_argument("--ranks", nargs="+", type=int, help="torchrun ranks to measure the whole job with")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir", str(ROOT / ".cache" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    if args.ranks:
        rows = measure_ranks(args.overrides, args.ranks, args.iterations)
        if not args.no_write:
            write_rows(args.output, RANKS_SECTION, RANKS_HEADER, rows, slice(1, 4))
        return
    runs = [args.overrides + [f"env.backend={b}"] for b in args.backend] if args.backend else [args.overrides]
    rows, ratios = [], []
    for overrides in runs:
        row, ratio = measure(overrides, args.iterations, args.check_transfers)
        rows.append(row)
        ratios.append(ratio)
        print(row, flush=True)
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 4))
    print(f"end-to-end / physics-only: {ratios[-1]:.2f}")


if __name__ == "__main__":
    main()
