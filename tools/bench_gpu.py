"""The training part of the GPU check (tools/gpu_check.sh): a short run of a composed config and what
a GPU run costs, from its metrics: the first iteration (compiling included), collect and update
seconds per iteration after it, end-to-end env-steps/s, each in-run evaluation's seconds, and the
peaks of torch's and JAX's device allocators.

    python tools/bench_gpu.py preset=gpu motions=asap iterations=20 eval_every=10 --output OUT/BENCHMARKS.md
    python tools/bench_gpu.py preset=gpu motions=asap --metrics RUN/metrics.jsonl   # a run made already

Arguments are `humanoid-fpo train` overrides; the run folder is --run (default: a temporary one).
--metrics summarises a finished or stopped run's log instead of training (gpu_check.sh trains under a
time limit, then writes the row this way); --curve draws its tracking curve (success rate, frames
tracked and episode length against env steps and against minutes of training).
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend, JAX's allocator beside torch's)

from humanoid_fpo.run import config as run_config
from humanoid_fpo.run import train
from humanoid_fpo.run.metrics import MetricsLog, curve, train_minutes
from humanoid_fpo.util.plots import figure, save_figure, steps_axis

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## GPU check: tools/gpu_check.sh"
HEADER = ("| date | machine | config | envs × steps | first iteration s (compile) | collect s/it "
          "| update s/it | end-to-end steps/s | evaluations s | peak GB torch / JAX | command |\n"
          + "|---" * 11 + "|")


def summary(rows: list[dict]) -> dict:
    """Figures of a run's metrics rows (row 0: before training; row 1: the iteration that compiles)."""
    timed = rows[2:] or rows[1:]
    collect = sum(r["collect_s"] for r in timed) / len(timed)
    update = sum(r["update_s"] for r in timed) / len(timed)
    per_iteration = rows[1]["env_steps"] - rows[0].get("env_steps", 0)
    peak = {k: max((r[k] for r in rows if k in r), default=None)
            for k in ("memory/torch_peak_gb", "memory/jax_peak_gb")}
    return {"first_s": rows[1]["collect_s"] + rows[1]["update_s"], "collect_s": collect, "update_s": update,
            "steps_per_s": per_iteration / (collect + update),
            "eval_s": [r["eval/seconds"] for r in rows if "eval/seconds" in r], **peak}


def plot_tracking(rows: list[dict], path: Path, title: str) -> None:
    """Success rate, frames tracked (evaluations) and episode length (training) against env steps
    (top) and minutes of training (bottom: the wall time of the prior, rollouts and updates, the first
    iteration's compile included; `run.metrics.train_minutes`)."""
    keys = (("eval/success_rate", "success rate (eval)"), ("eval/frames", "frames tracked per clip (eval)"),
            ("episode_length", "episode length (training)"))
    minutes = train_minutes(rows)
    fig, axes = figure(2, len(keys), (5 * len(keys), 7))
    for col, (key, label) in enumerate(keys):
        marker = "o" if key.startswith("eval/") else None
        axes[0, col].plot(*curve(rows, key), marker=marker)
        steps_axis(axes[0, col], label)
        points = [(m, r[key]) for m, r in zip(minutes, rows) if key in r]
        axes[1, col].plot([m for m, _ in points], [v for _, v in points], marker=marker)
        axes[1, col].set_title(label, fontsize=9)
        axes[1, col].set_xlabel("minutes of training", fontsize=8)
        axes[1, col].grid(alpha=0.3)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="humanoid-fpo train overrides, e.g. preset=gpu")
    parser.add_argument("--run", type=Path, help="run folder (default: a temporary one)")
    parser.add_argument("--metrics", type=Path,
                        help="summarise this metrics.jsonl (run with the overrides) instead of training")
    parser.add_argument("--curve", type=Path, help="also draw the run's tracking curve (a PNG) here")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    if args.metrics:
        rows = MetricsLog(args.metrics).rows()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run = args.run or Path(tmp) / "run"
            train.main([*args.overrides, f"run_dir={run}", "progress=false", "wandb.mode=disabled"])
            rows = MetricsLog(run / "metrics.jsonl").rows()
    if len(rows) < 2:
        raise SystemExit(f"error: {args.metrics or 'the run'} logged no training iteration (iterations=0, "
                         "or stopped before its first?)")
    if args.curve:
        plot_tracking(rows, args.curve, f"{' '.join(args.overrides)}: {rows[-1]['env_steps']:,} env steps")
    s, cfg = summary(rows), run_config.compose(args.overrides)[0]
    gb = lambda x: "–" if x is None else f"{x:.1f}"
    evaluations = ", ".join(f"{e:.1f}" for e in s["eval_s"]) or "–"
    row = (f"| {datetime.date.today().isoformat()} | {machine()} | {' '.join(args.overrides)} | "
           f"{cfg.env.num_envs} × {cfg.steps_per_env} | {s['first_s']:.0f} | {s['collect_s']:.2f} | "
           f"{s['update_s']:.2f} | {s['steps_per_s']:,.0f} | {evaluations} | "
           f"{gb(s['memory/torch_peak_gb'])} / {gb(s['memory/jax_peak_gb'])} | "
           f"`{command_line()}` |")
    print(row, flush=True)
    write_rows(args.output, SECTION, HEADER, [row], slice(1, 4))


if __name__ == "__main__":
    main()
