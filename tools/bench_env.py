"""Benchmark the tracking env on each physics backend: compile time and control-steps/s against
batch size and terrain, and the physics alone.

    .venv/bin/python tools/bench_env.py                               # CPU sizes, writes BENCHMARKS.md
    python tools/bench_env.py --backend mjx --envs 4096 8192 16384   # on a GPU

A rollout of --steps control steps runs inside one `lax.scan` with random actions U(-0.2, 0.2), so
envs fall and reset as in early training; both backends run the same jitted task (native through
its callback). Compile time is the first call's time minus a steady call's. "physics only" rows
step the same scene's MuJoCo C envs (`mujoco.batch.Batch`, what the native backend calls) from
reference states under the same controls with no task at all: the difference to the native row is
the task's cost. Rows for this machine replace earlier rows with the same backend, terrain and
batch; rows of other machines stay.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import time
from functools import partial
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import mujoco
import numpy as np
from mujoco.batch import Batch

from humanoid_fpo.body.humanoid import CONTACT_SETS, load_model
from humanoid_fpo.motion.library import build_library
from humanoid_fpo.motion.retarget import retarget_file
from humanoid_fpo.sim.config import ENGINES, TERRAIN_TYPES, EnvConfig, TerrainConfig
from humanoid_fpo.sim.env import EnvState, TrackingEnv, make_env, reset, step

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Environment: tools/bench_env.py"
HEADER = ("| date | machine | backend | terrain | physics | envs | compile (s) | control-steps/s "
          "| command |\n|---|---|---|---|---|---|---|---|---|")
TERRAINS = {"flat": ("flat",), "rough": TERRAIN_TYPES}


@partial(jax.jit, static_argnums=3)
def rollout(env: TrackingEnv, state: EnvState, key: jax.Array, steps: int) -> EnvState:
    def body(s: EnvState, k: jax.Array) -> tuple[EnvState, jax.Array]:
        action = jax.random.uniform(k, (env.num_envs, env.action_size), minval=-0.2, maxval=0.2)
        s = step(env, s, action)
        return s, s.reward.mean()

    state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
    return state


def measure(env: TrackingEnv, steps: int) -> tuple[float, float]:
    """(compile seconds, control-steps/s over all envs)."""
    state = jax.block_until_ready(reset(env, jax.random.key(0)))
    start = time.perf_counter()
    state = jax.block_until_ready(rollout(env, state, jax.random.key(1), steps))
    first = time.perf_counter() - start
    times = []
    for k in range(2):
        start = time.perf_counter()
        state = jax.block_until_ready(rollout(env, state, jax.random.key(2 + k), steps))
        times.append(time.perf_counter() - start)
    steady = min(times)
    return first - steady, env.num_envs * steps / steady


def measure_physics(env: TrackingEnv, steps: int, threads: int) -> float:
    """control-steps/s of MuJoCo C alone: `env`'s scene, every env from a reference state, stepped
    `decimation` substeps per control step under random PD targets, as the native backend does."""
    batch = Batch(env.mj_model, env.num_envs, nthread=threads)
    qpos, ctrl = batch.bind("qpos"), batch.bind("ctrl")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, env.library.qpos.shape[0], env.num_envs)
    offset, scale = np.asarray(env.action_offset), np.asarray(env.action_scale)
    times = []
    for _ in range(3):
        batch.reset()
        qpos[:] = np.asarray(env.library.qpos)[frames]
        start = time.perf_counter()
        for _ in range(steps):
            ctrl[:] = offset + scale * rng.uniform(-0.2, 0.2, ctrl.shape)
            batch.step(nstep=env.cfg.decimation, stage=mujoco.mjtStage.mjSTAGE_VEL)
        times.append(time.perf_counter() - start)
    return env.num_envs * steps / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", nargs="+", default=["mjx", "native"], choices=sorted(ENGINES))
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--terrain", nargs="+", default=["flat", "rough"], choices=sorted(TERRAINS))
    parser.add_argument("--steps", type=int, default=32, help="control steps per timed rollout")
    parser.add_argument("--physics-dt", type=float, default=1.0 / 120.0)
    parser.add_argument("--solver", default="newton", choices=["newton", "cg"])
    parser.add_argument("--contact", nargs="+", default=["feet"], choices=sorted(CONTACT_SETS),
                        help="bodies that touch the ground (humanoid.CONTACT_SETS)")
    parser.add_argument("--threads", type=int, default=0, help="native backend threads (0: all cores)")
    parser.add_argument("--motions", type=Path, default=ROOT / "motions", help="folder of clips")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "jax",
                        help="persistent compilation cache (compile times then measure cache loads "
                             "on a rerun; pass an empty folder for cold figures)")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir", str(args.cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

    model = load_model()
    library = build_library([retarget_file(p, model) for p in sorted(args.motions.glob("*.npz"))], model)
    name, date = machine(), datetime.date.today().isoformat()
    command = command_line()

    def add(backend: str, terrain: str, n: int, compile_s: str, rate: float) -> None:
        """Print the row and write it at once: a run stopped by a time limit keeps what it measured."""
        physics = f"1/{1 / args.physics_dt:.0f} s, {args.solver} {cfg.solver_iterations} it"
        physics += "" if cfg.contact == "feet" else f", {cfg.contact} contacts"
        row = (f"| {date} | {name} | {backend} | {terrain} | {physics} | {n} | {compile_s} "
               f"| {rate:,.0f} | `{command}` |")
        print(row, flush=True)
        if not args.no_write:
            write_rows(args.output, SECTION, HEADER, [row], slice(1, 6))

    for terrain, n, contact, backend in itertools.product(args.terrain, args.envs, args.contact, args.backend):
        cfg = EnvConfig(num_envs=n, backend=backend, threads=args.threads, physics_dt=args.physics_dt,
                        solver=args.solver, contact=contact, terrain=TerrainConfig(types=TERRAINS[terrain]))
        env = make_env(cfg, library)
        compile_s, rate = measure(env, args.steps)
        add(backend, terrain, n, f"{compile_s:.0f}", rate)
        if backend == "native":
            add("physics only", terrain, n, "–", measure_physics(env, args.steps, args.threads))


if __name__ == "__main__":
    main()
