"""deploy/: the numpy + onnxruntime controller and the native-MuJoCo sim-to-sim check.

The controller's observation must be the env's to float32 precision, so a policy trained in MJX
sees the same numbers on the robot. The env here is the evaluation-protocol env of test_env.py and
test_train.py, reset as evaluation resets it: no new compile of the env step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import mujoco
import numpy as np
import onnx
import pytest
import torch

from humanoid_fpo.export import export
from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.motion.library import save_library
from humanoid_fpo.sim.config import MODES, EnvConfig
from humanoid_fpo.sim.env import eval_config, make_env, observe_states, reference, reset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))

import controller as deploy  # noqa: E402
import sim2sim  # noqa: E402

TINY = NetConfig((32,))


@pytest.fixture(scope="module")
def env(tracking_library):
    return make_env(eval_config(EnvConfig(), tracking_library.num_clips), tracking_library)


@pytest.fixture(scope="module")
def state(env):
    """Every clip at frame 0, goal modes cycling over full, hands, root."""
    modes = np.arange(env.num_envs) % len(MODES)
    return reset(env, jax.random.key(0), np.arange(env.num_envs), modes)


@pytest.fixture(scope="module")
def policy_file(env, tmp_path_factory) -> Path:
    """policy.onnx of a tiny random flow policy, with the metadata of the default env config."""
    torch.manual_seed(0)
    learner = Learner(AlgoConfig(actor=TINY, critic=TINY, flow_steps=2), env.obs_size, env.obs_size,
                      env.action_size)
    out = tmp_path_factory.mktemp("export")
    export(learner, EnvConfig(), out)
    return out / "policy.onnx"


@pytest.fixture(scope="module")
def library_file(tracking_library, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("motions") / "library.npz"
    save_library(tracking_library, path)
    return path


def random_states(env, state, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """qpos (N, nq), qvel (N, nv) near each env's reference: hinges ±0.3 rad, a random heading and
    tilt, the root a few cm off, random velocities."""
    rng = np.random.default_rng(seed)
    ref = reference(env, state.episode, state.episode.step)
    qpos = np.array(ref.qpos, dtype=np.float64)
    n = len(qpos)
    qpos[:, :3] += rng.normal(0.0, 0.05, (n, 3))
    qpos[:, 7:] += rng.normal(0.0, 0.3, (n, qpos.shape[1] - 7))
    yaw = deploy.yaw_quat(rng.uniform(-np.pi, np.pi, n))
    tilt = deploy.axis_angle_quat(np.array([1.0, 0.0, 0.0]), rng.normal(0.0, 0.3, n))
    qpos[:, 3:7] = deploy.quat_mul(yaw, deploy.quat_mul(qpos[:, 3:7], tilt))
    qvel = rng.normal(0.0, 1.0, (n, env.mj_model.nv))
    return qpos.astype(np.float32), qvel.astype(np.float32)


def goal_bodies(env, state) -> deploy.Bodies:
    frame = reference(env, state.episode, state.episode.step + 1)
    return deploy.Bodies(*(np.asarray(x, np.float64) for x in
                           (frame.body_pos, frame.body_quat, frame.body_lin_vel, frame.body_ang_vel)))


def test_numpy_observation_matches_the_env(env, state, policy_file) -> None:
    meta = deploy.Policy(policy_file).meta
    assert meta.body_names == tuple(env.mj_model.body(b).name for b in range(1, env.mj_model.nbody))
    modes = np.asarray(state.episode.mode)
    goal = goal_bodies(env, state)
    worst = 0.0
    for seed in range(2):
        qpos, qvel = random_states(env, state, seed)
        actor, _ = observe_states(env, state.episode, qpos, qvel)
        body = deploy.forward_kinematics(meta.kinematics, qpos, qvel)
        data = mujoco.MjData(env.mj_model)
        for i in range(len(qpos)):
            data.qpos[:] = qpos[i]
            mujoco.mj_kinematics(env.mj_model, data)
            np.testing.assert_allclose(body.pos[i], data.xpos[1:], atol=1e-9)
        for m, mode in enumerate(MODES):
            pick = modes == m
            assert pick.any()
            ours = deploy.observe(meta, deploy.Bodies(*(x[pick] for x in body)),
                                  deploy.Bodies(*(x[pick] for x in goal)), mode)
            theirs = np.asarray(actor)[pick]
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=f"mode {mode}")
            worst = max(worst, float(np.abs(ours - theirs).max()))
    print(f"largest numpy-vs-env observation difference: {worst:.2e}")


def test_sim2sim_runs_a_clip_and_starts_from_the_env_observation(env, state, policy_file, library_file,
                                                                 tmp_path) -> None:
    clip = env.library.clip_names.index("stand")
    mode = MODES[int(state.episode.mode[clip])]
    controller = deploy.Controller(policy_file, mode)
    lib = sim2sim.load_library(library_file, controller.meta)
    run = sim2sim.run_clip(sim2sim.make_model(controller.meta), controller, lib, clip)
    np.testing.assert_allclose(run.obs[0], np.asarray(state.obs[clip]), rtol=0, atol=1e-5)
    assert len(run.qpos) == run.figures["frames"] + 1 == len(run.obs) + 1
    targets, action = controller.act(lib.qpos[0], lib.qvel[0], lib.frame(1))
    assert targets.shape == action.shape == (env.action_size,)

    out = tmp_path / "stand.json"
    assert sim2sim.main([str(policy_file), str(library_file), "--clip", "stand", "--mode", mode,
                         "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["clips"]) == {"stand"}
    assert result["clips"]["stand"].keys() == {"success", "frames", "g_mpjpe_mm", "mpjpe_mm", "accel_mm"}
    figures = [result[k] for k in ("success_rate", "g_mpjpe_mm", "mpjpe_mm", "accel_mm")]
    assert np.isfinite(figures).all() and 1 <= result["clips"]["stand"]["frames"] <= lib.clip_length[clip] - 1
    assert result["clips"]["stand"] == run.figures  # deterministic: x0 = 0


def test_bad_inputs_are_named(policy_file, library_file, tmp_path) -> None:
    bare = onnx.load(str(policy_file))
    del bare.metadata_props[:]
    bare_file = tmp_path / "bare.onnx"
    onnx.save(bare, str(bare_file))
    with pytest.raises(ValueError, match=f"{bare_file}.*no humanoid_fpo metadata"):
        deploy.Controller(bare_file)
    with pytest.raises(ValueError, match="missing.onnx"):
        deploy.Controller(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="unknown conditioning mode"):
        deploy.Controller(policy_file, "feet")

    arrays = dict(np.load(library_file, allow_pickle=False))
    variants = {"narrow": {"qpos": arrays["qpos"][:, :-3]},
                "renamed": {"body_names": np.array(["Root", *arrays["body_names"][1:]])},
                "slow": {"fps": np.array(60.0)},
                "nan": {"body_pos": np.where(np.arange(len(arrays["qpos"]))[:, None, None] == 5, np.nan,
                                             arrays["body_pos"])}}
    out = tmp_path / "out.json"
    for name, change in variants.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **(arrays | change))
        with pytest.raises(ValueError, match=str(path)):
            sim2sim.evaluate(policy_file, path)
        assert sim2sim.main([str(policy_file), str(path), "--json", str(out)]) == 1
    with pytest.raises(ValueError, match="physics_dt 0.01 s does not divide"):
        sim2sim.evaluate(policy_file, library_file, ["stand"], physics_dt=0.01)
    with pytest.raises(ValueError, match="no clip named dance"):
        sim2sim.evaluate(policy_file, library_file, ["dance"])
    assert sim2sim.main([str(policy_file), str(library_file), "--clip", "dance", "--json", str(out)]) == 1
    assert not out.exists()
    cut = tmp_path / "cut.npz"  # a damaged library was a zipfile.BadZipFile traceback
    cut.write_bytes(library_file.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{cut}: not a readable motion library"):
        sim2sim.evaluate(policy_file, cut)
    velocity = policy_file.parent / "velocity.onnx"  # was onnxruntime's input-feed error
    with pytest.raises(ValueError, match=f"{velocity}: not a policy .*not velocity.onnx"):
        sim2sim.evaluate(velocity, library_file)


def test_act_names_a_bad_input_and_its_expected_shape(policy_file, library_file) -> None:
    """Was: NaN targets from a NaN qpos, a bare AssertionError ((70,), (75,)), a numpy broadcast error."""
    controller = deploy.Controller(policy_file)
    lib = sim2sim.load_library(library_file, controller.meta)
    qpos, qvel, goal = lib.qpos[0], lib.qvel[0], lib.frame(1)
    nq, nv = len(qpos), len(qvel)
    qpos_nan, qvel_inf = qpos.copy(), qvel.copy()
    qpos_nan[3] = np.nan
    qvel_inf[[3, 4]] = np.inf
    ten_bodies = goal._replace(pos=goal.pos[:10])
    no_rotation = qpos.copy()
    no_rotation[3:7] = 0.0
    bad = {"qpos holds NaN or inf at indices [3]": (qpos_nan, qvel, goal),
           f"qpos must have shape ({nq},), got (70,)": (qpos[:70], qvel, goal),
           f"qvel must have shape ({nv},), got ({nv - 1},)": (qpos, qvel[1:], goal),
           "qvel holds NaN or inf at indices [3, 4]": (qpos, qvel_inf, goal),
           "goal.pos must have shape (24, 3), got (10, 3)": (qpos, qvel, ten_bodies),
           "qpos[3:7], the root quaternion, is zero": (no_rotation, qvel, goal)}
    for message, inputs in bad.items():
        with pytest.raises(deploy.SensorError, match=re.escape(message)):
            controller.act(*inputs)
    with pytest.raises(deploy.SensorError, match=re.escape(f"x0 must have shape ({nq - 7},), got (3,)")):
        controller.act(qpos, qvel, goal, x0=np.zeros(3))
    batch = np.stack([qpos, qpos])
    with pytest.raises(deploy.SensorError, match=re.escape(f"qvel must have shape (2, {nv}), got ({nv},)")):
        controller.act(batch, qvel, goal)
    assert issubclass(deploy.SensorError, ValueError)


def test_hold_mode_keeps_the_last_good_targets_and_flags_the_step(policy_file, library_file) -> None:
    controller = deploy.Controller(policy_file, on_bad_input="hold")
    meta = controller.meta
    lib = sim2sim.load_library(library_file, meta)
    qpos, qvel, goal = lib.qpos[0], lib.qvel[0], lib.frame(1)
    qpos_nan = qpos.copy()
    qpos_nan[10] = np.nan

    targets, action = controller.act(qpos_nan, qvel, goal)  # before any good step: the default pose
    np.testing.assert_array_equal(targets, meta.action_offset)
    np.testing.assert_array_equal(action, np.zeros(meta.action_size))
    assert isinstance(controller.last_error, deploy.SensorError)

    good_targets, good_action = controller.act(qpos, qvel, goal)
    assert controller.last_error is None and np.isfinite(good_targets).all()
    assert np.abs(good_targets - meta.action_offset).max() > 0, "the policy acted"

    targets, action = controller.act(qpos_nan, qvel, goal)
    np.testing.assert_array_equal(targets, good_targets)
    np.testing.assert_array_equal(action, good_action)
    assert "qpos holds NaN or inf at indices [10]" in str(controller.last_error)
    targets[:] = 0.0  # the caller's copy
    np.testing.assert_array_equal(controller.act(qpos[:70], qvel, goal)[0], good_targets)
    assert "qpos must have shape" in str(controller.last_error)
    with pytest.raises(ValueError, match="on_bad_input must be one of raise, hold"):
        deploy.Controller(policy_file, on_bad_input="ignore")


def test_deploy_imports_nothing_from_the_package() -> None:
    """deploy/ ships to the robot alone: numpy, onnxruntime, mujoco (imageio only for videos)."""
    code = ("import sys; sys.path.insert(0, 'deploy'); import sim2sim; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('humanoid_fpo', 'jax', 'torch', "
            "'imageio')); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_damaged_metadata_names_the_file_and_the_key(tmp_path) -> None:
    """Damaged JSON in `kp` said 'Expecting value: line 1 column 6', naming neither."""
    from humanoid_fpo.export import deploy_metadata

    props = deploy_metadata(EnvConfig(), "flow", 0.05, 2) | {"kp": "[800, ,1]"}
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'p.onnx'}: metadata 'kp' is damaged "
                                                   "(Expecting value at character 6)")):
        deploy.parse_metadata(props, tmp_path / "p.onnx")


@pytest.mark.parametrize("argv, message", [
    (["--json", "DIR"], "error: DIR: is a folder; name a file in it"),
    (["--video", "DIR/run.gif"], "error: DIR/run.gif: expected a .mp4 file"),
    (["--physics-dt", "0"], "argument --physics-dt: expected a positive number of seconds, got '0'")])
def test_sim2sim_checks_its_arguments_before_the_run(argv, message, tmp_path, capsys) -> None:
    """`--json DIR` was a traceback after the whole run; `--physics-dt 0` a ZeroDivisionError."""
    argv = [a.replace("DIR", str(tmp_path)) for a in argv]
    try:
        code = sim2sim.main([str(tmp_path / "missing.onnx"), str(tmp_path / "missing.npz"), *argv])
    except SystemExit as e:
        code = e.code
    assert code in (1, 2) and message.replace("DIR", str(tmp_path)) in capsys.readouterr().err.splitlines()[-1]
