"""Benchmark the MJX tracking env: compile time and control-steps/s against batch size and terrain.

    .venv/bin/python tools/bench_env.py                       # CPU sizes, writes BENCHMARKS.md
    python tools/bench_env.py --envs 4096 8192 16384          # on a GPU

A rollout of --steps control steps runs inside one `lax.scan` (as the trainer runs it) with random
actions U(-0.2, 0.2), so envs fall and reset as in early training. Compile time is the first
call's time minus a steady call's. Rows for this machine replace earlier rows with the same
terrain and batch; rows of other machines stay.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from functools import partial
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax

from humanoid_fpo.humanoid import load_model
from humanoid_fpo.motion.library import build_library
from humanoid_fpo.motion.retarget import retarget_file
from humanoid_fpo.sim.env import EnvConfig, EnvState, TrackingEnv, make_env, reset, step
from humanoid_fpo.sim.terrain import TERRAIN_TYPES, TerrainConfig

from bench_table import machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Environment: tools/bench_env.py"
HEADER = ("| date | machine | terrain | physics | envs | compile (s) | control-steps/s | command |\n"
          "|---|---|---|---|---|---|---|---|")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--terrain", nargs="+", default=["flat", "rough"], choices=sorted(TERRAINS))
    parser.add_argument("--steps", type=int, default=32, help="control steps per timed rollout")
    parser.add_argument("--physics-dt", type=float, default=1.0 / 120.0)
    parser.add_argument("--solver", default="newton", choices=["newton", "cg"])
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
    command = "python tools/bench_env.py " + " ".join(sys.argv[1:])
    rows = []
    for terrain in args.terrain:
        for n in args.envs:
            cfg = EnvConfig(num_envs=n, terrain=TerrainConfig(types=TERRAINS[terrain]),
                            physics_dt=args.physics_dt, solver=args.solver)
            compile_s, rate = measure(make_env(cfg, library), args.steps)
            physics = f"1/{1 / args.physics_dt:.0f} s, {args.solver} {cfg.solver_iterations} it"
            rows.append(f"| {date} | {name} | {terrain} | {physics} | {n} | {compile_s:.0f} | {rate:,.0f} "
                        f"| `{command}` |")
            print(rows[-1], flush=True)
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
