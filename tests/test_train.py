"""The trainer and `humanoid-fpo train`: Hydra composition, the run folder, kill and resume.

The run uses the evaluation-protocol env over the test library, the very env that test_env.py
compiles, so this file adds no env compile of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jax
import pytest
import torch
import yaml

from humanoid_fpo.cli import main
from humanoid_fpo.learn.config import PriorConfig
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.motion.library import load_motions, save_library
from humanoid_fpo.motion.source import MotionFileError
from humanoid_fpo.run import config as run_config
from humanoid_fpo.run import train
from humanoid_fpo.sim.config import TerminationCurriculum

from conftest import tiny_train_config


def test_compose_defaults_and_groups() -> None:
    cfg, resume = run_config.compose([])
    assert resume is None
    assert (cfg.algo.policy, cfg.algo.ratio, cfg.algo.trust_region) == ("flow", "per_sample", "asymmetric")
    assert cfg.env.num_envs == 64 and cfg.device == "cpu" and cfg.motions.path == "motions"
    cfg, _ = run_config.compose(["algo=ppo", "conditioning=root", "terrain=rough", "preset=gpu", "algo.lr=5e-4"])
    assert cfg.algo.policy == "gaussian" and cfg.algo.lr == 5e-4
    assert cfg.env.conditioning == "root" and cfg.env.num_envs == 4096
    assert cfg.env.terrain.types == ("flat", "rough", "slopes", "waves", "steps")
    cfg, _ = run_config.compose(["algo=fpo", "conditioning=mixed"])
    assert cfg.algo.ratio == "per_action" and cfg.env.goal_drop_ratio > 0.6


def test_config_paths_resolve_from_the_project_root_wherever_train_runs(tmp_path, monkeypatch) -> None:
    """From another folder the configs' relative paths (the built-in motions, the caches) are the
    project's; a path that exists from the working directory, and the run folder, stay relative to it."""
    monkeypatch.chdir(tmp_path)
    cfg, _ = run_config.compose(["run_dir=runs/a"])
    root = run_config.PROJECT_ROOT
    assert cfg.motions.path == str(root / "motions") and cfg.motions.cache == str(root / ".cache/motions")
    assert cfg.jax_cache == str(root / ".cache/jax") and cfg.teacher.cache == str(root / ".cache/teacher")
    assert cfg.run_dir == "runs/a" and train.new_run_dir(cfg) == Path("runs/a")
    assert load_motions(cfg.motions.path, cache=cfg.motions.cache).num_clips == 4, "the built-in clips"
    (tmp_path / "mine").mkdir()
    assert run_config.compose(["motions.path=./mine"])[0].motions.path == "./mine"
    assert run_config.compose(["motions=asap"])[0].motions.path == str(root / "data/motions/asap_smpl")


def test_bad_settings_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="algo.ratio: unknown 'per_step'"):
        train.build_trainer(replace(run_config.compose(["algo.ratio=per_step"])[0], motions=run_config.MotionsConfig(
            str(tmp_path))), tmp_path / "run")
    with pytest.raises(ValueError, match="torch_threads must be non-negative, got -1"):
        run_config.check_config(replace(run_config.compose([])[0], torch_threads=-1))
    with pytest.raises(MotionFileError, match="no such motion"):
        load_motions(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MotionFileError, match="no clip could be retargeted"):
        load_motions(tmp_path / "empty")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(FileExistsError, match="resume="):
        train.new_run_dir(replace(run_config.compose([])[0], run_dir=str(tmp_path / "taken")))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        run_config.compose([f"resume={tmp_path / 'empty'}"])


class Killed(Exception):
    pass


def test_run_folder_kill_and_resume(tracking_library, tmp_path, monkeypatch) -> None:
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    run_dir = tmp_path / "run"
    curriculum = TerminationCurriculum(start=0.8, rate=0.1, tighten_above=30, loosen_below=20)
    cfg = tiny_train_config(library_file, run_dir, wandb=run_config.WandbConfig(mode="offline"),
                            termination_curriculum=curriculum)
    env = cfg.env
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline W&B must work without network or account

    trainer = train.build_trainer(cfg, run_dir)
    long_episodes = lambda: {"episodes": 3, "episode_return": 1.0, "episode_length": 40.0}
    monkeypatch.setattr(trainer.tracker, "pop", long_episodes)  # so the curriculum tightens each time
    iterate = trainer.train_iteration

    def killed_in_the_fourth() -> dict:
        if trainer.iteration == 3:
            raise Killed
        return iterate()

    monkeypatch.setattr(trainer, "train_iteration", killed_in_the_fourth)
    with pytest.raises(Killed):
        trainer.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    assert "eval/success_rate" in rows[0] and "eval/success_rate" in rows[2], "evaluated at 0 and 2"
    assert 0 <= rows[2]["eval/success_rate"] <= 1 and rows[2]["eval/frames"] >= 1
    for name in ("config.yaml", "motions.npz", "curves.png", "eval.json"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "wandb").is_dir()
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 2 and saved["env_steps"] == 2 * 2 * env.num_envs
    assert [r["termination_distance"] for r in rows[1:]] == pytest.approx([0.8, 0.72, 0.648])
    assert float(saved["env_progress"]["termination_distance"]) == pytest.approx(0.648)
    assert not list(run_dir.glob(".*")), "a temporary file was left behind"

    monkeypatch.setenv("WANDB_MODE", "disabled")
    resumed_cfg, resume_dir = run_config.compose([f"resume={run_dir}"])
    assert resume_dir == run_dir and resumed_cfg == cfg
    resumed = train.build_trainer(resumed_cfg, run_dir, resume=True)
    monkeypatch.setattr(resumed.tracker, "pop", long_episodes)
    assert resumed.iteration == 2 and resumed.env.termination_distance == pytest.approx(0.648)
    for a, b in zip(resumed.learner.policy.state_dict().values(), saved["learner"]["policy"].values()):
        torch.testing.assert_close(a, b)
    last = resumed.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4], "the partial interval is redone, once"
    assert last["iteration"] == 4 and "eval/success_rate" in rows[-1]
    assert [r["termination_distance"] for r in rows[1:]] == pytest.approx([0.8, 0.72, 0.648, 0.5832])
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iteration"] == 4
    assert json.loads((run_dir / "eval.json").read_text())["iteration"] == 4


def test_prior_alone_then_rl_from_it(tracking_library, tmp_path) -> None:
    """iterations=0 with a prior saves the fitted policy (logged: samples, loss, seconds); resume=
    with more iterations trains on from it without fitting again."""
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    run_dir = tmp_path / "prior"
    cfg = tiny_train_config(library_file, run_dir, iterations=0, prior=PriorConfig(steps=20, batch=16))
    trainer = train.build_trainer(cfg, run_dir)
    for name in ("qpos", "body_pos"):  # one device copy of the library serves training and evaluation
        train_copy, eval_copy = getattr(trainer.env.env.library, name), getattr(trainer.eval_env.library, name)
        assert train_copy.unsafe_buffer_pointer() == eval_copy.unsafe_buffer_pointer()
    untrained = {k: v.clone() for k, v in trainer.learner.policy.state_dict().items()}
    trainer.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0] and rows[0]["prior/loss"] < rows[0]["prior/loss_first"]
    assert rows[0]["prior/samples"] > 0 and rows[0]["prior/seconds"] > 0 and "eval/frames" in rows[0]
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 0
    fitted = saved["learner"]["policy"]
    assert any(not torch.equal(v, untrained[k]) for k, v in fitted.items())

    clips = tracking_library.num_clips
    subset = min(8, clips // 2)  # 4 built-in clips alone where ../shared/motions is absent
    resumed = train.build_trainer(replace(cfg, iterations=2, eval_every=1, eval_clips=subset), run_dir, resume=True)
    for k, v in resumed.learner.policy.state_dict().items():
        torch.testing.assert_close(v, fitted[k])
    resumed.run()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert [("prior/loss" in r) for r in rows] == [True, False, False], "the prior is fitted once"
    assert [r["eval/clips"] for r in rows] == [clips, subset, clips], \
        "a subset in training, every clip at the end"
    assert "eval/share" not in rows[1] and 0 < rows[2]["eval/share"] < 1 and rows[2]["eval/seconds"] > 0


def test_overlap_acts_a_version_behind_and_updates_as_the_plain_path(tracking_library, tmp_path) -> None:
    """overlap=true: the rollout collected during an update is the one the weights before that update
    collect, and each update is the plain path's on the rollout before it, with the same minibatches:
    rollouts and weights within 1e-5 of that plain reconstruction (the threads' GEMMs may round
    apart). With lr 1e-2 one update moves the weights by far more, so a rollout acted with the live
    weights, or an update of the wrong rollout, would fail."""
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    cfg = tiny_train_config(library_file, tmp_path / "overlap", overlap=True, iterations=2)
    cfg = replace(cfg, algo=replace(cfg.algo, lr=1e-2, adaptive_lr=False))
    weights = lambda learner: torch.cat([p.detach().flatten().clone() for p in learner.parameters()])
    close = lambda a, b: torch.testing.assert_close(a, b, atol=1e-5, rtol=0)

    overlapped = train.build_trainer(cfg, tmp_path / "overlap")
    start = weights(overlapped.learner)
    overlapped.train_iteration()
    collected_behind = {k: v.clone() for k, v in overlapped.storage.buffers.items()}
    after_one = weights(overlapped.learner)
    overlapped.train_iteration()
    assert overlapped.pending is None, "the last iteration collects no rollout it would not train on"
    after_two = weights(overlapped.learner)
    assert (after_one - start).abs().max() > 1e-3 and (after_two - after_one).abs().max() > 1e-3

    plain = train.build_trainer(replace(cfg, overlap=False, run_dir=str(tmp_path / "plain")), tmp_path / "plain")
    first, second = RolloutStorage(cfg.steps_per_env), RolloutStorage(cfg.steps_per_env)
    rollout = plain._collect(plain.learner, first)
    next_rollout = plain._collect(plain.learner, second)  # still the starting weights
    close(weights(plain.learner), start)
    for name, value in second.buffers.items():
        close(collected_behind[name], value)
    plain.learner.update(first, rollout.last_values, shuffle=train.minibatch_draws(cfg.seed, 0))
    close(weights(plain.learner), after_one)
    plain.learner.update(second, next_rollout.last_values, shuffle=train.minibatch_draws(cfg.seed, 1))
    close(weights(plain.learner), after_two)


def test_a_prior_on_a_library_for_another_humanoid_is_named(tracking_library, tmp_path, capsys) -> None:
    foreign = tmp_path / "foreign.npz"
    save_library(replace(tracking_library, body_names=tuple(f"b{i}" for i in range(24))), foreign)
    run_dir = tmp_path / "run"
    assert main(["train", f"motions.path={foreign}", "prior.steps=100", f"run_dir={run_dir}",
                 "progress=false", "jax_cache=null"]) == 1
    assert f"{foreign}: made for another humanoid" in capsys.readouterr().err
    assert not (run_dir / "config.yaml").exists()
    assert main(["train", "prior.steps=-1", f"run_dir={run_dir}"]) == 1
    assert "prior.steps must be non-negative, got -1" in capsys.readouterr().err


def test_env_import_prints_no_warp_message() -> None:
    """mujoco.mjx's "Failed to import warp" lines (its optional backend, unused here) are dropped."""
    done = subprocess.run([sys.executable, "-c", "import humanoid_fpo.sim.env"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "warp" not in done.stdout + done.stderr


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["train", "env.num_envs=abc"],
                                  ["eval", "--flow-steps", "0", "runs/x"],
                                  ["train", "algo.lr=-1", "motions.path=/proc/no_motions", "run_dir=/proc/no_run"]])
def test_help_and_argument_errors_load_no_heavy_module(argv) -> None:
    """`--help` and a bad argument answer before JAX, torch or MuJoCo load (seconds on a CPU)."""
    script = ("import sys\nfrom humanoid_fpo.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
              "    pass\nprint(sorted({'jax', 'torch', 'mujoco'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_help_lists_groups_and_bad_overrides_name_the_key(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "algo          fpo | fpo_pp* | ppo" in out and "preset        cpu* | cpu_mocap | gpu" in out
    assert "env.num_envs=64" in out and "termination_curriculum.start=" in out
    resume = out[out.index("resume=RUN_DIR"):]
    assert all(key in resume for key in ("iterations", "eval_every", "checkpoint_every", "progress", "wandb.*"))
    assert "Paths: relative paths in a config" in out and "else from the project root" in out
    for override, message in (("algo=foo", "algo=foo: unknown option; choose from fpo, fpo_pp, ppo"),
                              ("num_envs=8", "num_envs: unknown key; did you mean env.num_envs?"),
                              ("env.num_envs=abc", "env.num_envs: expected an integer, got 'abc'"),
                              ("algo.noise_std=[1]", "algo.noise_std: expected a number, got [1]"),
                              ("algo.lr=-1", "algo.lr must be positive, got -1")):
        assert main(["train", override]) == 1
        assert f"error: {message}\n" in capsys.readouterr().err
    assert main(["train", "env.num_envs=["]) == 1
    assert capsys.readouterr().err.startswith("error: 'env.num_envs=[': cannot parse (no viable alternative")
    with pytest.raises(ValueError, match="algo=foo: unknown option"):  # the traceback, on demand
        main(["--debug", "train", "algo=foo"])
    assert not (tmp_path / "runs").exists()


def test_loading_a_run_does_not_import_the_trainer(run_dir, tmp_path) -> None:
    """eval, export, render, inspect and play load a run through run/checkpoint.py: `export` runs, and the
    modules those commands import leave humanoid_fpo.run.train (and the prior, the teacher) unloaded."""
    script = ("import sys\nfrom humanoid_fpo.cli import main\n"
              f"code = main(['export', {str(run_dir)!r}, '-o', {str(tmp_path)!r}])\n"
              "import humanoid_fpo.evaluate, humanoid_fpo.view.render, humanoid_fpo.view.inspect\n"
              "import humanoid_fpo.motion.library, humanoid_fpo.sim.env\n"
              "print(code, sorted(m for m in ('humanoid_fpo.run.train', 'humanoid_fpo.learn.prior', "
              "'humanoid_fpo.teacher.teach') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert (tmp_path / "policy.onnx").exists()


def test_jax_allocates_on_demand_unless_the_user_says_otherwise() -> None:
    """Set by the package before any of its modules imports JAX (so that JAX leaves torch its share
    of a GPU); an XLA_PYTHON_CLIENT_* setting of the user's is left alone."""
    script = ("import os, sys\nimport humanoid_fpo\nbefore = 'jax' in sys.modules\nimport humanoid_fpo.run.train\n"
              "print(before, 'jax' in sys.modules, os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_PYTHON_CLIENT_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.stdout.split() == ["False", "True", "false"], done.stdout + done.stderr
    env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = "0.5"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.stdout.split() == ["False", "True", "None"], done.stdout + done.stderr


def test_a_run_written_before_a_route_retired_still_reads(tmp_path: Path) -> None:
    """config.yaml of a run made before 2026-12-07 holds the retired routes' keys at their unused values:
    it reads; one that used a retired route is a one-line error naming the file and the key."""
    from humanoid_fpo.util.typed_config import to_dict

    saved = to_dict(run_config.compose([])[0])
    saved["env"] |= {"residual_actions": False, "residual_scale": 1.0}
    saved["algo"]["compile"] = False
    saved["prior"] |= {"source": "reference", "dagger_labels": 512, "recovery_frames": 0}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(saved))
    assert run_config.read_config(path) == run_config.compose([])[0]
    saved["prior"] |= {"source": "teacher", "steps": 0}  # the recipe's config before: set, but no prior fitted
    path.write_text(yaml.safe_dump(saved))
    assert run_config.read_config(path) == run_config.compose(["prior.steps=0"])[0]
    saved["env"]["residual_actions"] = True
    path.write_text(yaml.safe_dump(saved))
    with pytest.raises(ValueError, match="config.yaml: trained with env.residual_actions=True, a route retired"):
        run_config.read_config(path)


def test_a_checkpoint_written_before_a_setting_existed_still_loads(tmp_path: Path) -> None:
    """A setting added since (here env.obs.actor_height_scan) reads as its default in the checkpoint's
    config, as in config.yaml: `eval` of an older run said 'checkpoint from another config: env.obs
    differ'."""
    from humanoid_fpo.run.checkpoint import CHECKPOINT_VERSION, read_checkpoint
    from humanoid_fpo.util.typed_config import to_dict

    cfg = run_config.compose([])[0]
    saved = to_dict(cfg)
    del saved["env"]["obs"]["actor_height_scan"]
    torch.save({"version": CHECKPOINT_VERSION, "config": saved}, tmp_path / "checkpoint.pt")
    assert read_checkpoint(tmp_path / "checkpoint.pt", cfg)["config"] == to_dict(cfg)
    other = run_config.compose(["env.obs.actor_height_scan=false"])[0]
    with pytest.raises(ValueError, match="checkpoint from another config: env.obs differ"):
        read_checkpoint(tmp_path / "checkpoint.pt", other)


@pytest.mark.parametrize("override, message", [
    ("algo.gamma=1.5", "algo.gamma must be in (0, 1], got 1.5"),
    ("algo.clip=0", "algo.clip must be in (0, 1), got 0"),
    ("env.physics_dt=0", "env.physics_dt must be positive, got 0"),
    ("env.num_envs=0", "env.num_envs must be positive, got 0"),
    ("iterations=-3", "iterations must be non-negative, got -3"),
    ("checkpoint_every=0", "checkpoint_every must be positive, got 0"),
    ("eval_flow_steps=1000", "eval_flow_steps must be 1 to 256 Euler steps"),
    ("env.randomize.friction=[0,1]", "env.randomize.friction must be positive, got (0.0, 1.0)"),
    ("teacher.fall_distance=-1", "teacher.fall_distance must be positive, got -1")])
def test_every_setting_is_checked_at_composition_naming_its_key(override: str, message: str) -> None:
    """Each used to pass composition and fail later (algo.lr=-1 after 26 s, without the key) or never."""
    with pytest.raises(ValueError, match=re.escape(message)):
        run_config.check_config(run_config.compose([override])[0])


def test_resume_refuses_a_changed_run_in_one_line_naming_the_setting(tmp_path) -> None:
    """`resume=RUN algo=ppo` said 'expected a AlgoConfig mapping'; `resume=RUN env.num_envs=8` failed
    after 25 s as a JAX broadcast error. What may change still does."""
    run_config.write_config(run_config.compose([])[0], tmp_path)
    for override, message in (("algo=ppo", "algo=ppo: the algo group cannot change on resume"),
                              ("env.num_envs=8", f"env.num_envs cannot change on resume ({tmp_path} was made "
                                                 f"with 64)"),
                              ("algo.actor.hidden=[8]", "algo.actor.hidden cannot change on resume"),
                              ("algo.n_mc=2", "algo.n_mc cannot change on resume")):
        with pytest.raises(ValueError, match=re.escape(message)):
            run_config.compose([f"resume={tmp_path}", override])
    cfg, _ = run_config.compose([f"resume={tmp_path}", "iterations=7", "wandb.mode=offline", "env.num_envs=64"])
    assert cfg.iterations == 7 and cfg.wandb.mode == "offline"


def test_train_on_a_cuda_device_without_cuda_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    """`train device=cuda` on a CPU-only machine was a 38-line traceback."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "device=cuda", f"motions.path={tmp_path / 'none'}", f"run_dir={tmp_path / 'run'}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: device cuda requested but torch sees no CUDA device (torch ") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
TIMINGS = ("_s", "seconds", "steps_per_s", "eval/share")


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not any(t in k for t in TIMINGS)} for r in rows]


def test_interrupted_run_resumes_to_the_uninterrupted_end(tracking_library, tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C before the first checkpoint, then after iteration 1 (one line, code 130, the command that
    continues); resume= starts the first over in place and continues the second from the checkpoint
    written after the prior, to the eval.json and metrics of a run never interrupted."""
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    cfg = lambda run: tiny_train_config(library_file, run, iterations=2, eval_every=1,
                                        checkpoint_every=10, prior=PriorConfig(steps=20, batch=16))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train.build_trainer(cfg(whole), whole).run()

    def interrupt():
        raise KeyboardInterrupt

    trainer = train.build_trainer(cfg(cut), cut)
    monkeypatch.setattr(trainer, "fit_prior", interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert (cut / "config.yaml").exists() and not (cut / "checkpoint.pt").exists()
    assert train.interrupted(cut, 0) == (f"interrupted at iteration 0: no checkpoint yet in {cut}; start it "
                                         f"over with: humanoid-fpo train resume={cut}")

    iterate = train.Trainer.train_iteration

    def ctrl_c_in_the_physics(x):  # where Ctrl-C lands most: the native engine's callback into MuJoCo
        raise KeyboardInterrupt

    def interrupted_after_the_first(self) -> dict:
        if self.iteration == 1:  # JAX raises an error of its own, naming the KeyboardInterrupt
            jax.jit(lambda x: jax.pure_callback(ctrl_c_in_the_physics, jax.ShapeDtypeStruct((), "float32"), x))(1.0)
        return iterate(self)

    monkeypatch.setattr(train.Trainer, "train_iteration", interrupted_after_the_first)
    capsys.readouterr()
    assert main(["train", f"resume={cut}"]) == 130
    out, err = capsys.readouterr()
    assert f"{cut}: stopped before its first checkpoint; starting the run over in place" in out
    assert err == (f"interrupted at iteration 1: checkpoint at iteration 0 in {cut}; continue with: "
                   f"humanoid-fpo train resume={cut}\n")
    assert torch.load(cut / "checkpoint.pt", weights_only=False)["prior"]["prior/samples"] > 0

    monkeypatch.setattr(train.Trainer, "train_iteration", iterate)
    assert main(["train", f"resume={cut}"]) == 0
    assert (cut / "eval.json").read_text() == (whole / "eval.json").read_text()
    rows = lambda run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert untimed(rows(cut)) == untimed(rows(whole))


def test_best_checkpoint_beside_the_last(tracking_library, tmp_path, capsys) -> None:
    """best.pt is the in-run evaluation with the highest success rate (ties: frames), the first
    evaluation counting; eval --checkpoint best loads it and says so in its first line."""
    library_file = tmp_path / "library.npz"
    save_library(tracking_library, library_file)
    run_dir = tmp_path / "run"
    trainer = train.build_trainer(tiny_train_config(library_file, run_dir, iterations=2, eval_every=1), run_dir)
    scores = iter([(0.5, 10.0), (0.5, 12.0), (0.25, 40.0)])  # iterations 0, 1, 2: the best is at 1

    def evaluate(every_clip: bool = False) -> dict:
        success, frames = next(scores)
        return {"eval/success_rate": success, "eval/frames": frames}

    trainer.evaluate = evaluate
    trainer.run()
    best = torch.load(run_dir / "best.pt", weights_only=False)
    assert best["iteration"] == 1 and best["eval"] == {"success_rate": 0.5, "frames": 12.0}
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iteration"] == 2
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--checkpoint", "best", "-o", str(tmp_path / "eval")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"evaluating {run_dir / 'best.pt'} (the best in-run evaluation: success 0.50, "
                     f"12.0 frames; iteration 1)")
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["iteration"] == 1
