"""Benchmark the motion prior: the untrained policy, open-loop reference targets, the flow and the
Gaussian prior, and each after the same RL budget, on fitted and on held-out clips, per goal mode.

    .venv/bin/python tools/bench_prior.py                          # ASAP clips; writes BENCHMARKS.md
    .venv/bin/python tools/bench_prior.py --only flow --no-write   # one process's share (and gaussian)

The clips of --motions (default: ../shared/motions/asap_smpl) are retargeted into RUNS/fit.npz and,
for the --held-out names, RUNS/held_out.npz. Runs (`humanoid-fpo train`, conditioning=mixed so that
one policy serves every goal mode, the CPU preset otherwise, fitted on RUNS/fit.npz):

    untrained                            prior.steps=0 iterations=0
    flow_prior, gaussian_prior           prior.steps=N iterations=0 (algo=fpo_pp, algo=ppo)
    flow_rl, gaussian_rl                 from scratch (prior.steps=0), iterations=B
    flow_prior_rl, gaussian_prior_rl     the prior's run copied and resumed to iterations=B

A finished run is read back, a killed one resumed. Every final policy, and open-loop reference
targets (the ceiling of a prior that copies the reference), is evaluated under the protocol (x0 = 0)
in the full, hands and root modes on both clip sets. Writes RUNS/results.json,
RUNS/prior_vs_scratch.png (frames tracked and success on the fitted clips, full goals, against env
steps) and a table in BENCHMARKS.md. About an hour on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.run.experiments import evaluate_run, prepare_split, split_arguments, train_run
from humanoid_fpo.motion.library import load_library
from humanoid_fpo.run.metrics import curve
from humanoid_fpo.util.plots import figure, save_figure, steps_axis
from humanoid_fpo.sim.config import MODES

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

SECTION = "## Motion prior: tools/bench_prior.py"
HEADER = ("| date | machine | clips | policy | RL env steps | prior fit | "
          + " | ".join(f"{m}: success / frames / G-MPJPE mm" for m in MODES) + " | command |\n"
          + "|---" * (7 + len(MODES)) + "|")
POLICIES = {"flow": "fpo_pp", "gaussian": "ppo"}
COLOURS = {"flow": "tab:blue", "gaussian": "tab:orange"}


def runs_of(policy: str, prior_steps: int, iterations: int) -> dict[str, tuple[list[str], str | None]]:
    """name: (train overrides, the run it continues from) of one policy class."""
    algo = f"algo={POLICIES[policy]}"
    prior = [algo, f"prior.steps={prior_steps}"]
    return {f"{policy}_prior": ([*prior, "iterations=0"], None),
            f"{policy}_prior_rl": ([*prior, f"iterations={iterations}"], f"{policy}_prior"),
            f"{policy}_rl": ([algo, "prior.steps=0", f"iterations={iterations}"], None)}


def table_rows(results: dict, rows: dict[str, list[dict]], clips: dict[str, int], command: str) -> list[str]:
    """Per clip set: open-loop reference targets (results["reference"]), then every run's final
    policy."""
    def cells(figures: dict[str, dict]) -> list[str]:
        return [f"{figures[m]['success_rate']:.2f} / {figures[m]['frames']:.1f} / "
                f"{figures[m]['g_mpjpe_mm']:.0f}" for m in MODES]

    def fit(first: dict) -> str:
        if "prior/loss" not in first:
            return "–"
        loss = f"{first['prior/loss_first']:.2f} → {first['prior/loss']:.2f}"
        return f"{first['prior/seconds']:.0f} s, loss {loss}"

    out = []
    date = datetime.date.today().isoformat()
    for name, label in (("fit", "ASAP, fitted"), ("held_out", "ASAP, held out")):
        policies = [("open-loop reference targets", results["reference"][name], 0, "–")]
        policies += [(run.replace("_", " "), results[run][name], run_rows[-1]["env_steps"], fit(run_rows[0]))
                     for run, run_rows in rows.items()]
        for policy, figures, steps, prior in policies:
            out.append("| " + " | ".join([date, machine(), f"{label} ({clips[name]})", policy, f"{steps:,}",
                                          prior, *cells(figures), f"`{command}`"]) + " |")
    return out


def plot(rows: dict[str, list[dict]], path: Path, title: str) -> None:
    """Frames tracked and success rate (in-run evaluations: fitted clips, full goals) of the RL runs."""
    fig, axes = figure(1, 2, (12, 4.5))
    for name, run_rows in rows.items():
        if name.endswith("_rl"):
            policy = name.split("_")[0]
            style = "-" if "prior" in name else "--"
            for ax, key in zip(axes[0], ("eval/frames", "eval/success_rate")):
                ax.plot(*curve(run_rows, key), style, marker="o", ms=3, color=COLOURS[policy],
                        label=name.replace("_", " "))
    steps_axis(axes[0, 0], "frames tracked per clip (fitted clips, full goals, x0 = 0)")
    steps_axis(axes[0, 1], "success rate (fitted clips, full goals, x0 = 0)")
    for ax in axes[0]:
        ax.legend(fontsize=8)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    split_arguments(parser, "bench_prior")
    parser.add_argument("--prior-steps", type=int, default=3000)
    parser.add_argument("--iterations", type=int, default=100, help="RL iterations of the *_rl runs")
    parser.add_argument("--only", nargs="+", choices=sorted(POLICIES), default=sorted(POLICIES),
                        help="train only these policies' runs (the untrained run goes with flow)")
    args = parser.parse_args()
    (fit, held_out), command = prepare_split(args), command_line()
    common = ["conditioning=mixed", f"motions.path={fit}", "progress=false", *args.overrides]
    untrained = {"untrained": (["algo=fpo_pp", "prior.steps=0", "iterations=0"], None)}
    plan = untrained if "flow" in args.only else {}
    for policy in args.only:
        plan |= runs_of(policy, args.prior_steps, args.iterations)
    rows = {name: train_run(name, [*common, *overrides], base, args.runs)
            for name, (overrides, base) in plan.items()}
    if args.no_write:
        return
    libraries = {"fit": fit, "held_out": held_out}
    results = {name: evaluate_run(args.runs / name, libraries) for name in rows}
    results["reference"] = evaluate_run(args.runs / next(iter(rows)), libraries, open_loop=True)
    with atomic_path(args.runs / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    clips = {name: load_library(path).num_clips for name, path in libraries.items()}
    title = (f"{machine()}: {clips['fit']} ASAP clips, mixed goals, prior.steps={args.prior_steps}, "
             f"{args.iterations} iterations {' '.join(args.overrides)}")
    plot(rows, args.runs / "prior_vs_scratch.png", title.rstrip())
    write_rows(args.output, SECTION, HEADER, table_rows(results, rows, clips, command), slice(1, 5))


if __name__ == "__main__":
    main()
