"""The teacher: it tracks further than the open-loop reference targets, deterministically; its
demonstrations file round-trips and a damaged one is refused naming it; `teach` resumes per clip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from humanoid_fpo.cli import main as cli_main
from humanoid_fpo.motion.library import save_library
from humanoid_fpo.motion.source import MotionFileError
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.env import mean_pose
from humanoid_fpo.teacher.config import TeacherConfig, check_teacher
from humanoid_fpo.teacher.demos import from_runs, load_demonstrations, save_demonstrations
from humanoid_fpo.teacher.mppi import ClipReference
from humanoid_fpo.teacher.teach import make_teacher, teach

FRAMES = 66  # of the built-in walk: the open-loop targets fall at frame 58
SMALL = TeacherConfig(samples=16, max_rewinds=0, retry_samples=0)


@pytest.fixture(scope="module")
def walk(tracking_library) -> ClipReference:
    ref = ClipReference.of(tracking_library, tracking_library.clip_names.index("walk"))
    return ClipReference(ref.name, ref.qpos[:FRAMES], ref.qvel[:FRAMES], ref.body_pos[:FRAMES])


@pytest.fixture(scope="module")
def env(tracking_library) -> EnvConfig:
    return replace(EnvConfig(), default_pose=mean_pose(tracking_library))


def test_the_teacher_tracks_further_than_open_loop_targets(walk, env) -> None:
    """Zero noise and one sample is the open-loop reference: it falls; 16 samples complete the part."""
    open_loop = make_teacher(env, replace(SMALL, samples=1, noise=0.0)).track(walk)
    teacher = make_teacher(env, SMALL)
    run = teacher.track(walk)
    assert not open_loop.success and open_loop.frames < FRAMES - 5
    assert run.success and run.frames == FRAMES - 1, (run.frames, open_loop.frames)
    assert run.g_mpjpe_mm < 80
    assert run.seconds < 60
    np.testing.assert_array_less(np.abs(run.action), 1.0 + 1e-9)  # the env's action range holds them
    again = teacher.track(walk)  # deterministic per seed
    np.testing.assert_array_equal(again.target, run.target)


def test_a_rewind_recovers_a_failure(walk, env) -> None:
    """Base settings without noise are the open-loop targets, which fall; the rewind re-plans the
    last 30 frames on the escalation's rung, with noise, and completes the part."""
    cfg = replace(SMALL, noise=0.0, max_rewinds=1, escalation=((18, 0.1),))
    run = make_teacher(env, cfg).track(walk)
    assert run.rewinds == 1 and run.level == 1
    assert run.success and run.frames == FRAMES - 1


def _controls(teacher, ref: ClipReference, samples: int, steps: int) -> np.ndarray:
    """(samples, steps, A) the reference's next joint angles, perturbed by 0.05 rad, within bounds."""
    noise = 0.05 * np.random.default_rng(0).standard_normal((samples, steps, teacher.model.nu))
    return np.clip(ref.qpos[1:steps + 1, 7:] + noise, teacher.low, teacher.high)


def test_the_native_rollout_is_mujocos_steps_in_float64(walk, env) -> None:
    """Engine.rollout on native: positions after each control step, exactly as MuJoCo C's own steps
    give them, in float64; a start row per sample is allowed, and a sample that blows up (NaN
    velocity: MuJoCo warns, resets and stops it) is flagged."""
    import mujoco

    teacher = make_teacher(env, SMALL)
    m, controls = teacher.model, _controls(teacher, walk, 3, 4)
    qvel = np.repeat(walk.qvel[:1], 3, 0)
    qvel[2, 3] = np.nan
    futures = teacher.engine.rollout(walk.qpos[0], qvel, np.zeros(m.nv), controls)
    assert futures.xpos.shape == (3, 4, m.nbody, 3) and futures.xpos.dtype == np.float64
    assert futures.failed.tolist() == [False, False, True]
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = walk.qpos[0], walk.qvel[0]
    for t in range(4):
        d.ctrl[:] = controls[0, t]
        mujoco.mj_step(m, d, nstep=env.decimation)
        mujoco.mj_kinematics(m, d)
        np.testing.assert_array_equal(futures.xpos[0, t], d.xpos)


def test_the_mjx_teacher_agrees_with_the_native_one(walk, env) -> None:
    """`teach env.backend=mjx` plans with MJX's rollouts (float32) where native plans with MuJoCo C's
    (float64). Off the ground the rollouts agree to float32 precision (measured 5e-7 m over 6 control
    steps); where the feet push on the ground the contact solvers part by millimetres within one
    control step (measured 2.1e-3 m from walk's first frame; cm after 6, as test_native.py's one
    control step of the env). MPPI's weighted average is smooth in the costs, so the first executed
    targets differ by 1.3e-4 rad and the protocol errors of the first two steps by 6e-7 and 4e-5 m
    (measured; both run the executed steps in MuJoCo C). Samples and horizon as small as MPPI means
    something with, and one shape throughout: MJX compiles its rollout once (minutes on a CPU)."""
    cfg = replace(SMALL, samples=4, horizon=6)
    native, mjx = make_teacher(env, cfg), make_teacher(replace(env, backend="mjx"), cfg)
    controls = _controls(native, walk, 4, 6)
    lifted = walk.qpos[0] + 0.3 * (np.arange(len(walk.qpos[0])) == 2)  # 0.3 m up: no contact in 0.2 s
    for qpos, atol in ((lifted, 2e-6), (walk.qpos[0], 1e-2)):
        start = (qpos, walk.qvel[0], np.zeros(native.model.nv))
        a, b = (t.engine.rollout(*start, controls) for t in (mjx, native))
        assert a.xpos.dtype == np.float32 and not a.failed.any() and not b.failed.any()
        steps = slice(None) if atol < 1e-3 else slice(0, 1)  # on the ground only the first control step
        np.testing.assert_allclose(a.xpos[:, steps], b.xpos[:, steps], atol=atol)
    a, b = (t.track(walk.part(0, 3)) for t in (mjx, native))
    np.testing.assert_allclose(a.target[0], b.target[0], atol=1e-3)
    np.testing.assert_allclose(a.error, b.error, atol=2e-4)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="multiple of teacher.knot_every"):
        check_teacher(TeacherConfig(horizon=20))
    with pytest.raises(ValueError, match="teacher.samples must be positive"):
        check_teacher(TeacherConfig(samples=0))


def _demos(walk, env):
    teacher = make_teacher(env, replace(SMALL, samples=1, noise=0.0))
    short = ClipReference(walk.name, walk.qpos[:8], walk.qvel[:8], walk.body_pos[:8])
    runs = [(0, 0, teacher.track(short)), (0, 1, teacher.track(short, run=1))]
    return from_runs(runs, ("walk",), "k", {"teacher": "x"})


def test_demonstrations_round_trip(walk, env, tmp_path) -> None:
    demos = _demos(walk, env)
    assert demos.steps == 14 and list(demos.run) == [0] * 7 + [1] * 7
    assert not np.array_equal(demos.qpos[0], demos.qpos[7])  # run 1 starts perturbed
    save_demonstrations(demos, tmp_path / "d.npz")
    back = load_demonstrations(tmp_path / "d.npz")
    for name, value in vars(demos).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
        else:
            assert getattr(back, name) == value


def test_a_damaged_demonstrations_file_is_refused(walk, env, tmp_path, tracking_library) -> None:
    path = tmp_path / "d.npz"
    save_demonstrations(_demos(walk, env), path)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:300])
    library = tmp_path / "library.npz"
    save_library(tracking_library, library)
    data = dict(np.load(path))
    data["qpos"] = data["qpos"][:-1]
    short = tmp_path / "short.npz"
    np.savez(short, **data)
    for bad, problem in ((cut, "damaged .npz"), (library, "not a demonstrations file"),
                         (short, "qpos has 13 rows, clip has 14")):
        with pytest.raises(MotionFileError, match=problem) as info:
            load_demonstrations(bad)
        assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_teach_resumes_per_clip_and_reuses_its_cache(tmp_path, tracking_library, env, capsys) -> None:
    """A finished run is not redone, a damaged one is; a finished library is reused whole."""
    lib = _two_short_clips(tracking_library)
    cfg = replace(SMALL, samples=2, horizon=6, knot_every=6, escalation=(), cache=str(tmp_path / "cache"))
    demos, path = teach(lib, env, cfg, log=lambda _: None)
    runs = sorted((path.parent / "runs").glob("*.npz"))
    assert len(runs) == 2 and demos.steps == int((lib.clip_length - 1).sum())
    path.unlink()
    runs[1].write_bytes(b"junk")
    lines = []
    again, _ = teach(lib, env, cfg, log=lines.append)
    assert "cached" in lines[1] and "cannot be read" in lines[2] and "cached" not in lines[3]
    np.testing.assert_array_equal(again.target, demos.target)
    lines.clear()
    teach(lib, env, cfg, log=lines.append)
    assert lines == [f"teach: reusing {path} (same library and teacher settings)"]


def test_teach_runs_a_failed_clip_again_with_more_samples(tmp_path, tracking_library, env) -> None:
    """One sample is the open-loop targets (sample 0 is the unperturbed plan), which fall on walk's
    first 66 frames; teach runs the clip again with retry_samples = 16 and keeps that run, which
    completes, with both runs' seconds."""
    lib = _two_short_clips(tracking_library, length=FRAMES)
    cfg = replace(SMALL, samples=1, retry_samples=16, cache=str(tmp_path / "cache"))
    open_loop = make_teacher(env, cfg).track(ClipReference.of(lib, lib.clip_names.index("walk")))
    assert not open_loop.success
    lines: list[str] = []
    demos, _ = teach(lib, env, cfg, log=lines.append)
    row = demos.first_runs()[0]
    assert demos.run_success[row] and demos.run_samples[row] == 16, demos.run_frames[row]
    assert demos.run_seconds[row] > open_loop.seconds
    assert any(f"failed at frame {open_loop.frames}; with 16 samples completed" in line for line in lines)


def test_teach_command_prints_the_table(tmp_path, tracking_library, capsys) -> None:
    lib = _two_short_clips(tracking_library)
    save_library(lib, tmp_path / "lib.npz")
    code = cli_main(["teach", str(tmp_path / "lib.npz"), "teacher.samples=2", "teacher.horizon=6",
                     "teacher.escalation=[]", f"teacher.cache={tmp_path / 'cache'}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "clip" in out and "completed" in out and "walk" in out and "squat" in out
    assert "of 2 clips" in out


def _two_short_clips(library, length: int = 6):
    """walk and squat cut to `length` frames each."""
    from humanoid_fpo.motion.library import MotionLibrary

    picks = [library.clip_names.index(n) for n in ("walk", "squat")]
    rows = np.concatenate([np.arange(library.clip_start[c], library.clip_start[c] + length) for c in picks])
    frame_fields = ("qpos", "qvel", "body_pos", "body_quat", "body_lin_vel", "body_ang_vel")
    return MotionLibrary(**{k: getattr(library, k)[rows] for k in frame_fields},
                         clip_start=np.array([0, length], np.int32), clip_length=np.array([length] * 2, np.int32),
                         fit_error=library.fit_error[picks], contact_error=library.contact_error[picks],
                         fps=library.fps, clip_names=("walk", "squat"),
                         clip_sources=tuple(library.clip_sources[c] for c in picks),
                         body_names=library.body_names)


def test_the_feasible_library_is_what_the_teacher_did(walk, env, model, tracking_library) -> None:
    """Clips the teacher ran become its run-0 states (their poses from MuJoCo kinematics), its other
    runs clips of their own; other clips stay."""
    from humanoid_fpo.teacher.demos import feasible_library

    lib = _two_short_clips(tracking_library)
    demos = _demos(walk, env)
    feasible = feasible_library(demos, lib, model)
    assert feasible.clip_names == (*lib.clip_names, "walk.run1")
    run1 = demos.run == 1
    np.testing.assert_allclose(feasible.qpos[:7], demos.qpos[~run1], atol=1e-6)  # walk: run 0's 7 states
    np.testing.assert_array_equal(feasible.qpos[7:13], lib.qpos[6:])  # the other clip as it was
    np.testing.assert_allclose(feasible.qpos[13:], demos.qpos[run1], atol=1e-6)  # walk's run 1
    assert feasible.clip_length.tolist() == [7, 6, 7]
    assert abs(feasible.fit_error[0] - demos.run_g_mpjpe_mm[0] / 1000) < 1e-6
    np.testing.assert_allclose(feasible.qvel[:7], demos.qvel[~run1], atol=1e-5)  # its true velocities


def test_a_student_run_tracks_the_teachers_trajectories(walk, env, tracking_library, tmp_path) -> None:
    """With feasible_reference RL's env tracks the teacher's trajectory of walk (feasible.npz),
    evaluation the clips; resume reads feasible.npz back."""
    from conftest import tiny_train_config

    from humanoid_fpo.run import train
    from humanoid_fpo.motion.library import load_library

    demos = _demos(walk, env)
    save_demonstrations(demos, tmp_path / "demos.npz")
    save_library(tracking_library, tmp_path / "library.npz")
    run_dir = tmp_path / "student"
    teacher = TeacherConfig(demos=str(tmp_path / "demos.npz"), feasible_reference=True, samples=4, horizon=6)
    cfg = tiny_train_config(tmp_path / "library.npz", run_dir, iterations=2, teacher=teacher)
    trainer = train.build_trainer(cfg, run_dir)
    c = tracking_library.clip_names.index("walk")
    assert trainer.env.env.library.clip_length[c] == demos.steps // 2  # run 0's 7 states
    assert trainer.eval_env.library.clip_length[c] == tracking_library.clip_length[c]
    trainer.run()
    assert load_library(run_dir / "feasible.npz").clip_length[c] == demos.steps // 2
    resumed = train.build_trainer(replace(cfg, iterations=3), run_dir, resume=True)
    assert resumed.env.env.library.clip_length[c] == demos.steps // 2


def test_train_refuses_a_damaged_demonstrations_file_in_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "demos.npz"
    bad.write_bytes(b"PK\x03\x04 cut short")
    code = cli_main(["train", "preset=cpu_mocap", f"teacher.demos={bad}", f"run_dir={tmp_path / 'run'}",
                     "progress=false"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and str(bad) in err and "damaged .npz" in err, err
    assert not (tmp_path / "run").exists()


def test_unplace_inverts_place(tracking_library) -> None:
    import jax
    import jax.numpy as jnp

    from humanoid_fpo.motion.library import query
    from humanoid_fpo.sim.config import TerrainConfig
    from humanoid_fpo.sim.reference import place, unplace
    from humanoid_fpo.sim.terrain import make_terrain

    n = min(5, tracking_library.num_clips)
    frame = query(tracking_library, jnp.arange(n), jnp.full(n, 0.5))
    yaw = jax.random.uniform(jax.random.key(0), (n,), minval=-3, maxval=3)
    shift = jax.random.normal(jax.random.key(1), (n, 2))
    placed = place(frame, yaw, shift, make_terrain(TerrainConfig()))
    qpos, qvel = unplace(placed.qpos, placed.qvel, yaw, shift)
    np.testing.assert_allclose(qpos, frame.qpos, atol=1e-5)
    np.testing.assert_allclose(qvel, frame.qvel, atol=1e-5)


def test_rungs_climb_the_escalation_and_an_empty_one_keeps_the_base() -> None:
    """`teacher.escalation=[]` rewound with the base settings; it used to index an empty tuple."""
    from humanoid_fpo.teacher.config import TeacherConfig

    cfg = TeacherConfig(horizon=18, noise=0.1, escalation=((30, 0.1), (24, 0.2)))
    assert [cfg.rung(level) for level in range(4)] == [(18, 0.1), (30, 0.1), (24, 0.2), (24, 0.2)]
    assert TeacherConfig(escalation=()).rung(2) == (18, 0.1)
