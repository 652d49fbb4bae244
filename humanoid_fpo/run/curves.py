"""A run's learning curves (curves.png): is it tracking, is it stable, is the learner moving."""

from __future__ import annotations

from pathlib import Path

from humanoid_fpo.run.config import TrainConfig
from humanoid_fpo.run.metrics import curve
from humanoid_fpo.util.plots import figure, save_figure, steps_axis

CURVES = (("episode_length", "episode length (steps)"), ("reward", "reward per step"),
          ("eval/frames", "frames tracked per clip (eval)"), ("eval/success_rate", "success rate (eval)"),
          ("eval/frames_past_still", "frames past standing still (eval, clips that need motion)"),
          ("mean_body_error", "mean body error (m)"), ("reward/power", "joint power (W)"),
          ("termination_distance", "termination distance (m)"),
          ("level", "terrain level (mean over envs; curriculum)"), ("clip_fraction", "clip fraction"),
          ("approx_kl", "approx. KL from the ratio"),
          ("divergence", "policy change (flow: clean action², noise units; Gaussian: KL)"),
          ("action_spread", "action spread (std over samples)"), ("explained_variance", "explained variance"))
"""(metrics key, panel title) of curves.png: is it tracking, is it stable, is the learner moving."""


def run_curves(cfg: TrainConfig) -> tuple[tuple[str, str], ...]:
    """The CURVES that mean something for a run of `cfg`: the terrain level only where the terrain
    curriculum moves envs over more than one level of ground that is not flat everywhere, the
    termination distance only where its curriculum moves it. (Held-out curves are drawn where the
    rows have them: a run with eval_motions.)"""
    terrain = cfg.env.terrain
    levels = terrain.curriculum and terrain.num_levels > 1 and set(terrain.types) != {"flat"}
    drawn = {"level": levels, "termination_distance": cfg.termination_curriculum.start is not None}
    return tuple(c for c in CURVES if drawn.get(c[0], True))


def plot_curves(rows: list[dict], path: Path, title: str,
                curves: tuple[tuple[str, str], ...] = CURVES) -> None:
    """A grid of `curves` (default: all the CURVES; a run's: `run_curves`) against env steps,
    written atomically."""
    fig, axes = figure(3, 5, (20, 9.5))
    for ax in axes.flat[len(curves):]:
        ax.axis("off")
    for ax, (key, label) in zip(axes.flat, curves):
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
