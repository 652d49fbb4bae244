"""Benchmark tracking real motion capture: the teacher, RL on its trajectories, RL from scratch, on
fitted and held-out clips, per goal mode.

    .venv/bin/python tools/bench_mocap.py                           # ASAP clips; writes BENCHMARKS.md
    .venv/bin/python tools/bench_mocap.py --iterations 300 --seeds 0 1
    .venv/bin/python tools/bench_mocap.py --stages 330 1990 3980 6500 --only flow_feasible_scratch_rl

The clips of --motions are split as bench_prior's (28 fitted, 5 held out). The teacher (`teach`, its
cache reused) runs on all of them: it sees the full reference, so its row is the ceiling and the
held-out clips' teacher figures are what a student could reach. Runs (`humanoid-fpo train`,
conditioning=mixed so that one policy serves every goal mode, fitted on the 28 clips, evaluating the
5 held-out ones as it trains):

    flow_feasible_scratch_rl              preset=cpu_mocap: FPO++ from the untrained actor tracking the
                                          teacher's trajectories, evaluated on the clips: the recipe (every
                                          seed)
    gaussian_feasible_scratch_rl          the recipe with the Gaussian PPO baseline for the flow (algo=ppo)
    flow_scratch_rl                       FPO++ from scratch (preset=cpu, prior.steps=0), the same budget

With --stages (iterations, ascending) the recipe's first seed trains in stages, each continuing the
one before with `resume=` (weights, optimiser, RNG and curricula carry on; the envs start new episodes,
so from the first stage on it is not bit for bit the uninterrupted run, though the same command repeats
it exactly) and evaluated as it ends: the recipe at several budgets, e.g. 5, 30, 60 and 100 minutes of
RL.

Each final policy is evaluated under the protocol (x0 = 0) in the full, hands and root modes on both
sets, right after it trains. Minutes: the teacher's compute (for a student, the teacher's share of
its clips is included), the prior's fit and the RL iterations (compiling and in-run evaluations not
counted). Writes RUNS/results.json, RUNS/success_vs_minutes.png and a table in BENCHMARKS.md. Hours
on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import numpy as np

from humanoid_fpo.run import config as run_config
from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.run.experiments import evaluate_run, prepare_split, split_arguments, train_run
from humanoid_fpo.motion.library import load_library, load_motions
from humanoid_fpo.run.prepare import with_default_pose
from humanoid_fpo.run.metrics import train_minutes
from humanoid_fpo.util.plots import figure, save_figure
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.teacher.demos import Demonstrations
from humanoid_fpo.teacher.teach import teach

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path

SECTION = "## Teacher and students on motion capture: tools/bench_mocap.py"
HEADER = ("| date | machine | clips | route | seed | RL env steps | minutes | "
          + " | ".join(f"{m}: success / frames / G-MPJPE / MPJPE mm" for m in MODES) + " | command | "
          + "clips that need motion, " + " / ".join(MODES) + ": success, frames past standing still |\n"
          + "|---" * (9 + len(MODES)) + "|")
COLOURS = {"flow_feasible_scratch_rl": "tab:olive", "gaussian_feasible_scratch_rl": "tab:blue",
           "flow_scratch_rl": "tab:gray"}


def plan_runs(iterations: int, seeds: list[int], demos: Path,
              stages: list[int] | None = None) -> dict[str, tuple[list[str], str | None]]:
    """name: (train overrides, the run it continues from). The recipe runs for every seed, the other
    routes for the first; with `stages`, the first seed's recipe runs to each of those iterations in
    turn, named flow_feasible_scratch_rl_{N}it except the last."""
    plan = {}
    rl = f"iterations={iterations}"
    for seed in seeds:
        recipe = ["preset=cpu_mocap", f"teacher.demos={demos}", f"seed={seed}", "algo=fpo_pp"]
        tag = "" if seed == seeds[0] else f"_seed{seed}"
        if seed != seeds[0] or not stages:
            plan[f"flow_feasible_scratch_rl{tag}"] = ([*recipe, rl], None)
        else:
            names = [f"flow_feasible_scratch_rl_{n}it" for n in stages[:-1]] + ["flow_feasible_scratch_rl"]
            for i, (name, n) in enumerate(zip(names, stages)):
                plan[name] = ([*recipe, f"iterations={n}"], names[i - 1] if i else None)
        if seed != seeds[0]:
            continue
        plan["gaussian_feasible_scratch_rl"] = ([*recipe[:-1], "algo=ppo", rl], None)
        plan["flow_scratch_rl"] = (["preset=cpu", "algo=fpo_pp", "prior.steps=0", rl, f"seed={seed}"], None)
    return plan


def teacher_share(name: str, teacher_minutes: float) -> float:
    """The teacher's minutes a run's figure includes: all of them, except for FPO++ from scratch,
    which never sees the teacher."""
    return 0.0 if name.startswith("flow_scratch") else teacher_minutes


def teacher_figures(demos: Demonstrations, names: tuple[str, ...]) -> dict:
    """Run 0's figures over the clips `names`: success rate, frames per clip, G-MPJPE; minutes: every
    run of those clips (what the demonstrations cost, with teacher.runs > 1 too)."""
    clips = [demos.clip_names.index(n) for n in names]
    first = demos.first_runs()[clips]
    return {"success_rate": float(demos.run_success[first].mean()), "frames": float(demos.run_frames[first].mean()),
            "g_mpjpe_mm": float(demos.run_g_mpjpe_mm[first].mean()), "mpjpe_mm": float("nan"),
            "minutes": float(demos.run_seconds[np.isin(demos.run_clip, clips)].sum() / 60)}


def cells(figures: dict[str, dict]) -> list[str]:
    return [f"{figures[m]['success_rate']:.2f} / {figures[m]['frames']:.1f} / {figures[m]['g_mpjpe_mm']:.0f} / "
            + ("–" if np.isnan(figures[m]["mpjpe_mm"]) else f"{figures[m]['mpjpe_mm']:.0f}") for m in MODES]


def moving(figures: dict[str, dict]) -> str:
    """Per mode, the success rate and frames past standing still over the clips standing still fails
    (`evaluate.standing_still`); – where the figures lack them (the teacher's, runs evaluated before)."""
    def cell(f: dict) -> str:
        rate, past = f.get("moving_success_rate", np.nan), f.get("frames_past_still", np.nan)
        return "–" if np.isnan(rate) else f"{rate:.2f}, {past:+.1f}"
    return " / ".join(cell(figures[m]) for m in MODES)


def route(name: str) -> str:
    """A run's route: its name without the seed or stage tag (flow_feasible_scratch_rl_1990it_seed1)."""
    return re.sub(r"(_\d+it)?(_seed\d+)?$", "", name)


def plot(rows: dict[str, list[dict]], results: dict, teacher: float, path: Path, title: str) -> None:
    """Success rate against minutes (top) and env steps (bottom), fitted and held-out clips: the in-run
    evaluations (full goals) as lines, each run's final protocol evaluation per goal mode as markers."""
    fig, axes = figure(2, 2, (12, 8))
    markers = dict(zip(MODES, "o^s"))
    for name, run_rows in rows.items():
        share, colour = teacher_share(name, teacher), COLOURS.get(route(name), "k")
        minutes = [share + m for m in train_minutes(run_rows)]
        x_ends = (minutes[-1], run_rows[-1]["env_steps"])
        for column, (key, split) in enumerate((("eval/success_rate", "fit"), ("eval_held_out/success_rate",
                                                                              "held_out"))):
            for ax, xs in zip(axes[:, column], (minutes, [r["env_steps"] for r in run_rows])):
                points = [(x, r[key]) for x, r in zip(xs, run_rows) if key in r]
                if points:
                    ax.plot(*zip(*points), "-" if "_seed" not in name else ":", lw=1, color=colour,
                            label=None if re.search(r"_\d+it", name) else f"{name} (in run, full)")
            for ax, x in zip(axes[:, column], x_ends):
                for mode in MODES:
                    label = f"{route(name)}: protocol, {mode}" if name == route(name) else None
                    ax.plot(x, results[name][split][mode]["success_rate"], markers[mode], color=colour, ms=6,
                            mfc="none", label=label)
    for column, what in enumerate(("fitted clips", "held-out clips")):
        for ax, xlabel in zip(axes[:, column], ("minutes (teacher + prior + RL iterations)", "RL env steps")):
            ax.set_title(f"success rate ({what}, x0 = 0)", fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
        axes[0, column].legend(fontsize=7)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    split_arguments(parser, "bench_mocap")
    parser.add_argument("--iterations", type=int, default=300, help="RL iterations of the *_rl runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="the recipe's seeds")
    parser.add_argument("--only", nargs="+", help="these runs or routes of the plan only (flow_scratch_rl)")
    parser.add_argument("--stages", nargs="+", type=int,
                        help="the recipe's first seed to each of these iterations in turn (ascending)")
    args = parser.parse_args()
    if args.stages and (args.stages[0] < 1 or any(b <= a for a, b in zip(args.stages, args.stages[1:]))):
        raise SystemExit(f"error: --stages {' '.join(map(str, args.stages))}: positive and ascending")
    (fit, held_out), command = prepare_split(args), command_line()
    cfg, _ = run_config.compose(["preset=cpu_mocap", *args.overrides])
    everything = load_motions(args.motions, cfg.env.model_path)
    demos, demos_path = teach(everything, with_default_pose(cfg, everything).env, cfg.teacher)
    common = ["conditioning=mixed", f"motions.path={fit}", "progress=false", *args.overrides]
    plan = plan_runs(args.iterations, args.seeds, demos_path, args.stages)
    unknown = sorted(set(args.only or []) - set(plan) - {route(n) for n in plan})
    if unknown:
        raise SystemExit(f"error: --only {' '.join(unknown)}: not in the plan ({', '.join(plan)})")
    plan = {name: run for name, run in plan.items() if not args.only or {name, route(name)} & set(args.only)}
    libraries = {"fit": fit, "held_out": held_out}
    rows, results = {}, {}
    for name, (overrides, base) in plan.items():
        rows[name] = train_run(name, [*common, f"eval_motions={held_out}", *overrides], base, args.runs)
        if not args.no_write:  # each as it ends, so that a stopped bench keeps the stages it finished
            results[name] = evaluate_run(args.runs / name, libraries)
            with atomic_path(args.runs / "results.json") as tmp:
                tmp.write_text(json.dumps(results, indent=1))
    if args.no_write:
        return
    names = {k: load_library(p).clip_names for k, p in libraries.items()}
    teacher = {k: teacher_figures(demos, n) for k, n in names.items()}
    with atomic_path(args.runs / "results.json") as tmp:
        tmp.write_text(json.dumps({"teacher": teacher, **results}, indent=1))
    date, out = datetime.date.today().isoformat(), []
    for split, label in (("fit", "ASAP, fitted"), ("held_out", "ASAP, held out")):
        clips = f"{label} ({len(names[split])})"
        out.append("| " + " | ".join([date, machine(), clips, "teacher (MPPI, sees the full reference)", "–", "–",
                                      f"{teacher[split]['minutes']:.1f}",
                                      *cells({m: teacher[split] for m in MODES}), f"`{command}`", "–"]) + " |")
        for name, run_rows in rows.items():
            seed = name.split("_seed")[1] if "_seed" in name else str(args.seeds[0])
            spent = teacher_share(name, teacher["fit"]["minutes"]) + train_minutes(run_rows)[-1]
            out.append("| " + " | ".join([date, machine(), clips, name.split("_seed")[0].replace("_", " "), seed,
                                          f"{run_rows[-1]['env_steps']:,}", f"{spent:.1f}",
                                          *cells(results[name][split]), f"`{command}`",
                                          moving(results[name][split])]) + " |")
    title = f"{machine()}: {len(names['fit'])} ASAP clips, mixed goals"
    plot(rows, results, teacher["fit"]["minutes"], args.runs / "success_vs_minutes.png", title)
    write_rows(args.output, SECTION, HEADER, out, slice(1, 5))


if __name__ == "__main__":
    main()
