"""Benchmark physics settings on the native backend: fidelity (open-loop reference targets) and speed.

    .venv/bin/python tools/bench_physics.py                                  # writes BENCHMARKS.md
    .venv/bin/python tools/bench_physics.py --physics-dt 0.0083333 --iterations 4 8

For every (physics step, Newton iterations): each clip of --motions is played from frame 0 under
the evaluation protocol with the next frame's joint angles as PD targets (what a policy that copies
the reference does), reporting the frames tracked per clip and the mean body error over them;
then 64 envs take random actions N(0, 0.3) from random frames for 100 control steps, counting
blow-ups (physics resets); and the physics alone is timed (`mujoco.batch`, 64 envs, 2 threads).
A preset should use the fastest setting whose reference tracking is not worse.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import numpy as np

from humanoid_fpo.motion.library import load_motions
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.env import action_for, eval_config, make_env, mean_pose, reference, reset, step

from bench_env import measure_physics
from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Physics settings: tools/bench_physics.py"
HEADER = ("| date | machine | clips | physics | reference frames tracked | body error (mm) | blow-ups "
          "| physics control-steps/s | command |\n|---|---|---|---|---|---|---|---|---|")


def reference_tracking(cfg: EnvConfig, library) -> tuple[float, float]:
    """(frames tracked per clip, mean body error in mm) with the reference as PD targets."""
    env = make_env(eval_config(cfg, library.num_clips), library)
    state = reset(env, jax.random.key(0), np.arange(env.num_envs))
    active = np.ones(env.num_envs, bool)
    frames, errors = np.zeros(env.num_envs), []
    for _ in range(int(library.clip_length.max()) - 1):
        target = reference(env, state.episode, state.episode.step + 1).qpos[:, 7:]
        state = step(env, state, action_for(env, target))
        errors.append(np.asarray(state.info["body_error"]).mean(1)[active])
        frames += active
        active &= ~np.asarray(state.done)
        if not active.any():
            break
    return float(frames.mean()), 1000 * float(np.concatenate(errors).mean())


def blow_ups(cfg: EnvConfig, library, steps: int = 100) -> int:
    env = make_env(cfg, library)
    state, count = reset(env, jax.random.key(1)), 0
    for k in range(steps):
        state = step(env, state, 0.3 * jax.random.normal(jax.random.key(k), (env.num_envs, env.action_size)))
        count += int(np.asarray(state.info["physics_reset"]).sum())
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--physics-dt", type=float, nargs="+", default=[1 / 120, 1 / 60])
    parser.add_argument("--iterations", type=int, nargs="+", default=[4, 3, 2], help="Newton iterations")
    parser.add_argument("--motions", type=Path, nargs="+",
                        default=[ROOT / "motions", ROOT.parent / "shared" / "motions" / "asap_smpl"])
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir", str(ROOT / ".cache" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    command = command_line()
    rows = []
    for path in args.motions:
        library = load_motions(path)
        for dt in args.physics_dt:
            for iterations in args.iterations:
                cfg = EnvConfig(num_envs=64, backend="native", physics_dt=dt, solver_iterations=iterations,
                                default_pose=mean_pose(library))
                frames, error = reference_tracking(cfg, library)
                physics = measure_physics(make_env(cfg, library), 32, 2)
                setting = f"1/{1 / dt:.0f} s, newton {iterations} it"
                rows.append(f"| {datetime.date.today().isoformat()} | {machine()} | {path.name} "
                            f"({library.num_clips}) | {setting} | {frames:.1f} | {error:.0f} "
                            f"| {blow_ups(cfg, library)} of 6400 | {physics:,.0f} | `{command}` |")
                print(rows[-1], flush=True)
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
