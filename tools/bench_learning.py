"""Benchmark learning: FPO++ against the Gaussian PPO baseline on one env-step budget and seeds.

    .venv/bin/python tools/bench_learning.py --seeds 0 1     # CPU preset, full and root goals, 2 seeds
    .venv/bin/python tools/bench_learning.py --conditioning root iterations=120

Each (algorithm, conditioning, seed) is one `humanoid-fpo train` run of the composed config (the
README's main job by default) under RUNS/<algo>_<conditioning>_s<seed>, evaluated every
--eval-every iterations under the success-rate protocol (x0 = 0, the run's goal mode). A run that
already finished is read back, a killed one resumed, so the benchmark can be stopped and restarted
or split across processes (`--seeds 0 --no-write` and `--seeds 1 --no-write` side by side, then
`--seeds 0 1` to read both back). It writes RUNS/learning.png (frames tracked per clip and success
rate against env steps: a panel column per conditioning, a colour per algorithm, a line style per
seed) and a table in BENCHMARKS.md with the figures at the start and at the end of the budget.
About 40 minutes a seed on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)

from humanoid_fpo import run_config, train
from humanoid_fpo.runlog import MetricsLog, curve, figure, save_figure, steps_axis

from bench_table import machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Learning: tools/bench_learning.py"
HEADER = ("| date | machine | algo | goals | seeds | env steps | frames tracked (start → end) "
          "| success (start → end) | G-MPJPE mm (end) | episode length (end) | clip fraction (range) "
          "| joint power W (start → end) | train min | command |\n" + "|---" * 14 + "|")
COLOURS = {"fpo_pp": "tab:blue", "fpo": "tab:green", "ppo": "tab:orange"}


def run(algo: str, conditioning: str, seed: int, overrides: list[str], eval_every: int,
        runs: Path) -> list[dict]:
    """Train (or resume, or read back) one run; its metrics rows."""
    run_dir = runs / f"{algo}_{conditioning}_s{seed}"
    args = [f"algo={algo}", f"conditioning={conditioning}", f"seed={seed}", f"eval_every={eval_every}",
            "progress=false", *overrides]
    rows = MetricsLog(run_dir / "metrics.jsonl").rows()
    cfg, _ = run_config.compose(args)
    if rows and rows[-1]["iteration"] >= cfg.iterations and "eval/frames" in rows[-1]:
        print(f"{run_dir}: done, read back", flush=True)
        return rows
    start = time.perf_counter()
    if (run_dir / "checkpoint.pt").exists():
        train.main([f"resume={run_dir}", *args])
    else:
        train.main([*args, f"run_dir={run_dir}"])
    print(f"{run_dir}: {time.perf_counter() - start:.0f} s", flush=True)
    return MetricsLog(run_dir / "metrics.jsonl").rows()


def plot(results: dict[tuple[str, str, int], list[dict]], path: Path, title: str) -> None:
    """Frames tracked and success rate against env steps: a column per conditioning, a line per run."""
    columns = sorted({c for _, c, _ in results}, key=["full", "hands", "root", "mixed"].index)
    fig, axes = figure(2, len(columns), (5.5 * len(columns), 7))
    for col, conditioning in enumerate(columns):
        for row, (key, label) in enumerate((("eval/frames", "frames tracked per clip"),
                                            ("eval/success_rate", "success rate"))):
            ax = axes[row, col]
            for (algo, c, seed), rows in sorted(results.items()):
                if c == conditioning:
                    ax.plot(*curve(rows, key), marker="o", ms=3, color=COLOURS.get(algo),
                            linestyle=("-", "--", ":", "-.")[seed % 4], label=f"{algo} seed {seed}")
            steps_axis(ax, f"{conditioning} goals: {label} (eval, x0 = 0)")
            ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, title)


def table_row(algo: str, conditioning: str, runs: list[list[dict]], command: str) -> str:
    """One BENCHMARKS.md row: means over seeds of the first and last evaluation and training row;
    minutes of rollouts and updates (compiles and evaluations not counted)."""
    def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values)

    evals = [[r for r in rows if "eval/frames" in r] for rows in runs]
    trained = [[r for r in rows if "clip_fraction" in r] for rows in runs]
    at = lambda i, key, table: mean(rows[i][key] for rows in table)  # noqa: E731
    clip = [r["clip_fraction"] for rows in trained for r in rows]
    cells = [datetime.date.today().isoformat(), machine(), algo, conditioning, str(len(runs)),
             f"{evals[0][-1]['env_steps']:,}",
             f"{at(0, 'eval/frames', evals):.1f} → {at(-1, 'eval/frames', evals):.1f}",
             f"{at(0, 'eval/success_rate', evals):.2f} → {at(-1, 'eval/success_rate', evals):.2f}",
             f"{at(-1, 'eval/g_mpjpe_mm', evals):.0f}", f"{at(-1, 'episode_length', trained):.1f}",
             f"{min(clip):.3f}–{max(clip):.3f}",
             f"{at(0, 'reward/power', trained):,.0f} → {at(-1, 'reward/power', trained):,.0f}",
             f"{mean(sum(r['collect_s'] + r['update_s'] for r in rows) / 60 for rows in trained):.0f}",
             f"`{command}`"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="train overrides of every run, e.g. iterations=120")
    parser.add_argument("--algos", nargs="+", default=["fpo_pp", "ppo"], choices=sorted(COLOURS))
    parser.add_argument("--conditioning", nargs="+", default=["full", "root"],
                        choices=["full", "hands", "root", "mixed"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-every", type=int, default=10, help="iterations between evaluations")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench_learning", help="run folders")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python tools/bench_learning.py " + " ".join(sys.argv[1:])
    results, rows = {}, []
    for conditioning in args.conditioning:
        for algo in args.algos:
            for seed in args.seeds:
                results[algo, conditioning, seed] = run(algo, conditioning, seed, args.overrides,
                                                        args.eval_every, args.runs)
            rows.append(table_row(algo, conditioning, [results[algo, conditioning, s] for s in args.seeds],
                                  command))
            print(rows[-1], flush=True)
            title = f"{machine()}: {' '.join(args.overrides) or 'CPU preset'}"
            plot(results, args.runs / "learning.png", title)
    print(f"wrote {args.runs / 'learning.png'}")
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
