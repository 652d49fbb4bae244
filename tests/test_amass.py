"""The AMASS-style npz reader: valid SMPL and SMPL-H clips, and every malformed case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from humanoid_fpo.motion.amass import read_smpl_npz
from humanoid_fpo.motion.source import MotionFileError, global_transforms
from humanoid_fpo.body.skeleton import mean_shape


def clip_arrays(frames: int = 5, width: int = 72) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"poses": rng.normal(0, 0.2, (frames, width)).astype(np.float32),
            "trans": rng.normal(0, 0.1, (frames, 3)).astype(np.float32),
            "betas": np.zeros(16), "mocap_framerate": np.array(30), "gender": np.array("neutral")}


def write(tmp_path: Path, name: str = "clip.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_reads_smpl_clip(tmp_path: Path) -> None:
    arrays = clip_arrays()
    motion = read_smpl_npz(write(tmp_path, **arrays))
    assert (motion.name, motion.fps, motion.num_frames) == ("clip", 30.0, 5)
    assert motion.local_quat.shape == (5, 24, 4)
    pos, _ = global_transforms(motion)
    # SMPL: the pelvis is trans + the rest pelvis offset, whatever the global orientation
    np.testing.assert_allclose(pos[:, 0], arrays["trans"] + mean_shape().pelvis_in_smpl_frame,
                               atol=1e-6)


def test_smplh_keeps_the_body_and_rests_the_hands(tmp_path: Path) -> None:
    arrays = _without("mocap_framerate")(clip_arrays(width=156))
    motion = read_smpl_npz(write(tmp_path, **{**arrays, "fps": np.array(60.0)}))
    assert motion.fps == 60.0
    smpl = read_smpl_npz(write(tmp_path, "smpl.npz", **{
        **arrays, "fps": np.array(60.0),
        "poses": np.concatenate([arrays["poses"][:, :66], np.zeros((5, 6))], 1)}))
    np.testing.assert_allclose(motion.local_quat, smpl.local_quat, atol=1e-12)
    np.testing.assert_allclose(motion.local_quat[:, 22:], np.tile([1.0, 0, 0, 0], (5, 2, 1)))


def _without(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


def _with(key, value):
    return lambda a: {**a, key: value(a) if callable(value) else value}


MALFORMED = [
    (_without("poses"), r"npz without poses \(an AMASS/SMPL clip has poses, trans and a frame rate; this one "
                        r"has: .*trans\)"),
    (_without("trans"), "npz without trans"),
    (_without("mocap_framerate"), "missing frame rate"),
    (_with("poses", lambda a: a["poses"][:, :69]), r"'poses' has shape \(5, 69\), expected"),
    (_with("poses", np.zeros((0, 72))), "clip has no frames"),
    (_with("trans", lambda a: a["trans"][:4]), r"'trans' has shape \(4, 3\), expected \(5, 3\)"),
    (_with("poses", lambda a: np.where(np.arange(72) == 7, np.nan, a["poses"])),
     r"'poses' has NaN/inf values \(first at index \(0, 7\)\)"),
    (_with("trans", lambda a: np.full((5, 3), np.inf)), "'trans' has NaN/inf values"),
    (_with("mocap_framerate", np.array(0)), "'mocap_framerate' must be one positive number"),
    (_with("mocap_framerate", np.array(-30.0)), "'mocap_framerate' must be one positive number"),
    (_with("poses", np.array([["a"] * 72] * 5)), "'poses' is not numeric"),
]


@pytest.mark.parametrize("edit, problem", MALFORMED)
def test_malformed(tmp_path: Path, edit, problem: str) -> None:
    path = write(tmp_path, "bad.npz", **edit(clip_arrays()))
    with pytest.raises(MotionFileError, match=f"bad.npz: {problem}"):
        read_smpl_npz(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(MotionFileError, match="nothing.npz: file not found"):
        read_smpl_npz(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("poses, trans")
    with pytest.raises(MotionFileError, match=r"text.npz: not a NumPy .npz archive \(starts with b'pose'"):
        read_smpl_npz(tmp_path / "text.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(MotionFileError, match=r"empty.npz: not a NumPy .npz archive \(empty"):
        read_smpl_npz(tmp_path / "empty.npz")
    path = write(tmp_path, "objects.npz", **{**clip_arrays(), "poses": np.array([None] * 5)})
    with pytest.raises(MotionFileError, match=r"objects.npz: holds Python objects \(object arrays\)"):
        read_smpl_npz(path)
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:200])
    with pytest.raises(MotionFileError, match="cut.npz: a damaged .npz archive"):
        read_smpl_npz(tmp_path / "cut.npz")
