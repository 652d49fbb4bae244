"""What a training run writes besides checkpoints: metrics as JSONL, a learning-curve PNG, W&B."""

from __future__ import annotations

import json
import math
from pathlib import Path

from humanoid_fpo.atomic import atomic_path

CURVES = (("episode_length", "episode length (steps)"), ("reward", "reward per step"),
          ("eval/frames", "frames tracked per clip (eval)"), ("eval/success_rate", "success rate (eval)"),
          ("mean_body_error", "mean body error (m)"), ("reward/power", "joint power (W)"),
          ("termination_distance", "termination distance (m)"), ("clip_fraction", "clip fraction"),
          ("approx_kl", "approx. KL from the ratio"),
          ("divergence", "policy change (flow: clean action², noise units; Gaussian: KL)"),
          ("action_spread", "action spread (std over samples)"), ("explained_variance", "explained variance"))
"""(metrics key, panel title) of curves.png: is it tracking, is it stable, is the learner moving."""


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
    fig, axes = figure(3, 4, (16, 9.5))
    for ax, (key, label) in zip(axes.flat, CURVES):
        ax.plot(*curve(rows, key), marker="o" if key.startswith("eval/") else None, lw=1.2)
        steps_axis(ax, label)
    save_figure(fig, path, title)


def curve(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(env steps, values) of the rows that hold a finite `key`."""
    points = [(r["env_steps"], r[key]) for r in rows if key in r and not math.isnan(r[key])]
    return [x for x, _ in points], [y for _, y in points]


def figure(rows: int, columns: int, size: tuple[float, float]):
    """A matplotlib figure and its (rows, columns) axes, headless."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, figsize=size, squeeze=False)


def steps_axis(ax, title: str) -> None:
    """A small title and an env-steps x axis that stays readable (50k, 1.5M)."""
    from matplotlib.ticker import EngFormatter, MaxNLocator

    ax.set_title(title, fontsize=9)
    ax.set_xlabel("env steps", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def save_figure(fig, path: Path, title: str) -> None:
    """Title, layout and an atomic PNG write; the figure is closed."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
