"""Benchmark the exported policy: onnxruntime batch-1 latency on the CPU for K Euler steps.

    .venv/bin/python tools/bench_onnx.py                       # CPU and GPU preset nets, writes BENCHMARKS.md
    .venv/bin/python tools/bench_onnx.py --steps 1 4 --threads 2

A policy.onnx per (network, K) is exported from a learner with random weights (latency does not
depend on their values) and timed with one observation per call, as a controller calls it at
30 Hz: median and 99th percentile over --calls calls after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from humanoid_fpo.export import export
from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.observations import obs_layout

from bench_table import machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## ONNX policy latency: tools/bench_onnx.py"
HEADER = ("| date | machine | actor | K | threads | median µs | p99 µs | command |\n"
          "|---|---|---|---|---|---|---|---|")
NETS = {"cpu preset 256-256": (256, 256), "gpu preset 1024-512-256": (1024, 512, 256)}


def latency(path: Path, obs_size: int, threads: int, calls: int) -> tuple[float, float]:
    """(median, p99) µs of single-observation calls."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    obs = {"obs": np.random.default_rng(0).normal(size=(1, obs_size)).astype(np.float32)}
    for _ in range(50):
        session.run(None, obs)
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        session.run(None, obs)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6), float(np.percentile(times, 99) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    env_cfg = EnvConfig()
    obs_size = obs_layout(env_cfg.obs)["height_scan"].stop
    steps = " ".join(map(str, args.steps))
    command = f"`python tools/bench_onnx.py --steps {steps} --threads {args.threads} --calls {args.calls}`"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, hidden in NETS.items():
            cfg = replace(AlgoConfig(), actor=NetConfig(hidden), critic=NetConfig((16,)))
            learner = Learner(cfg, obs_size, obs_size, 69)
            for k in args.steps:
                folder = Path(tmp) / f"{len(hidden)}_{k}"
                export(learner, env_cfg, folder, steps=k)
                median, p99 = latency(folder / "policy.onnx", obs_size, args.threads, args.calls)
                print(f"{name} K={k}: median {median:.0f} µs, p99 {p99:.0f} µs")
                rows.append(f"| {datetime.date.today()} | {machine()} | {name} | {k} | {args.threads} | "
                            f"{median:.0f} | {p99:.0f} | {command} |")
    if not args.no_write:
        write_rows(ROOT / "BENCHMARKS.md", SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
