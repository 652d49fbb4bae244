"""The trainer and `humanoid-fpo train`: Hydra composition, the run folder, kill and resume.

The run uses the evaluation-protocol env over the test library, the very env that test_env.py
compiles, so this file adds no env compile of its own.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from humanoid_fpo import train
from humanoid_fpo.motion.library import save_library
from humanoid_fpo.motion.source import MotionFileError

from conftest import tiny_train_config


def test_compose_defaults_and_groups() -> None:
    cfg, resume = train.compose([])
    assert resume is None
    assert (cfg.algo.policy, cfg.algo.ratio, cfg.algo.trust_region) == ("flow", "per_sample", "asymmetric")
    assert cfg.env.num_envs == 64 and cfg.device == "cpu" and cfg.motions.path == "motions"
    cfg, _ = train.compose(["algo=ppo", "conditioning=root", "terrain=rough", "preset=gpu", "algo.lr=5e-4"])
    assert cfg.algo.policy == "gaussian" and cfg.algo.lr == 5e-4
    assert cfg.env.conditioning == "root" and cfg.env.num_envs == 4096
    assert cfg.env.terrain.types == ("flat", "rough", "slopes", "waves", "steps")
    cfg, _ = train.compose(["algo=fpo", "conditioning=mixed"])
    assert cfg.algo.ratio == "per_action" and cfg.env.goal_drop_ratio > 0.6


def test_bad_settings_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="algo.ratio: unknown 'per_step'"):
        train.Trainer(replace(train.compose(["algo.ratio=per_step"])[0], motions=train.MotionsConfig(
            str(tmp_path))), tmp_path / "run")
    with pytest.raises(MotionFileError, match="no such motion"):
        train.load_motions(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MotionFileError, match="no clip could be retargeted"):
        train.load_motions(tmp_path / "empty")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(FileExistsError, match="resume="):
        train.new_run_dir(replace(train.compose([])[0], run_dir=str(tmp_path / "taken")))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        train.compose([f"resume={tmp_path / 'empty'}"])


class Killed(Exception):
    pass


def test_run_folder_kill_and_resume(tracking_library, tmp_path, monkeypatch) -> None:
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    run_dir = tmp_path / "run"
    cfg = tiny_train_config(library_file, run_dir, wandb=train.WandbConfig(mode="offline"))
    env = cfg.env
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline W&B must work without network or account

    trainer = train.Trainer(cfg, run_dir)
    iterate = trainer.train_iteration

    def killed_in_the_fourth() -> dict:
        if trainer.iteration == 3:
            raise Killed
        return iterate()

    monkeypatch.setattr(trainer, "train_iteration", killed_in_the_fourth)
    with pytest.raises(Killed):
        trainer.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert "eval/success_rate" in rows[1] and 0 <= rows[1]["eval/success_rate"] <= 1
    for name in ("config.yaml", "motions.npz", "curves.png", "eval.json"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "wandb").is_dir()
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 2 and saved["env_steps"] == 2 * 2 * env.num_envs
    assert not list(run_dir.glob(".*")), "a temporary file was left behind"

    monkeypatch.setenv("WANDB_MODE", "disabled")
    resumed_cfg, resume_dir = train.compose([f"resume={run_dir}"])
    assert resume_dir == run_dir and resumed_cfg == cfg
    resumed = train.Trainer(resumed_cfg, run_dir, resume=True)
    assert resumed.iteration == 2
    for a, b in zip(resumed.learner.policy.state_dict().values(), saved["learner"]["policy"].values()):
        torch.testing.assert_close(a, b)
    last = resumed.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4], "the partial interval is redone, once"
    assert last["iteration"] == 4 and "eval/success_rate" in rows[-1]
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iteration"] == 4
    assert json.loads((run_dir / "eval.json").read_text())["iteration"] == 4
