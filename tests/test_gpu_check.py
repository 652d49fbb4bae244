"""tools/gpu_check.sh, the one prepared command for a lent GPU, kept working on the CPU (--cpu-smoke)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_runs_at_tiny_sizes_on_a_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "WANDB_MODE": "disabled"}
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--cpu-smoke"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    said = done.stdout
    stages = [said.index(s) for s in ("gpu_check: install", "gpu_check: training for", "bench_gpu.py",
                                      "bench_env.py")]
    assert stages == sorted(stages), "stages: install, training and its row, then the env alone"
    warp = importlib.util.find_spec("warp") is not None  # the Warp stage runs where it is importable
    assert said.index("--backend warp" if warp else "gpu_check: warp stage skipped") > stages[-1], "Warp last"
    assert (tmp_path / "metrics.jsonl").stat().st_size and (tmp_path / "curve.png").stat().st_size
    table = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## Environment: tools/bench_env.py" in table and "## GPU check: tools/gpu_check.sh" in table
    assert (" | warp | flat | " in table) == warp
    row = [line for line in table.splitlines() if "bench_gpu.py" in line and line.startswith("| 20")][-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "2 × 4" and float(cells[7].replace(",", "")) > 0 and cells[9] == "– / –", row
    assert len(cells[8].split(",")) == 3, "evaluations at iterations 0, 2 and the last (their seconds)"
