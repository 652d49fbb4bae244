"""`humanoid-fpo eval`, `export` and `render` on a run folder, the protocol's modes, and bad input.

The run uses the evaluation-protocol env over the test library (conftest.tiny_train_config), so the
rollouts here reuse test_env.py's compiled step.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import imageio.v2 as imageio
import jax
import numpy as np
import pytest
import yaml

from humanoid_fpo.run import checkpoint
from humanoid_fpo.run import train
from humanoid_fpo.cli import main
from humanoid_fpo.evaluate import evaluate_clips, record_clip, standing_still
from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.motion.library import load_library, save_library
from humanoid_fpo.view.render import FAILED_RGB, render_frames
from humanoid_fpo.sim.config import MODES, TerrainConfig
from humanoid_fpo.sim.env import eval_config, make_env, reset, step
from humanoid_fpo.sim.observations import goal_masks
from humanoid_fpo.sim.terrain import at_level


@pytest.fixture(scope="module")
def trained(run_dir: Path):
    trained = checkpoint.load_trained(run_dir)
    return trained, make_env(eval_config(trained.cfg.env, trained.library.num_clips), trained.library)


def test_clips_played_in_batches_score_as_all_at_once(trained) -> None:
    """An env of 8 envs plays the 37 clips in batches of similar length (the last one filled up with
    copies): every clip's figures as with one env per clip; a subset reports only its clips."""
    from humanoid_fpo.evaluate import batches

    policy, env = trained
    small = make_env(eval_config(policy.cfg.env, 8), policy.library)
    lengths = np.asarray(policy.library.clip_length)
    parts = batches(lengths, np.arange(len(lengths)), 8)
    full, rest = divmod(len(lengths), 8)
    assert [real for _, real in parts] == [8] * full + [rest] * (rest > 0)
    assert all(lengths[b[:real]].min() >= lengths[n[:r]].max() for (b, real), (n, r) in zip(parts, parts[1:]))
    everything = evaluate_clips(env, policy.learner.eval_action, jax.random.key(0), "full")
    assert evaluate_clips(small, policy.learner.eval_action, jax.random.key(0), "full") == everything
    subset = evaluate_clips(small, policy.learner.eval_action, jax.random.key(0), "full", clips=[3, 1])
    assert list(subset["clips"]) == [env.library.clip_names[3], env.library.clip_names[1]]
    assert subset["clips"] == {name: everything["clips"][name] for name in subset["clips"]}


def test_the_training_subset_spreads_over_clip_lengths() -> None:
    from humanoid_fpo.evaluate import eval_clip_count, stratified_clips

    lengths = np.array([100, 10, 50, 30, 80, 20, 60, 90])
    picked = stratified_clips(lengths, 4)
    assert picked.tolist() == sorted(picked.tolist()) and len(set(picked)) == 4
    assert sorted(lengths[picked].tolist()) == [20, 50, 80, 100]  # every other clip by length
    assert stratified_clips(lengths, 20).tolist() == list(range(8))
    assert eval_clip_count(lengths, 2000) == 1 and eval_clip_count(lengths, 4 * 55 * 20) == 4
    assert eval_clip_count(lengths, 10 ** 9) == 8


def test_modes_given_at_reset_mask_the_goal_across_restarts(trained) -> None:
    policy, env = trained
    modes = np.arange(env.num_envs) % len(MODES)
    state = reset(env, jax.random.key(0), np.arange(env.num_envs), modes)
    goal = env.layout["goal"]
    for _ in range(12):  # past the first failures, which restart their clip
        goals = np.asarray(state.obs)[:, goal].reshape(env.num_envs, 24, -1)
        for m, mask in enumerate(goal_masks()):
            seen = goals[modes == m]
            assert (seen[:, mask == 0] == 0).all() and (seen[:, mask == 1] != 0).any(), MODES[m]
        state = step(env, state, to_jax(policy.learner.eval_action(to_torch(state.obs))))
    assert np.asarray(state.info["episode_length"]).min() < 11, "no env restarted"
    assert (np.asarray(state.episode.mode) == modes).all()


def test_protocol_figures(trained) -> None:
    policy, env = trained
    result = record_clip(env, policy.learner.eval_action, jax.random.key(0), 0, "hands")
    assert {k: v for k, v in result.items() if k not in ("qpos", "ref_qpos", "error")} == \
        evaluate_clips(env, policy.learner.eval_action, jax.random.key(0), "hands"), \
        "recording scores the same"
    assert 0 <= result["success_rate"] <= 1 and len(result["clips"]) == env.library.num_clips
    for name, length in zip(env.library.clip_names, env.library.clip_length):
        clip = result["clips"][name]
        assert 1 <= clip["frames"] <= length - 1
        assert not clip["success"] or clip["frames"] == length - 1, "a success plays the clip to its end"
        assert clip["g_mpjpe_mm"] > 0 and clip["accel_mm"] > 0
    first = result["clips"][env.library.clip_names[0]]
    assert result["qpos"].shape == result["ref_qpos"].shape == (first["frames"] + 1, env.mj_model.nq)
    lib = env.library
    np.testing.assert_allclose(result["ref_qpos"][:, 7:], lib.qpos[:first["frames"] + 1, 7:], atol=1e-5)


def test_standing_still_completes_the_clips_whose_reference_stays_within_the_failure_rule(trained) -> None:
    """A clip whose bodies stay in their first pose passes for a still humanoid; one that walks off at
    3 cm a frame leaves it at the 17th (0.51 m > 0.5 m). Each result separates the clips that need
    motion from the others."""
    from dataclasses import replace

    policy, env = trained
    lib = env.library
    pos = np.array(lib.body_pos)
    (s0, s1), (n0, n1) = lib.clip_start[:2], lib.clip_length[:2]
    pos[s0:s0 + n0] = pos[s0]
    pos[s1:s1 + n1] = pos[s1] + 0.03 * np.arange(n1)[:, None, None] * np.array([1.0, 0.0, 0.0])
    frames, completed = standing_still(replace(lib, body_pos=pos))
    assert (frames[0], completed[0]) == (n0 - 1, True) and (frames[1], completed[1]) == (17, False)
    result = evaluate_clips(env, policy.learner.eval_action, jax.random.key(0), "full")
    frames, completed = standing_still(lib)
    moving = [c for c, still in zip(result["clips"].values(), completed) if not still]
    assert moving, "the test library has clips that need motion (walk)"
    assert [c["still_frames"] for c in result["clips"].values()] == frames.tolist()
    assert result["still_rate"] == completed.mean()
    assert result["moving_success_rate"] == np.mean([c["success"] for c in moving])
    assert result["frames_past_still"] == np.mean([c["frames"] - c["still_frames"] for c in moving])


def test_play_on_keeps_the_figures_and_plays_a_failed_clip_to_its_end(trained) -> None:
    policy, env = trained
    stop = record_clip(env, policy.learner.eval_action, jax.random.key(0), 0, "full")
    on = record_clip(env, policy.learner.eval_action, jax.random.key(0), 0, "full", play_on=True)
    assert on["clips"] == stop["clips"], "the figures stop at the failure either way"
    frames, length = stop["clips"][env.library.clip_names[0]]["frames"], env.library.clip_length[0]
    assert frames < length - 1, "the fixture's policy fails"
    assert len(stop["qpos"]) == frames + 1 and len(on["qpos"]) == len(on["error"]) == length
    np.testing.assert_allclose(on["qpos"][:frames + 1], stop["qpos"], atol=1e-6)
    np.testing.assert_allclose(on["ref_qpos"][:, 7:], env.library.qpos[:length, 7:], atol=1e-5)
    assert on["error"][frames] > 0.5 >= on["error"][:frames].max(), "fails where the error passes 0.5 m"


def test_eval_command_writes_the_flow_steps_table(run_dir: Path, capsys) -> None:
    out = run_dir / "grid"
    assert main(["eval", str(run_dir), "--modes", "full", "root", "--noise", "zero", "random",
                 "--flow-steps", "1", "2", "-o", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    results = saved["results"]
    assert [(r["mode"], r["noise"], r["flow_steps"]) for r in results][:3] == [
        ("full", "zero", 1), ("full", "zero", 2), ("full", "random", 1)]
    assert len(results) == 8 and saved["iteration"] == 0
    for r in results:
        assert set(r) >= {"success_rate", "g_mpjpe_mm", "mpjpe_mm", "accel_mm", "clips"}
        assert r["g_mpjpe_mm"] > 0 and r["accel_mm"] > 0
    by = {(r["mode"], r["noise"], r["flow_steps"]): r for r in results}
    assert by["full", "zero", 1]["g_mpjpe_mm"] != by["full", "random", 1]["g_mpjpe_mm"]  # x0 matters
    assert by["full", "zero", 1]["g_mpjpe_mm"] != by["root", "zero", 1]["g_mpjpe_mm"]  # the mask matters
    table = (out / "results.md").read_text()
    assert "| mode | x0 | K=1 | K=2 |" in table and "| root | random |" in table
    lengths = dict(zip(*(lambda lib: (lib.clip_names, lib.clip_length))(load_library(run_dir / "motions.npz"))))
    for (mode, noise, k), r in by.items():  # a row per clip under each setting
        block = table.split(f"Per clip ({mode} goals, x0 {noise}, K={k})\n")[1].split("\n\n")[0].strip()
        assert len(block.splitlines()) == 2 + len(r["clips"])
        for name, clip in r["clips"].items():
            still = "completes" if clip["still"] else clip["still_frames"]
            assert (f"| {name} | {'yes' if clip['success'] else 'no'} | {clip['frames']}/{lengths[name]} | "
                    f"{clip['g_mpjpe_mm']:.1f} | {still} |") in block
    printed = capsys.readouterr().out
    assert printed.startswith(f"evaluating {run_dir / 'checkpoint.pt'} (iteration 0)\n")
    assert "Success rate vs flow steps" in printed and "Per clip (root goals, x0 random, K=2)" in printed
    # the run trained on full goals: root's figures are of a mode it never saw, and it says so
    assert "note: this run trained on full goals only; root was never trained" in printed


def test_export_and_render_commands(run_dir: Path, tmp_path: Path) -> None:
    assert main(["export", str(run_dir / "checkpoint.pt"), "-o", str(tmp_path / "onnx")]) == 0
    assert {p.name for p in (tmp_path / "onnx").iterdir()} == {"policy.onnx", "velocity.onnx"}
    video = tmp_path / "stand.mp4"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["render", str(run_dir), "--clip", "stand", "-o", str(video), "--width", "96",
                     "--height", "64"]) == 0
    assert not [w for w in caught if "os.fork()" in str(w.message)], "ffmpeg's fork+exec is not JAX's concern"
    with warnings.catch_warnings():  # reading it back starts ffmpeg too (fork, exec)
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        frames = imageio.mimread(video)
    assert len(frames) >= 2 and frames[0].shape == (64, 96, 3)
    sheet = tmp_path / "stand.png"
    assert main(["render", str(run_dir), "--clip", "stand", "-o", str(sheet), "--height", "64",
                 "--continue"]) == 0
    tiles = imageio.imread(sheet).reshape(2, 64, 4, 42, 3).transpose(0, 2, 1, 3, 4).reshape(8, 64, 42, 3)
    red = np.abs(tiles[:, -1, -1].astype(int) - FAILED_RGB).max(-1) < 30  # a red border: failed by then
    assert not red[0] and red[-1], "the first frame tracks, the last is past the failure"


def test_ghost_is_drawn(trained) -> None:
    _, env = trained
    lib = env.library
    qpos = np.asarray(lib.qpos[:1], float)
    ghost = qpos.copy()
    ghost[:, 0] += 0.8  # the reference beside the humanoid
    plain = render_frames(env.mj_model, qpos, 96, 64)
    with_ghost = render_frames(env.mj_model, qpos, 96, 64, ghost=ghost)
    assert np.abs(plain.astype(int) - with_ghost).sum() > 0


def test_bad_input_is_named_and_writes_nothing(run_dir: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns("grid"))
    config = yaml.safe_load((other / "config.yaml").read_text())
    config["algo"]["actor"]["hidden"] = [64]
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    for command in (["eval", str(other)], ["export", str(other)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert f"{other / 'checkpoint.pt'}: checkpoint from another config: algo.actor" in err
    assert sorted(p.name for p in other.iterdir()) == sorted(
        p.name for p in run_dir.iterdir() if p.name != "grid"), "nothing was written"

    lib = load_library(run_dir / "motions.npz")
    foreign = tmp_path / "foreign.npz"
    save_library(type(lib)(**{**lib.__dict__, "body_names": tuple(f"b{i}" for i in range(24))}), foreign)
    assert main(["eval", str(run_dir), "--motions", str(foreign), "-o", str(tmp_path / "out")]) == 1
    assert f"{foreign}: made for another humanoid" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_inspect_draws_flow_and_gaussian_samples_side_by_side(run_dir: Path, tmp_path: Path, capsys) -> None:
    from dataclasses import replace

    cfg = checkpoint.load_trained(run_dir).cfg
    gaussian = tmp_path / "gaussian"
    train.build_trainer(replace(cfg, algo=replace(cfg.algo, policy="gaussian"), run_dir=str(gaussian)),
                  gaussian).save_checkpoint()
    out = tmp_path / "actions.png"
    assert main(["inspect", str(run_dir), str(gaussian), "--clip", "stand", "--frame", "3", "--mode", "root",
                 "--samples", "64", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if "(flow" in line or "(gaussian" in line]
    assert [r[1] for r in rows] == ["(flow,", "(gaussian,"]
    assert all(float(r[4]) > 0 for r in rows), "samples differ"
    assert imageio.imread(out).shape[1] > imageio.imread(out).shape[0], "two columns"
    assert main(["inspect", str(run_dir), "--clip", "stand", "--frame", "999", "-o", str(out)]) == 1
    assert "frame 999 is outside clip 'stand'" in capsys.readouterr().err
    assert main(["inspect", str(run_dir), "--clip", "stand", "--frame", "1", "--joints", "L_Hip_y", "Tail",
                 "-o", str(out)]) == 1
    assert "no joint 'Tail'" in capsys.readouterr().err


def test_bimodality_tells_one_mode_from_two() -> None:
    from humanoid_fpo.view.inspect import bimodality

    rng = np.random.default_rng(0)
    one = rng.normal(size=4000)
    two = np.concatenate([rng.normal(-3, 1, 2000), rng.normal(3, 1, 2000)])
    assert abs(bimodality(one) - 1 / 3) < 0.03 and bimodality(two) > 0.56


def test_eval_on_several_tile_types_gives_figures_per_tile(run_dir: Path, capsys) -> None:
    """`eval --terrain rough,steps`: each tile type is evaluated on its own, and every row names its tile."""
    out = run_dir / "tiles"
    assert main(["eval", str(run_dir), "--terrain", "flat,steps", "--terrain-level", "4", "--terrain-seed",
                 "12345", "-o", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert [r["tile"] for r in saved["results"]] == ["flat", "steps"]
    assert saved["terrain"] == {"types": ["flat", "steps"], "seed": 12345, "levels": 1, "level": 4}
    printed = capsys.readouterr().out
    assert "| tile | mode | x0 | K=2 |" in printed and "| steps | full | zero | 2 |" in printed


def test_eval_names_each_setting_and_builds_its_ground() -> None:
    """`eval`'s folder name grows by every setting away from the run's, and its ground is the run's
    terrain with the tiles, seed and fixed level asked for."""
    from humanoid_fpo.evaluate import EvalOptions, eval_name, eval_terrain

    assert eval_name(EvalOptions(), ["full"], ["zero"], [10]) == "motions-full-zero-K10"
    options = EvalOptions(Path("asap.npz"), ("flat", "steps"), 7, 2, "native", True)
    assert eval_name(options, ["full", "root"], ["zero", "random"], [1, 2], seed=3) == (
        "asap-full+root-zero+random-K1+2-terrain-flat+steps-seed7-level2-native-evalseed3-randomised")
    run = TerrainConfig(types=("rough",), num_levels=5)
    assert eval_terrain(run, EvalOptions()) == run
    ground = eval_terrain(run, options, ("steps",))
    assert (ground.types, ground.seed, ground.num_levels) == (("steps",), 7, 1)
    assert ground.step_height == at_level(run, 2).step_height


def test_terrain_at_a_fixed_level() -> None:
    cfg = TerrainConfig(types=("rough", "steps"), num_levels=5)
    hardest = at_level(cfg, 4)
    assert hardest.num_levels == 1 and hardest.rough_amplitude == (0.05, 0.05)
    assert at_level(cfg, 2).step_height == pytest.approx((0.07, 0.07)) and not hardest.curriculum
    with pytest.raises(ValueError, match="level 5 outside 0..4"):
        at_level(cfg, 5)


@pytest.mark.parametrize("damage, problem", [
    ("missing", "no such run folder or checkpoint"),
    ("config: [", "config.yaml: damaged YAML"),
    ("", "config.yaml: not a run config (expected a mapping of settings, got NoneType)"),
    ("no motions", "motions.npz: missing, the run's motion library (evaluate, render or play on clips of "
                   "your own with --motions PATH"),
])
def test_a_damaged_run_folder_is_a_one_line_error(run_dir: Path, tmp_path: Path, capsys, damage: str,
                                                  problem: str) -> None:
    """Each used to be a traceback (62 lines of YAML), a message without the file, or 'no checkpoint'."""
    copy = tmp_path / "run"
    if damage != "missing":
        shutil.copytree(run_dir, copy)
    if damage == "no motions":
        (copy / "motions.npz").unlink()
    elif damage != "missing":
        (copy / "config.yaml").write_text(damage)
    for command in (["eval", str(copy)], ["export", str(copy)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and problem in err and str(copy) in err, err


def test_export_to_an_unwritable_folder_is_a_sentence(run_dir: Path, capsys) -> None:
    """It used to print a bare errno ([Errno 2] No such file or directory: '/proc/x')."""
    assert main(["export", str(run_dir), "-o", "/proc/x"]) == 1
    assert capsys.readouterr().err == "error: /proc/x: cannot write in /proc (No such file or directory)\n"


def test_evaluations_with_other_settings_keep_each_others_results(run_dir: Path, tmp_path: Path, capsys) -> None:
    """Every eval used to overwrite RUN/eval/results.json, whatever its clips or settings."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("eval", "grid"))
    save_library(load_library(copy / "motions.npz"), tmp_path / "other.npz")
    assert main(["eval", str(copy)]) == 0
    first = copy / "eval" / "motions-full-zero-K2" / "results.json"
    assert f"wrote {first}" in capsys.readouterr().out
    before = first.read_text()
    assert main(["eval", str(copy), "--motions", str(tmp_path / "other.npz"), "--flow-steps", "1"]) == 0
    assert f"wrote {copy / 'eval' / 'other-full-zero-K1' / 'results.json'}" in capsys.readouterr().out
    assert first.read_text() == before


def test_randomised_eval_plays_the_protocol_under_the_runs_physics_ranges(trained, run_dir: Path) -> None:
    """`eval --randomised`: the protocol env takes the run's env.randomize (each clip's friction, masses
    and gains drawn from the training ranges); without it the physics is nominal. Its results get a
    folder of their own."""
    from dataclasses import replace

    from humanoid_fpo.cli import _options, build_parser
    from humanoid_fpo.evaluate import eval_env, eval_name
    from humanoid_fpo.sim.config import RandomizeConfig
    from humanoid_fpo.sim.randomize import NONE

    policy = checkpoint.load_trained(run_dir)
    ranges = RandomizeConfig(friction=(0.5, 1.5), mass=(0.9, 1.1), kp=None, kv=None)
    policy = replace(policy, cfg=replace(policy.cfg, env=replace(policy.cfg.env, randomize=ranges)))
    for flags, expected in (([], NONE), (["--randomised"], ranges)):
        args = build_parser().parse_args(["eval", str(run_dir), *flags])
        assert eval_env(policy, _options(args)).cfg.randomize == expected
    assert eval_name(_options(args), ["full"], args.noise, [2]) == "motions-full-zero-K2-randomised"


def test_ctrl_c_during_eval_is_one_line_and_code_130(run_dir: Path, tmp_path: Path) -> None:
    """SIGINT a few seconds into `humanoid-fpo eval` (loading, compiling or playing): one line on stderr,
    exit code 130, no traceback and no crash in the teardown (a segfault once, rc -11)."""
    script = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "from humanoid_fpo.cli import main\nmain()")
    command = [sys.executable, "-c", script, "eval", str(run_dir), "-o", str(tmp_path / "eval")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ | {"PYTHONUNBUFFERED": "1"})
    assert child.stdout.readline().startswith("evaluating "), child.stderr.read()
    time.sleep(3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err
    assert err == "interrupted: eval did not finish; its files are written whole or not at all\n"
    assert not (tmp_path / "eval" / "results.json").exists()
