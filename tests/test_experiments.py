"""The experiment runner's clip split (`experiments.split_library`); training and evaluating runs are
the trainer's and `evaluate`'s, tested there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from humanoid_fpo.run.experiments import split_library
from humanoid_fpo.motion.library import load_library

from conftest import BUILTIN_MOTIONS


def test_split_library_fits_all_but_the_held_out_clips(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("stand", "squat", "turn"):
        shutil.copy(BUILTIN_MOTIONS / f"{name}.npz", clips)
    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(ValueError, match=f"{clips}: no clip jump, walk to hold out"):
        split_library(clips, ["walk", "turn", "jump"], runs)
    assert not list(runs.iterdir()), "nothing written"
    fit, held_out = split_library(clips, ["turn"], runs)
    assert (fit, held_out) == (runs / "fit.npz", runs / "held_out.npz")
    assert load_library(fit).clip_names == ("squat", "stand")
    assert load_library(held_out).clip_names == ("turn",)
