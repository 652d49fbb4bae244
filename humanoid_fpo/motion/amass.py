"""Reader for AMASS-style SMPL / SMPL-H npz clips.

Keys: `poses` (T, 72) SMPL or (T, 156) SMPL-H axis-angle (joint 0 = global orientation),
`trans` (T, 3), optional `betas`, and the frame rate as `mocap_framerate`, `mocap_frame_rate`
or `fps`. The world is Z-up, as in AMASS. The clip comes out in the SMPL model frame on the
given skeleton's joints, so that its forward kinematics are the clip's SMPL joint positions.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_fpo.motion.source import MotionFileError, SourceMotion, rotation_to_wxyz
from humanoid_fpo.body.skeleton import (JOINT_NAMES, NUM_JOINTS, PARENTS, SMPL_TO_HUMANOID, Skeleton,
                                   mean_shape)

FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
SMPLH_BODY_JOINTS = 22  # SMPL-H: 22 body joints, then 2 x 15 hand joints (SMPL's 22, 23 are hands)


ZIP_MAGIC = b"PK\x03\x04"  # an npz is a zip archive of .npy files
EMPTY_ZIP_MAGIC = b"PK\x05\x06"


def read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an npz file, refusing pickled objects; what a file is not is said plainly."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except OSError as e:
        raise MotionFileError(path, f"cannot be read ({e.strerror})") from None
    if head not in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
        kind = "empty" if not head else f"starts with {head!r}"
        raise MotionFileError(path, f"not a NumPy .npz archive ({kind}; an npz is a zip of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise MotionFileError(path, "holds Python objects (object arrays), which are not loaded for "
                                        "safety; save plain numeric arrays") from None
        raise MotionFileError(path, f"a damaged .npz archive ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise MotionFileError(path, f"a damaged .npz archive ({e})") from None


def _finite(path: Path, key: str, arr: np.ndarray) -> np.ndarray:
    if not np.issubdtype(arr.dtype, np.number):
        raise MotionFileError(path, f"'{key}' is not numeric (dtype {arr.dtype})")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise MotionFileError(path, f"'{key}' has NaN/inf values (first at index {bad})")
    return arr


def read_fps(path: Path, data: dict[str, np.ndarray]) -> float:
    key = next((k for k in FPS_KEYS if k in data), None)
    if key is None:
        raise MotionFileError(path, f"missing frame rate: none of {', '.join(FPS_KEYS)}")
    fps = _finite(path, key, np.asarray(data[key]).reshape(-1))
    if fps.shape != (1,) or fps[0] <= 0:
        raise MotionFileError(path, f"'{key}' must be one positive number, got {data[key]!r}")
    return float(fps[0])


def read_smpl_npz(path: str | Path, skeleton: Skeleton | None = None) -> SourceMotion:
    """Read a clip; its joints are the 24 SMPL joints with `skeleton`'s rest offsets (SMPL frame)."""
    path = Path(path)
    data = read_npz_arrays(path)
    if "format_version" in data and "clip_start" in data:
        raise MotionFileError(path, "already a motion library (made by retarget), not a clip: train on it "
                                    "with motions.path=, or list it with `humanoid-fpo motions list`")
    if "format" in data and "run_clip" in data:
        raise MotionFileError(path, "a teacher's demonstrations file (made by teach), not a clip")
    for key in ("poses", "trans"):
        if key not in data:
            raise MotionFileError(path, f"npz without {key} (an AMASS/SMPL clip has poses, trans and a frame "
                                        f"rate; this one has: {', '.join(sorted(data)) or 'no arrays'})")
    poses = _finite(path, "poses", data["poses"])
    trans = _finite(path, "trans", data["trans"])
    if poses.ndim != 2 or poses.shape[1] not in (72, 156):
        raise MotionFileError(path, f"'poses' has shape {poses.shape}, expected (T, 72) SMPL "
                                    "or (T, 156) SMPL-H")
    if poses.shape[0] == 0:
        raise MotionFileError(path, "clip has no frames")
    if trans.shape != (poses.shape[0], 3):
        raise MotionFileError(path, f"'trans' has shape {trans.shape}, expected "
                                    f"({poses.shape[0]}, 3) to match 'poses'")
    fps = read_fps(path, data)
    if poses.shape[1] == 156:  # SMPL-H: keep the body, rest the hand joints
        poses = np.concatenate([poses[:, : 3 * SMPLH_BODY_JOINTS],
                                np.zeros((poses.shape[0], 3 * (NUM_JOINTS - SMPLH_BODY_JOINTS)))], 1)
    t = poses.shape[0]
    skeleton = skeleton or mean_shape()
    quat = rotation_to_wxyz(Rotation.from_rotvec(poses.reshape(-1, 3)), (t, NUM_JOINTS))
    offsets_smpl = skeleton.offsets @ SMPL_TO_HUMANOID  # rows: P.T @ offset
    local_pos = np.broadcast_to(offsets_smpl, (t, NUM_JOINTS, 3)).copy()
    local_pos[:, 0] = trans + skeleton.pelvis_in_smpl_frame
    return SourceMotion(name=path.stem, path=path, fps=fps, joint_names=JOINT_NAMES,
                        parents=PARENTS, local_quat=quat, local_pos=local_pos)
