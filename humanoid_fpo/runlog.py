"""What a training run writes besides checkpoints: metrics as JSONL, a learning-curve PNG, W&B."""

from __future__ import annotations

import json
import math
from pathlib import Path

from humanoid_fpo.atomic import atomic_path

CURVES = (("episode_length", "episode length (steps)"), ("episode_return", "episode return"),
          ("reward", "reward per step"), ("eval/success_rate", "success rate (eval)"),
          ("mean_body_error", "mean body error (m)"), ("policy_loss", "policy loss"))


class MetricsLog:
    """Appends one JSON object per line; `truncate` drops rows past a checkpoint on resume."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, row: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")
            f.flush()

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill
                break
        return rows

    def truncate(self, iteration: int) -> None:
        """Keep the rows of iterations <= `iteration` (written atomically)."""
        keep = [r for r in self.rows() if r["iteration"] <= iteration]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in keep))


def plot_curves(rows: list[dict], path: Path, title: str) -> None:
    """A grid of the CURVES against env steps, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (key, label) in zip(axes.flat, CURVES):
        points = [(r["env_steps"], r[key]) for r in rows if key in r and not math.isnan(r[key])]
        if points:
            x, y = zip(*points)
            ax.plot(x, y, marker="o" if key.startswith("eval/") else None, lw=1.2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
