"""Matplotlib helpers shared by the run's curves, `inspect` and the benchmarks: headless figures, an
env-steps axis, atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

from humanoid_fpo.util.atomic import atomic_path


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
