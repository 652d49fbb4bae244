"""Shared fixtures: the humanoid model, the real clips in ../shared/motions, a JAX compile cache."""

from __future__ import annotations

import os
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: picks MuJoCo's headless GL backend before mujoco loads)
import jax
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MOTIONS = ROOT.parent / "shared" / "motions"
BUILTIN_MOTIONS = ROOT / "motions"

os.environ.setdefault("WANDB_MODE", "disabled")
jax.config.update("jax_compilation_cache_dir", str(ROOT / ".cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


@pytest.fixture(scope="session")
def model():
    from humanoid_fpo.humanoid import load_model

    return load_model()


@pytest.fixture(scope="session")
def tracking_library(model):
    """The built-in clips and, where present, the 33 real ASAP clips: the library every env test and
    the trainer test share, so that their env steps compile once (and hit the persistent cache)."""
    from humanoid_fpo.motion.library import build_library
    from humanoid_fpo.motion.retarget import retarget_file

    paths = sorted(BUILTIN_MOTIONS.glob("*.npz")) + sorted((SHARED_MOTIONS / "asap_smpl").glob("*.npz"))
    return build_library([retarget_file(p, model) for p in paths], model)


@pytest.fixture(scope="session")
def shared_motions() -> Path:
    """../shared/motions: skipped where absent, a failure under CI (CI=true)."""
    if not (SHARED_MOTIONS / "asap_smpl").is_dir():
        message = f"real motion clips not found at {SHARED_MOTIONS}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required under CI)")
        pytest.skip(message)
    return SHARED_MOTIONS
