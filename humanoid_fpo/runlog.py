"""What a training run writes besides checkpoints: metrics as JSONL, a learning-curve PNG, and its
progress on the terminal (or as plain lines in a log)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TextIO

from humanoid_fpo.atomic import atomic_path

CURVES = (("episode_length", "episode length (steps)"), ("reward", "reward per step"),
          ("eval/frames", "frames tracked per clip (eval)"), ("eval/success_rate", "success rate (eval)"),
          ("mean_body_error", "mean body error (m)"), ("reward/power", "joint power (W)"),
          ("termination_distance", "termination distance (m)"),
          ("level", "terrain level (mean over envs; curriculum)"), ("clip_fraction", "clip fraction"),
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


class Progress:
    """Training progress: a bar on a terminal, else one plain line every `every` iterations (and the
    last). The ETA counts only the iterations after this process's first, which compiles."""

    def __init__(self, total: int, start: int, every: int = 10, stream: TextIO | None = None):
        self.total, self.done, self.every = total, start, max(1, every)
        self.stream = stream or sys.stdout
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, file=self.stream, dynamic_ncols=True, unit="it",
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self.first: tuple[float, int] | None = None  # (time, iterations done) after the first iteration
        self.started = time.monotonic()

    def eta(self) -> float:
        """s to the last iteration at the pace since the first one; NaN until that pace is known."""
        if self.first is None or self.done == self.first[1]:
            return math.nan
        seconds, done = time.monotonic() - self.first[0], self.done - self.first[1]
        return seconds / done * (self.total - self.done)

    def update(self, row: dict, success: float) -> None:
        """One iteration done: `row` its metrics, `success` the latest evaluation's (NaN: none yet)."""
        self.done += 1
        if self.first is None:
            self.first = (time.monotonic(), self.done)
        fields = {"steps/s": f"{row['steps_per_s']:.0f}", "reward": f"{row['reward']:.3f}",
                  "ep_len": f"{row['episode_length']:.1f}",
                  "success": "–" if math.isnan(success) else f"{success:.2f}", "ETA": _clock(self.eta())}
        if self.bar is not None:
            self.bar.set_postfix(fields, refresh=False)
            self.bar.update(1)
        elif self.done % self.every == 0 or self.done == self.total:
            elapsed = _clock(time.monotonic() - self.started)
            print(f"it {self.done}/{self.total}  {'  '.join(f'{k} {v}' for k, v in fields.items())}  "
                  f"elapsed {elapsed}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    """'1:02:03', '2:03', or '–' for NaN."""
    if math.isnan(seconds):
        return "–"
    minutes, s = divmod(round(seconds), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plot_curves(rows: list[dict], path: Path, title: str) -> None:
    """A grid of the CURVES against env steps, written atomically."""
    fig, axes = figure(3, 5, (20, 9.5))
    for ax in axes.flat[len(CURVES):]:
        ax.axis("off")
    for ax, (key, label) in zip(axes.flat, CURVES):
        ax.plot(*curve(rows, key), marker="o" if key.startswith("eval/") else None, lw=1.2)
        held = key.replace("eval/", "eval_held_out/")
        if key.startswith("eval/") and curve(rows, held)[0]:  # the run's eval_motions beside its own clips
            ax.plot(*curve(rows, held), marker="s", lw=1.2, label="held out")
            ax.plot([], [], color="C0", marker="o", label="training clips")
            ax.legend(fontsize=7)
        steps_axis(ax, label)
        if key == "eval/success_rate":
            ax.set_ylim(-0.05, 1.05)
    save_figure(fig, path, title)


def curve(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(env steps, values) of the rows that hold a finite `key`."""
    points = [(r["env_steps"], r[key]) for r in rows if key in r and not math.isnan(r[key])]
    return [x for x, _ in points], [y for _, y in points]


def train_minutes(rows: list[dict]) -> list[float]:
    """Per row, the minutes of training up to and including it: the motion prior's fit (in the first
    row where there was one), then every iteration's rollout and update (their wall time, which
    overlap shortens); compiles, evaluations and checkpoints are not counted."""
    prior = rows[0].get("prior/seconds", 0.0) if rows and rows[0].get("prior/samples") else 0.0
    total, out = prior, []
    for r in rows:
        total += r.get("iteration_s", r.get("collect_s", 0.0) + r.get("update_s", 0.0))
        out.append(total / 60)
    return out


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
