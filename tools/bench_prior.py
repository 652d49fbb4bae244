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
import shutil
from dataclasses import replace
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import torch

from humanoid_fpo import checkpoint, run_config, train
from humanoid_fpo.atomic import atomic_path
from humanoid_fpo.evaluate import evaluate_clips, evaluate_grid, reference_policy
from humanoid_fpo.humanoid import load_model
from humanoid_fpo.motion.library import build_library, load_library, save_library
from humanoid_fpo.motion.retarget import find_motion_files, retarget_files
from humanoid_fpo.runlog import MetricsLog, curve, figure, save_figure, steps_axis
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.sim.env import eval_config, make_env

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Motion prior: tools/bench_prior.py"
HEADER = ("| date | machine | clips | policy | RL env steps | prior fit | "
          + " | ".join(f"{m}: success / frames / G-MPJPE mm" for m in MODES) + " | command |\n"
          + "|---" * (7 + len(MODES)) + "|")
HELD_OUT = ("jump_forward_level2", "kick_level2", "side_jump_level2", "squat_level2", "walk_level2")
POLICIES = {"flow": "fpo_pp", "gaussian": "ppo"}
COLOURS = {"flow": "tab:blue", "gaussian": "tab:orange"}


def runs_of(policy: str, prior_steps: int, iterations: int) -> dict[str, tuple[list[str], str | None]]:
    """name: (train overrides, the run it continues from) of one policy class."""
    algo = f"algo={POLICIES[policy]}"
    prior = [algo, f"prior.steps={prior_steps}"]
    return {f"{policy}_prior": ([*prior, "iterations=0"], None),
            f"{policy}_prior_rl": ([*prior, f"iterations={iterations}"], f"{policy}_prior"),
            f"{policy}_rl": ([algo, "prior.steps=0", f"iterations={iterations}"], None)}


def split_library(motions: Path, held_out: list[str], runs: Path) -> tuple[Path, Path]:
    """RUNS/fit.npz and RUNS/held_out.npz from the clips of `motions` (made once)."""
    fit, rest = runs / "fit.npz", runs / "held_out.npz"
    if not (fit.exists() and rest.exists()):
        model = load_model()
        files = find_motion_files([motions])
        missing = sorted(set(held_out) - {f.stem for f in files})
        if missing:
            raise SystemExit(f"error: {motions}: no clip {', '.join(missing)} to hold out")
        for path, names in ((fit, [f for f in files if f.stem not in held_out]),
                            (rest, [f for f in files if f.stem in held_out])):
            clips, _ = retarget_files(names, model, progress=False)
            save_library(build_library(clips, model), path)
    return fit, rest


def train_run(name: str, overrides: list[str], base: str | None, runs: Path) -> list[dict]:
    """Train (or resume, or read back) one run; its metrics rows."""
    run_dir = runs / name
    cfg, _ = run_config.compose(overrides)
    rows = MetricsLog(run_dir / "metrics.jsonl").rows()
    if rows and rows[-1]["iteration"] >= cfg.iterations and (run_dir / "checkpoint.pt").exists():
        print(f"{run_dir}: done, read back", flush=True)
        return rows
    if base and not (run_dir / "checkpoint.pt").exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(runs / base, run_dir)
    if (run_dir / "checkpoint.pt").exists():  # the run's config.yaml holds the rest
        train.main([f"resume={run_dir}", f"iterations={cfg.iterations}", "progress=false"])
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        train.main([*overrides, f"run_dir={run_dir}"])
    return MetricsLog(run_dir / "metrics.jsonl").rows()


def evaluate_run(run_dir: Path, libraries: dict[str, Path], baseline: str | None = None,
                 randomised: bool = False) -> dict[str, dict[str, dict]]:
    """{set: {mode: protocol figures}} of a run's final policy; with a `baseline`, those of an open-loop
    policy on the run's envs instead (one figure for every mode: it ignores the goals): "reference",
    the reference's joint angles as targets, or "zero", action 0 (with env.residual_actions: the
    feed-forward alone). `randomised`: each clip's physics drawn from the run's training ranges
    (friction, masses, gains; seeded), the protocol otherwise unchanged."""
    trained = checkpoint.load_trained(run_dir)
    results: dict[str, dict[str, dict]] = {}
    for name, path in libraries.items():
        library = load_library(path)
        cfg = eval_config(trained.cfg.env, library.num_clips)
        env = make_env(replace(cfg, randomize=trained.cfg.env.randomize) if randomised else cfg, library)
        if baseline:
            zero = lambda obs: torch.zeros(obs.shape[0], env.action_size)  # noqa: E731
            policy = reference_policy(env) if baseline == "reference" else zero
            figures = evaluate_clips(env, policy, jax.random.key(0))
            results[name] = {mode: figures for mode in MODES}
        else:
            grid = evaluate_grid(env, trained.learner, MODES, ["zero"], [trained.cfg.algo.flow_steps])
            results[name] = {r["mode"]: r for r in grid}
    return results


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


def split_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The options of a benchmark over fitted and held-out clips (shared with bench_mocap); run
    folders under runs/`name` by default."""
    parser.add_argument("overrides", nargs="*", help="train overrides of every run")
    parser.add_argument("--motions", type=Path, default=ROOT.parent / "shared" / "motions" / "asap_smpl")
    parser.add_argument("--held-out", nargs="+", default=list(HELD_OUT), help="clip names not fitted")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / name, help="run folders")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="train and print only")


def prepare(args: argparse.Namespace) -> tuple[Path, Path, str]:
    """The fitted and held-out libraries of `split_arguments`' options, and the command for the table."""
    if not args.motions.exists():
        raise SystemExit(f"error: {args.motions}: no such clip folder (the shared ASAP clips)")
    args.runs.mkdir(parents=True, exist_ok=True)
    return (*split_library(args.motions, args.held_out, args.runs), command_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    split_arguments(parser, "bench_prior")
    parser.add_argument("--prior-steps", type=int, default=3000)
    parser.add_argument("--iterations", type=int, default=100, help="RL iterations of the *_rl runs")
    parser.add_argument("--only", nargs="+", choices=sorted(POLICIES), default=sorted(POLICIES),
                        help="train only these policies' runs (the untrained run goes with flow)")
    args = parser.parse_args()
    fit, held_out, command = prepare(args)
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
    results["reference"] = evaluate_run(args.runs / next(iter(rows)), libraries, baseline="reference")
    with atomic_path(args.runs / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    clips = {name: load_library(path).num_clips for name, path in libraries.items()}
    title = (f"{machine()}: {clips['fit']} ASAP clips, mixed goals, prior.steps={args.prior_steps}, "
             f"{args.iterations} iterations {' '.join(args.overrides)}")
    plot(rows, args.runs / "prior_vs_scratch.png", title.rstrip())
    write_rows(args.output, SECTION, HEADER, table_rows(results, rows, clips, command), slice(1, 5))


if __name__ == "__main__":
    main()
