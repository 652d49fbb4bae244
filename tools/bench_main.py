"""The main job's figures, from one run: the README quotes them and tests/test_docs.py checks that it
quotes this table's latest row.

    .venv/bin/python tools/bench_main.py                    # trains the main job (README), ~8 min on 2 cores
    .venv/bin/python tools/bench_main.py --run runs/main    # or reads a finished run of it

The run's in-run evaluations give the curve (frames tracked per clip under the protocol, full goals,
x0 = 0, at iterations 0, 25, ...). At the end the policy is exported (`humanoid-fpo export`, the run's
K) and `deploy/sim2sim.py` replays it in native MuJoCo on the same clips: its figures beside the
trainer's final evaluation, and the largest per-clip difference of frames and G-MPJPE between them.
Writes a row to BENCHMARKS.md (one per machine and precision path: the latest replaces the earlier);
`algo.precision=fp32` gives the fp32 path on any CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)

from humanoid_fpo.run import train
from humanoid_fpo.run.checkpoint import load_trained
from humanoid_fpo.export import export
from humanoid_fpo.run.metrics import MetricsLog, train_minutes

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
import sim2sim  # noqa: E402

SECTION = "## Main job: tools/bench_main.py"
HEADER = ("| date | machine | precision | iterations | env steps | frames per clip at each evaluation | last three, mean "
          "| success | G-MPJPE mm | frames per clip (squat, stand, turn, walk …) "
          "| sim2sim: success / G-MPJPE mm | sim2sim − eval, largest per clip: frames / G-MPJPE mm | minutes: training / wall | command |\n"
          + "|---" * 14 + "|")


def evaluations(rows: list[dict]) -> list[dict]:
    """The in-run evaluations among a run's metrics rows (those with eval/*), in order."""
    return [r for r in rows if "eval/success_rate" in r]


def row(run: Path, command: str, wall_minutes: float | None = None) -> str:
    """The table row of `run`; minutes of training are its rollouts, updates and prior (run.metrics'
    train_minutes), wall minutes the whole command's (compiles and evaluations too) where it trained."""
    rows = MetricsLog(run / "metrics.jsonl").rows()
    evals, final = evaluations(rows), json.loads((run / "eval.json").read_text())
    last_three = [r["eval/frames"] for r in evals[-3:]]
    wall = f"{wall_minutes:.1f}" if wall_minutes is not None else "–"
    trained = load_trained(run)
    steps = trained.cfg.eval_flow_steps or trained.cfg.algo.flow_steps
    policy = export(trained.learner, trained.cfg.env, run / "export", steps)[0]
    replay = sim2sim.evaluate(policy, run / "motions.npz")
    clips = final["clips"]
    frames_gap = max(abs(replay["clips"][n]["frames"] - c["frames"]) for n, c in clips.items())
    error_gap = max(abs(replay["clips"][n]["g_mpjpe_mm"] - c["g_mpjpe_mm"]) for n, c in clips.items())
    cells = [datetime.date.today().isoformat(), machine(), trained.learner.precision, str(trained.iteration),
             f"{evals[-1].get('env_steps', 0):,}", ", ".join(f"{r['eval/frames']:.2f}" for r in evals),
             f"{sum(last_three) / len(last_three):.2f}",
             f"{final['success_rate']:.2f}", f"{final['g_mpjpe_mm']:.1f}",
             ", ".join(f"{n} {c['frames']}" for n, c in clips.items()),
             f"{replay['success_rate']:.2f} / {replay['g_mpjpe_mm']:.1f}", f"{frames_gap} / {error_gap:.3f}",
             f"{train_minutes(rows)[-1]:.1f} / {wall}",
             f"`{command}`"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="train overrides (none: the README's main job)")
    parser.add_argument("--run", type=Path, help="a finished run of the main job to read instead of training")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    run, wall_minutes = args.run, None
    if run is None:
        run = Path(f"runs/bench_main_{datetime.datetime.now():%Y%m%d_%H%M%S}")
        start = time.perf_counter()
        train.main([*args.overrides, f"run_dir={run}", "progress=false"])
        wall_minutes = (time.perf_counter() - start) / 60
    line = row(run, command_line(), wall_minutes)
    print(line)
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, [line], slice(1, 3))


if __name__ == "__main__":
    main()
