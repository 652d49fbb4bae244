"""What a training run logs besides checkpoints: metrics as JSONL, read back as curves and minutes, and
its progress on the terminal (or as plain lines in a log)."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import TextIO

from humanoid_fpo.util.atomic import atomic_path


class MetricsLog:
    """Appends one JSON object per line, each in one write; `truncate` drops rows past a checkpoint on
    resume and reports a line cut by a kill."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, row: dict) -> None:
        with self.path.open("ab", buffering=0) as f:  # one write(2) on an O_APPEND file: a row is whole
            f.write((json.dumps(row, allow_nan=True) + "\n").encode())

    def _read(self) -> tuple[list[dict], list[str]]:
        """(the rows, the lines that are not JSON: cut by a kill)."""
        rows, torn = [], []
        for line in self.path.read_text().splitlines() if self.path.exists() else []:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                torn.append(line)
        return rows, torn

    def rows(self) -> list[dict]:
        return self._read()[0]

    def truncate(self, iteration: int) -> None:
        """Keep the rows of iterations <= `iteration` (written atomically); a torn line is dropped
        with one line saying so."""
        rows, torn = self._read()
        for line in torn:
            cut = re.match(r'\{"iteration": (\d+)', line)
            which = f"the row of iteration {cut[1]}" if cut else "a row"
            redone = "; that iteration is trained again" if cut and int(cut[1]) > iteration else ""
            print(f"{self.path}: {which} was cut off (the process was killed while writing it); "
                  f"dropped{redone}")
        keep = [r for r in rows if r["iteration"] <= iteration]
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
