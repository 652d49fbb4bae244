"""Benchmark rough ground: flat-trained against rough-trained policies on terrain never seen in training.

    .venv/bin/python tools/bench_terrain.py                      # FPO++ and PPO, built-in clips, CPU preset
    .venv/bin/python tools/bench_terrain.py --algos fpo_pp iterations=150
    .venv/bin/python tools/bench_terrain.py --algos fpo_pp --levels 1 2 4 --runs runs/bench_terrain_asap \
        motions=asap "motions.include=[walk_*,step_forward_*]"     # the ASAP walking and stepping clips

Per algorithm, `humanoid-fpo train` runs of the CPU preset with conditioning=mixed (full, hands and root
goals in one policy) under RUNS/<ground>_<algo>: `flat` (terrain=flat) and `rough` (terrain=rough: five
tile types, the level curriculum); for the first algorithm also `rough_blind` (the same with the actor's
height scan zeroed, env.obs.actor_height_scan=false: what the scan buys). Every run is then evaluated by
`humanoid-fpo eval RUN --terrain flat,rough,slopes,waves,steps --terrain-level L --terrain-seed SEED`
at each --levels L on a --terrain-seed no run trained on (training uses seed 0), one tile type at a
time. The table in BENCHMARKS.md has per run, goal mode and level: each tile type's success, frames
tracked and G-MPJPE, the rough tiles' mean success over flat ground's, and the terrain level the
curriculum reached (mean over envs, last 10 iterations). RUNS/levels.png plots the curriculum's level
against env steps. A finished run is read back and a killed one resumed, so the benchmark can be
stopped and restarted. About 15 minutes a run on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)

from humanoid_fpo import cli
from humanoid_fpo.run import config as run_config
from humanoid_fpo.run.experiments import train_run
from humanoid_fpo.run.metrics import curve
from humanoid_fpo.util.plots import figure, save_figure, steps_axis
from humanoid_fpo.sim.config import MODES, TERRAIN_TYPES

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Rough ground: tools/bench_terrain.py"
HEADER = ("| date | machine | clips | policy | goals | eval level | level reached | "
          + " | ".join(f"{t}: success / frames / G-MPJPE mm" for t in TERRAIN_TYPES)
          + " | rough ÷ flat success | command |\n" + "|---" * (9 + len(TERRAIN_TYPES)) + "|")
ROUGH = tuple(t for t in TERRAIN_TYPES if t != "flat")


def plan_runs(algos: list[str]) -> dict[str, list[str]]:
    """name: train overrides."""
    plan = {}
    for algo in algos:
        common = ["conditioning=mixed", f"algo={algo}", "progress=false"]
        plan[f"flat_{algo}"] = [*common, "terrain=flat"]
        plan[f"rough_{algo}"] = [*common, "terrain=rough"]
        if algo == algos[0]:
            plan[f"rough_blind_{algo}"] = [*common, "terrain=rough", "env.obs.actor_height_scan=false"]
    return plan


def evaluate(run_dir: Path, level: int, seed: int) -> dict[tuple[str, str], dict]:
    """{(tile, mode): protocol figures} of the run's final policy on every tile type at `level`."""
    out = run_dir / "eval" / f"terrain-level{level}-seed{seed}"
    if not (out / "results.json").exists():
        code = cli.main(["eval", str(run_dir), "--modes", *MODES, "--terrain", ",".join(TERRAIN_TYPES),
                         "--terrain-level", str(level), "--terrain-seed", str(seed), "-o", str(out)])
        if code:
            raise SystemExit(f"error: eval of {run_dir} on terrain level {level} failed")
    results = json.loads((out / "results.json").read_text())["results"]
    return {(r["tile"], r["mode"]): r for r in results}


def motions(overrides: list[str]) -> str:
    """The clips' name in the table: built-in, or the path's stem, with motions.include's patterns."""
    chosen = run_config.compose(overrides)[0].motions
    name = "built-in" if chosen.path == run_config.compose([])[0].motions.path else Path(chosen.path).stem
    return " ".join([name, *chosen.include])


def level_reached(rows: list[dict]) -> float:
    """The curriculum's mean level over the envs, over the run's last 10 iterations."""
    levels = [r["level"] for r in rows if "level" in r][-10:]
    return sum(levels) / len(levels)


def table_rows(name: str, rows: list[dict], figures: dict[int, dict], clips: str, command: str) -> list[str]:
    """Per goal mode and evaluation level: every tile type's figures, and the rough tiles' mean success
    over flat ground's."""
    out = []
    for mode in MODES:
        for level, by_tile in figures.items():
            flat = by_tile["flat", mode]["success_rate"]
            rough = sum(by_tile[t, mode]["success_rate"] for t in ROUGH) / len(ROUGH)
            cells = [f"{f['success_rate']:.2f} / {f['frames']:.1f} / {f['g_mpjpe_mm']:.0f}"
                     for f in (by_tile[t, mode] for t in TERRAIN_TYPES)]
            out.append("| " + " | ".join([
                datetime.date.today().isoformat(), machine(), clips, name.replace("_", " "), mode, str(level),
                f"{level_reached(rows):.2f}" if name.startswith("rough") else "–", *cells,
                f"{rough / flat:.2f}" if flat > 0 else "–", f"`{command}`"]) + " |")
    return out


def plot_levels(results: dict[str, list[dict]], path: Path, title: str) -> None:
    """The terrain curriculum: mean level over the envs against env steps, one line per rough run."""
    fig, axes = figure(1, 1, (7, 4.5))
    ax = axes[0, 0]
    for name, rows in results.items():
        if name.startswith("rough"):
            ax.plot(*curve(rows, "level"), lw=1.2, label=name.replace("_", " "))
    steps_axis(ax, "terrain level reached (mean over envs)")
    if ax.lines:
        ax.legend(fontsize=8)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="train overrides of every run, e.g. iterations=150")
    parser.add_argument("--algos", nargs="+", default=["fpo_pp", "ppo"], choices=["fpo_pp", "fpo", "ppo"])
    parser.add_argument("--levels", nargs="+", type=int, default=[2, 4], help="evaluation difficulty levels")
    parser.add_argument("--terrain-seed", type=int, default=12345,
                        help="evaluation ground (training: seed 0)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench_terrain", help="run folders")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="train and print only")
    args = parser.parse_args()
    if args.terrain_seed == 0:
        raise SystemExit("error: --terrain-seed 0 is the training ground; choose an unseen seed")
    command = command_line()
    results, lines = {}, []
    for name, overrides in plan_runs(args.algos).items():
        results[name] = train_run(name, [*overrides, *args.overrides], None, args.runs)
        figures = {level: evaluate(args.runs / name, level, args.terrain_seed) for level in args.levels}
        count = len(figures[args.levels[0]]["flat", "full"]["clips"])
        clips = f"{motions([*overrides, *args.overrides])} ({count})"
        lines += table_rows(name, results[name], figures, clips, command)
        print("\n".join(lines[-len(MODES) * len(args.levels):]), flush=True)
        plot_levels(results, args.runs / "levels.png", f"{machine()}: terrain curriculum")
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, lines, slice(1, 6))


if __name__ == "__main__":
    main()
