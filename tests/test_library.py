"""The packed motion library: build, atomic save/load, JAX queries, velocities, bad files."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_fpo.motion.library import (MotionLibrary, build_library, check_compatible, load_library, query,
                                         save_library)
from humanoid_fpo.motion.retarget import retarget_file
from humanoid_fpo.motion.source import MotionFileError

from conftest import BUILTIN_MOTIONS

query_jit = jax.jit(query)


@pytest.fixture(scope="module")
def library(model) -> MotionLibrary:
    return build_library([retarget_file(BUILTIN_MOTIONS / f"{n}.npz", model)
                          for n in ("walk", "squat")], model)


def clip_frames(lib: MotionLibrary, c: int, field: str) -> np.ndarray:
    s = lib.clip_start[c]
    return getattr(lib, field)[s:s + lib.clip_length[c]]


def test_save_load_round_trip(library: MotionLibrary, model, tmp_path: Path) -> None:
    save_library(library, tmp_path / "lib.npz")
    loaded = load_library(tmp_path / "lib.npz", model)
    assert (loaded.clip_names, loaded.fps, loaded.body_names) == \
        (library.clip_names, library.fps, library.body_names)
    for field in ("qpos", "body_quat", "clip_start", "clip_length", "fit_error"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(library, field))
    assert [p.name for p in tmp_path.iterdir()] == ["lib.npz"]  # no temporary left behind


def test_failed_save_keeps_the_old_file(library: MotionLibrary, tmp_path: Path,
                                        monkeypatch) -> None:
    path = tmp_path / "lib.npz"
    save_library(library, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_library(library, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lib.npz"]


def test_query_at_frames_returns_the_frames(library: MotionLibrary) -> None:
    lib = jax.device_put(library)
    c, frames = 1, jnp.array([0, 7, int(library.clip_length[1]) - 1])
    out = query_jit(lib, jnp.full(3, c), frames / library.fps)
    s = library.clip_start[c]
    for field in out._fields:
        np.testing.assert_allclose(np.asarray(getattr(out, field)),
                                   getattr(library, field)[s + np.asarray(frames)], atol=1e-5)


def test_query_interpolates_and_clamps(library: MotionLibrary) -> None:
    lib = jax.device_put(library)
    times = jnp.array([2.5, 1000.0, -1.0]) / library.fps  # between frames 2 and 3; past each end
    out = query_jit(lib, jnp.zeros(3, jnp.int32), times)
    qpos, quat = clip_frames(library, 0, "qpos"), clip_frames(library, 0, "body_quat")
    np.testing.assert_allclose(out.qpos[0, 7:], (qpos[2, 7:] + qpos[3, 7:]) / 2, atol=1e-5)
    np.testing.assert_allclose(out.qpos[1], qpos[-1], atol=1e-5)
    np.testing.assert_allclose(out.qpos[2], qpos[0], atol=1e-5)
    np.testing.assert_allclose(jnp.linalg.norm(out.body_quat, axis=-1), 1.0, atol=1e-5)
    r0, r1 = (Rotation.from_quat(q[:, [1, 2, 3, 0]]) for q in (quat[2], quat[3]))
    half = Rotation.from_quat(np.asarray(out.body_quat[0])[:, [1, 2, 3, 0]])
    np.testing.assert_allclose((r0.inv() * half).magnitude(), (r0.inv() * r1).magnitude() / 2,
                               atol=1e-4)


def test_query_batches_under_vmap_and_jit(library: MotionLibrary) -> None:
    lib = jax.device_put(library)
    ids, times = jnp.array([[0, 1], [1, 0]]), jnp.array([[0.1, 0.2], [0.3, 0.4]])
    out = jax.vmap(query_jit, in_axes=(None, 0, 0))(lib, ids, times)
    assert out.body_pos.shape == (2, 2, 24, 3) and out.qpos.shape == (2, 2, 76)
    np.testing.assert_allclose(out.body_pos[1, 0], query_jit(lib, ids[1], times[1]).body_pos[0])


def test_velocities_agree_with_finite_differences(library: MotionLibrary) -> None:
    for c in range(library.num_clips):
        pos, vel = clip_frames(library, c, "body_pos"), clip_frames(library, c, "body_lin_vel")
        fd = (pos[2:] - pos[:-2]) * library.fps / 2
        assert np.abs(fd - vel[1:-1]).max() < 0.05 * np.abs(vel).max() + 1e-3
        quat, omega = clip_frames(library, c, "body_quat"), clip_frames(library, c, "body_ang_vel")
        rot = Rotation.from_quat(quat.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_matrix()
        rot = rot.reshape(quat.shape[:2] + (3, 3))
        step = np.einsum("tbij,tbkj->tbik", rot[2:], rot[:-2])  # R(t+1) R(t-1)^T, world frame
        fd = Rotation.from_matrix(step.reshape(-1, 3, 3)).as_rotvec().reshape(fd.shape)
        fd *= library.fps / 2
        assert np.abs(fd - omega[1:-1]).max() < 0.05 * np.abs(omega).max() + 1e-3


def test_bad_libraries(library: MotionLibrary, model, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="library would be empty"):
        build_library([], model)
    np.savez(tmp_path / "clip.npz", poses=np.zeros((3, 72)))
    with pytest.raises(MotionFileError, match="clip.npz: not a motion library: missing qpos"):
        load_library(tmp_path / "clip.npz")
    save_library(library, tmp_path / "lib.npz")
    other = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom size='.1'/></body></worldbody></mujoco>")
    with pytest.raises(MotionFileError, match="lib.npz: made for another humanoid: 69 joint DoF"):
        load_library(tmp_path / "lib.npz", other)
    renamed = replace(library, body_names=("Root", *library.body_names[1:4], "Belly", *library.body_names[5:]))
    with pytest.raises(MotionFileError, match=re.escape(  # was "69 joint DoF and 24 bodies, the model has 69 and 24"
            f"x.npz: made for another humanoid: body names differ: Root (the model: Pelvis), Belly (the model: "
            f"{library.body_names[4]})")):
        check_compatible(renamed, model, "x.npz")


def test_a_library_with_nan_is_refused_naming_the_file_array_frame_and_clip(library: MotionLibrary,
                                                                            tmp_path: Path) -> None:
    """Was accepted by `eval` and `motions list`."""
    squat = library.clip_names.index("squat")
    qpos = library.qpos.copy()
    qpos[library.clip_start[squat] + 12, 9] = np.nan
    save_library(replace(library, qpos=qpos), tmp_path / "nan.npz")
    with pytest.raises(MotionFileError, match=re.escape(f"{tmp_path / 'nan.npz'}: qpos holds NaN or inf "
                                                        "(frame 12 of clip squat)")):
        load_library(tmp_path / "nan.npz")


def test_saved_file_has_ordinary_permissions(library: MotionLibrary, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        save_library(library, tmp_path / "lib.npz")
    finally:
        os.umask(umask)
    assert (tmp_path / "lib.npz").stat().st_mode & 0o777 == 0o644


def test_a_folder_is_retargeted_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys) -> None:
    """load_motions with a cache: the second call reads the packed library back (no retargeting, the
    log says so); a changed file is retargeted again."""
    import shutil

    from humanoid_fpo.motion import library as library_module

    folder, cache = tmp_path / "clips", tmp_path / "cache"
    folder.mkdir()
    for name in ("walk", "stand"):
        shutil.copy(BUILTIN_MOTIONS / f"{name}.npz", folder / f"{name}.npz")
    first = library_module.load_motions(folder, cache=cache)
    real = library_module.retarget_files
    monkeypatch.setattr(library_module, "retarget_files", lambda *a, **k: pytest.fail("retargeted again"))
    again = library_module.load_motions(folder, cache=cache)
    assert "motions: reusing" in capsys.readouterr().out
    assert again.clip_names == first.clip_names and np.array_equal(again.qpos, first.qpos)
    shutil.copy(BUILTIN_MOTIONS / "turn.npz", folder / "stand.npz")  # same name, other contents
    monkeypatch.setattr(library_module, "retarget_files", real)
    changed = library_module.load_motions(folder, cache=cache)
    assert not np.array_equal(changed.qpos, first.qpos) and len(list(cache.glob("*.npz"))) == 2


def test_include_keeps_the_matching_clip_files_and_names_the_folder_when_none_match(tmp_path) -> None:
    """motions.include: fnmatch patterns on a folder's clip file names; none matching, or a packed
    library (no files to pick from), is an error naming the path."""
    from humanoid_fpo.motion.library import load_motions

    picked = load_motions(BUILTIN_MOTIONS, include=["w*", "turn.npz"])
    assert sorted(picked.clip_names) == ["turn", "walk"]
    with pytest.raises(MotionFileError, match=r"motions: no clip file matches motions.include=\['run_\*'\]"):
        load_motions(BUILTIN_MOTIONS, include=["run_*"])
    save_library(picked, tmp_path / "lib.npz")
    with pytest.raises(MotionFileError, match="lib.npz: is a packed library"):
        load_motions(tmp_path / "lib.npz", include=["walk*"])
