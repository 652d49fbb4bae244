"""What a run prints and plots: the progress lines and bar, the curves' axes."""

from __future__ import annotations

import io
import math

import pytest

from humanoid_fpo.run import curves, metrics
from humanoid_fpo.run.metrics import Progress

ROW = {"steps_per_s": 700.0, "reward": 0.5, "episode_length": 30.0}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_when_not_a_terminal_and_eta_after_the_compile(monkeypatch) -> None:
    clock = Clock()
    monkeypatch.setattr(metrics.time, "monotonic", clock)
    out = io.StringIO()
    progress = Progress(total=10, start=0, every=2, stream=out)
    clock.now = 100.0  # the first iteration compiles
    progress.update(ROW, math.nan)
    assert math.isnan(progress.eta()) and out.getvalue() == ""
    for _ in range(3):  # then 1 s each
        clock.now += 1.0
        progress.update(ROW, 0.5 if progress.done >= 2 else math.nan)
    assert progress.eta() == pytest.approx(6.0)  # 6 left at 1 s, the compile not counted
    lines = out.getvalue().splitlines()
    assert lines == ["it 2/10  steps/s 700  reward 0.500  ep_len 30.0  success –  ETA 0:08  elapsed 1:41",
                     "it 4/10  steps/s 700  reward 0.500  ep_len 30.0  success 0.50  ETA 0:06  elapsed 1:43"]
    assert "\r" not in out.getvalue()


def test_a_bar_on_a_terminal(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    progress = Progress(total=5, start=3, stream=out)
    progress.update(ROW, math.nan)
    progress.close()
    text = out.getvalue()
    assert "\r" in text and "4/5" in text and "success=–" in text and "ETA=–" in text


@pytest.mark.parametrize("iterations", [61, 600])
def test_every_curves_panel_has_readable_ticks(tmp_path, monkeypatch, iterations) -> None:
    """No two tick labels of a panel overlap (as "100000120000" did on the success panel's two
    evaluations at 100 k and 120 k steps), early in a run and at a million env steps."""
    figures = []
    monkeypatch.setattr(curves, "save_figure", lambda fig, path, title: figures.append(fig))
    evals = {k for k, _ in curves.CURVES if k.startswith("eval/")}
    rows = [{"iteration": i, "env_steps": 2048 * i,
             **{k: 0.5 + 0.001 * i for k, _ in curves.CURVES if k not in evals or (i >= 50 and i % 10 == 0)}}
            for i in range(iterations)]
    curves.plot_curves(rows, tmp_path / "curves.png", "run")
    fig = figures[0]
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for labels, (low, high), xy in ((ax.get_xticklabels(), ax.get_xlim(), 0),
                                        (ax.get_yticklabels(), ax.get_ylim(), 1)):
            boxes = [t.get_window_extent(renderer) for t in labels
                     if t.get_text() and low <= t.get_position()[xy] <= high]
            assert len(boxes) >= 3, ax.get_title()
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), ax.get_title()
    assert fig.axes[3].get_ylim() == (-0.05, 1.05)  # success rate on its whole range


def test_a_torn_row_is_reported_and_dropped_on_resume(tmp_path, capsys) -> None:
    """A row cut by a kill is named in one line when the run resumes, not silently lost."""
    path = tmp_path / "metrics.jsonl"
    log = metrics.MetricsLog(path)
    for i in range(3):
        log.append({"iteration": i, "reward": 0.5})
    with path.open("a") as f:
        f.write('{"iteration": 3, "rew')
    log.truncate(2)
    assert capsys.readouterr().out == (f"{path}: the row of iteration 3 was cut off (the process was killed "
                                       f"while writing it); dropped; that iteration is trained again\n")
    assert [r["iteration"] for r in log.rows()] == [0, 1, 2] and path.read_text().endswith("}\n")
    log.append({"iteration": 3, "reward": 0.5})
    assert [r["iteration"] for r in log.rows()] == [0, 1, 2, 3]


def test_curves_draw_only_what_the_run_moves(tmp_path, monkeypatch) -> None:
    """A flat run has no terrain-level panel (its level counter climbs on flat ground too); a run
    without the termination curriculum no termination-distance panel; rough ground with the
    curriculum keeps both."""
    from dataclasses import replace

    from humanoid_fpo.run.config import compose

    figures = []
    monkeypatch.setattr(curves, "save_figure", lambda fig, path, title: figures.append(fig))
    rows = [{"iteration": i, "env_steps": 100 * i, **{k: 0.5 * i for k, _ in curves.CURVES}} for i in range(4)]
    titles = lambda: [ax.get_title() for ax in figures[-1].axes if ax.get_title()]
    flat, _ = compose([])
    curves.plot_curves(rows, tmp_path / "curves.png", "run", curves.run_curves(flat))
    assert "terrain level (mean over envs; curriculum)" not in titles()
    assert "termination distance (m)" in titles() and "reward per step" in titles()
    no_curriculum = replace(flat, termination_curriculum=replace(flat.termination_curriculum, start=None))
    curves.plot_curves(rows, tmp_path / "curves.png", "run", curves.run_curves(no_curriculum))
    assert "termination distance (m)" not in titles()
    rough, _ = compose(["terrain=rough"])
    curves.plot_curves(rows, tmp_path / "curves.png", "run", curves.run_curves(rough))
    assert titles() == [label for _, label in curves.CURVES]
