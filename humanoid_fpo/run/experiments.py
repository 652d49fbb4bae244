"""Named experiment runs, what the benchmarks in tools/ are tables of: train a run under RUNS/<name>
(resumed where it was killed, read back where it finished, or continued from a base run's copy),
split a clip folder into fitted and held-out libraries, and evaluate a run's final policy on
libraries in every goal mode under the success-rate protocol (`evaluate`), and list what a run
compiles before its first iteration ends (`first_iteration_compiles`)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import jax

from humanoid_fpo.evaluate import EvalOptions, eval_env, evaluate_clips, evaluate_grid, reference_policy
from humanoid_fpo.motion.library import load_motions, save_library
from humanoid_fpo.motion.retarget import find_motion_files
from humanoid_fpo.run import config as run_config
from humanoid_fpo.run import train
from humanoid_fpo.run.checkpoint import load_trained
from humanoid_fpo.run.metrics import MetricsLog
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.util.compiles import CompileLog

"""The repository: the benchmarks' run folders (runs/) and table (BENCHMARKS.md) default to it."""
HELD_OUT = ("jump_forward_level2", "kick_level2", "side_jump_level2", "squat_level2", "walk_level2")
"""The ASAP clips a split benchmark holds out by default."""


def split_library(motions: Path, held_out: list[str], runs: Path) -> tuple[Path, Path]:
    """RUNS/fit.npz (the clips of `motions` not named in `held_out`) and RUNS/held_out.npz (those
    named), retargeted once: existing files are reused. A name in `held_out` that is no clip of
    `motions` is a ValueError naming it."""
    fit, rest = runs / "fit.npz", runs / "held_out.npz"
    if not (fit.exists() and rest.exists()):
        files = find_motion_files([motions])
        missing = sorted(set(held_out) - {f.stem for f in files})
        if missing:
            raise ValueError(f"{motions}: no clip {', '.join(missing)} to hold out")
        for path, kept in ((fit, [f.name for f in files if f.stem not in held_out]),
                           (rest, [f.name for f in files if f.stem in held_out])):
            save_library(load_motions(motions, include=kept), path)
    return fit, rest


def train_run(name: str, overrides: list[str], base: str | None, runs: Path) -> list[dict]:
    """Train the run RUNS/`name` under `overrides` (train's Hydra overrides), starting from a copy of
    RUNS/`base` where given; a finished run is read back, a killed one resumed. Returns its
    metrics rows, one per iteration."""
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


@contextmanager
def trainer_of_copy(run_dir: Path) -> Iterator[train.Trainer]:
    """A run's trainer, resumed from its checkpoint in a throwaway copy of its folder: probes can
    collect rollouts and update without writing to the run."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / run_dir.name
        shutil.copytree(run_dir, copy)
        cfg, _ = run_config.compose([f"resume={copy}"])
        yield train.build_trainer(replace(cfg, run_dir=str(copy)), copy, resume=True)


def evaluate_run(run_dir: Path, libraries: dict[str, Path],
                 open_loop: bool = False) -> dict[str, dict[str, dict]]:
    """{set: {mode: protocol figures}} of a run's final policy on each of `libraries` ({set: library
    file}); with `open_loop`, those of the reference's joint angles as targets on the run's envs
    instead (one figure for every mode: it ignores the goals)."""
    trained = load_trained(run_dir)
    results: dict[str, dict[str, dict]] = {}
    for name, path in libraries.items():
        env = eval_env(trained, EvalOptions(motions=path))
        if open_loop:
            figures = evaluate_clips(env, reference_policy(env), jax.random.key(0))
            results[name] = {mode: figures for mode in MODES}
        else:
            grid = evaluate_grid(env, trained.learner, MODES, ["zero"], [trained.cfg.algo.flow_steps])
            results[name] = {r["mode"]: r for r in grid}
    return results


def split_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The options of a benchmark over fitted and held-out clips (`prepare_split`); run folders under
    runs/`name` by default."""
    parser.add_argument("overrides", nargs="*", help="train overrides of every run")
    root = run_config.PROJECT_ROOT
    parser.add_argument("--motions", type=Path, default=root.parent / "shared" / "motions" / "asap_smpl")
    parser.add_argument("--held-out", nargs="+", default=list(HELD_OUT), help="clip names not fitted")
    parser.add_argument("--runs", type=Path, default=root / "runs" / name, help="run folders")
    parser.add_argument("--output", type=Path, default=root / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="train and print only")


def prepare_split(args: argparse.Namespace) -> tuple[Path, Path]:
    """The fitted and held-out libraries (`split_library`) of `split_arguments`' options; a bad
    option exits with a one-line error."""
    if not args.motions.exists():
        raise SystemExit(f"error: {args.motions}: no such clip folder (the shared ASAP clips)")
    args.runs.mkdir(parents=True, exist_ok=True)
    try:
        return split_library(args.motions, args.held_out, args.runs)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


class _FirstIterationDone(Exception):
    pass


def first_iteration_compiles(cfg: run_config.TrainConfig, run_dir: Path) -> CompileLog:
    """Every JAX program a new run of `cfg` in `run_dir` compiles from its start (prior, an
    evaluation at iteration 0) to the end of its first iteration, which it stops after
    (`tools/count_compiles.py`; the count and the shapes do not depend on the device)."""
    with CompileLog() as log:
        trainer = train.build_trainer(replace(cfg, run_dir=str(run_dir)), run_dir)
        first = trainer.train_iteration

        def iteration() -> dict:
            first()
            raise _FirstIterationDone

        trainer.train_iteration = iteration
        try:
            trainer.run()
        except _FirstIterationDone:
            pass
    return log
