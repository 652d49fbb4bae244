"""Benchmark learning: FPO++ against the Gaussian PPO baseline, per env step and per minute of training.

    .venv/bin/python tools/bench_learning.py --seeds 0 1     # CPU preset, full and root goals, 2 seeds
    .venv/bin/python tools/bench_learning.py --conditioning root iterations=120
    .venv/bin/python tools/bench_learning.py --variants before="algo.n_mc=16 algo.precision=fp32" after=   # before / after

Each (variant, algorithm, conditioning, seed) is one `humanoid-fpo train` run of the composed config
(the README's main job by default, with the variant's overrides) under
RUNS/<variant>/<algo>_<conditioning>_s<seed>, evaluated every --eval-every iterations under the
success-rate protocol (x0 = 0, the run's goal mode). A run that already finished is read back, a
killed one resumed, so the benchmark can be stopped and restarted or split across processes
(`--seeds 0 --no-write` and `--seeds 1 --no-write` side by side, then `--seeds 0 1` to read both back).
It writes RUNS/learning.png (frames tracked per clip and success rate against env steps and against
minutes of training: a panel column per conditioning, a colour per algorithm and variant, a line style
per seed) and a table in BENCHMARKS.md with the figures at the start and the end of the budget, and
at equal minutes: where the shortest of the compared runs ended (or --minutes). Minutes count the
motion prior's fit and every iteration's rollout and update (compiles and evaluations not). A speed
change that keeps learning shows as: at equal minutes at least as good, at equal env steps within the
seeds' spread. About 15 minutes a run on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np
from matplotlib.ticker import ScalarFormatter

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)

from humanoid_fpo.run.experiments import train_run
from humanoid_fpo.run.metrics import curve, train_minutes
from humanoid_fpo.util.plots import figure, save_figure, steps_axis

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Learning per env step and per minute: tools/bench_learning.py"
HEADER = ("| date | machine | variant | algo | goals | seeds | env steps | frames tracked (start → end) "
          "| success (start → end) | at equal minutes: frames / success (minutes) | G-MPJPE mm (end) "
          "| episode length (end) | clip fraction (range) | joint power W (start → end) | train min "
          "| command |\n"
          + "|---" * 16 + "|")
COLOURS = {"fpo_pp": "tab:blue", "fpo": "tab:green", "ppo": "tab:orange"}
Key = tuple[str, str, str, int]
"""(variant, algo, conditioning, seed)"""


def parse_variant(text: str) -> tuple[str, list[str]]:
    """'NAME=OVERRIDE OVERRIDE...' → (NAME, overrides); 'defaults=' has none."""
    name, sep, overrides = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"error: --variants {text!r}: expected NAME=OVERRIDES (e.g. nmc16=algo.n_mc=16)")
    return name, overrides.split()


def run(key: Key, overrides: list[str], eval_every: int, runs: Path) -> list[dict]:
    """Train (or resume, or read back) one run; its metrics rows."""
    variant, algo, conditioning, seed = key
    settings = [f"algo={algo}", f"conditioning={conditioning}", f"seed={seed}", f"eval_every={eval_every}",
                "progress=false", *overrides]
    return train_run(f"{variant}/{algo}_{conditioning}_s{seed}", settings, None, runs)


def eval_at(rows: list[dict], key: str, minutes: float) -> float:
    """`key` of the evaluations against training minutes, linearly interpolated at `minutes`; NaN past
    the run's last evaluation."""
    points = [(m, r[key]) for m, r in zip(train_minutes(rows), rows) if key in r]
    if minutes > points[-1][0] + 1e-9:
        return float("nan")
    return float(np.interp(minutes, *zip(*points)))


def plot(results: dict[Key, list[dict]], path: Path, title: str) -> None:
    """Frames tracked and success rate against env steps, then against minutes of training: a column
    per conditioning, a line per run."""
    columns = sorted({k[2] for k in results}, key=["full", "hands", "root", "mixed"].index)
    variants = list(dict.fromkeys(k[0] for k in results))
    fig, axes = figure(4, len(columns), (5.5 * len(columns), 13))
    metrics = (("eval/frames", "frames tracked per clip"), ("eval/success_rate", "success rate"))
    panels = [(key, label, axis) for axis in ("steps", "minutes") for key, label in metrics]
    for col, conditioning in enumerate(columns):
        for row, (key, label, axis) in enumerate(panels):
            ax = axes[row, col]
            for (variant, algo, c, seed), rows in sorted(results.items()):
                if c != conditioning:
                    continue
                x, y = curve(rows, key)
                if axis == "minutes":
                    x = [m for m, r in zip(train_minutes(rows), rows) if key in r]
                fade = 0.45 * variants.index(variant) / max(len(variants) - 1, 1)  # later variants paler
                name = f"{variant}: {algo}" if len(variants) > 1 else algo
                ax.plot(x, y, marker="o", ms=3, color=COLOURS.get(algo), alpha=1.0 - fade,
                        linestyle=("-", "--", ":", "-.")[seed % 4], label=f"{name} seed {seed}")
            steps_axis(ax, f"{conditioning} goals: {label} (eval, x0 = 0)")
            if axis == "minutes":
                ax.xaxis.set_major_formatter(ScalarFormatter())
                ax.set_xlabel("minutes of training (prior + rollouts + updates)", fontsize=8)
            ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, title)


def table_row(key: tuple[str, str, str], runs: list[list[dict]], minutes: float, command: str) -> str:
    """One BENCHMARKS.md row for (variant, algo, conditioning): means over seeds of the first and last
    evaluation and training row, and of the evaluations at `minutes` of training."""
    def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values)

    evals = [[r for r in rows if "eval/frames" in r] for rows in runs]
    trained = [[r for r in rows if "clip_fraction" in r] for rows in runs]
    at = lambda i, key, table: mean(rows[i][key] for rows in table)  # noqa: E731
    clip = [r["clip_fraction"] for rows in trained for r in rows]
    frames, success = (mean(eval_at(rows, k, minutes) for rows in runs)
                       for k in ("eval/frames", "eval/success_rate"))
    cells = [datetime.date.today().isoformat(), machine(), *key, str(len(runs)),
             f"{evals[0][-1]['env_steps']:,}",
             f"{at(0, 'eval/frames', evals):.1f} → {at(-1, 'eval/frames', evals):.1f}",
             f"{at(0, 'eval/success_rate', evals):.2f} → {at(-1, 'eval/success_rate', evals):.2f}",
             f"{frames:.1f} / {success:.2f} ({minutes:.1f})",
             f"{at(-1, 'eval/g_mpjpe_mm', evals):.0f}", f"{at(-1, 'episode_length', trained):.1f}",
             f"{min(clip):.3f}–{max(clip):.3f}",
             f"{at(0, 'reward/power', trained):,.0f} → {at(-1, 'reward/power', trained):,.0f}",
             f"{mean(train_minutes(rows)[-1] for rows in runs):.1f}", f"`{command}`"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="train overrides of every run, e.g. iterations=120")
    parser.add_argument("--variants", nargs="+", default=["defaults="], type=parse_variant,
                        help="NAME=OVERRIDES of the settings compared (e.g. before='algo.n_mc=16 algo.precision=fp32' after=)")
    parser.add_argument("--algos", nargs="+", default=["fpo_pp", "ppo"], choices=sorted(COLOURS))
    parser.add_argument("--conditioning", nargs="+", default=["full", "root"],
                        choices=["full", "hands", "root", "mixed"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-every", type=int, default=10, help="iterations between evaluations")
    parser.add_argument("--minutes", type=float,
                        help="the equal-minutes point (default: where the shortest run ended)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench_learning", help="run folders")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = command_line()
    title = f"{machine()}: {' '.join(args.overrides) or 'CPU preset'}"
    results: dict[Key, list[dict]] = {}
    for conditioning in args.conditioning:
        for algo in args.algos:
            for variant, overrides in args.variants:
                for seed in args.seeds:
                    key = (variant, algo, conditioning, seed)
                    results[key] = run(key, [*overrides, *args.overrides], args.eval_every, args.runs)
                plot(results, args.runs / "learning.png", title)
    print(f"wrote {args.runs / 'learning.png'}")
    minutes = args.minutes or min(train_minutes(rows)[-1] for rows in results.values())
    groups = dict.fromkeys(k[:3] for k in results)
    rows = [table_row(g, [results[(*g, s)] for s in args.seeds], minutes, command) for g in groups]
    print("\n".join(rows))
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 6))


if __name__ == "__main__":
    main()
