"""Shared fixtures: the humanoid model, the real clips in ../shared/motions, a JAX compile cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import NoReturn

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
    from humanoid_fpo.body.humanoid import load_model

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
def eval_envs(tracking_library) -> dict:
    """The evaluation-protocol env over `tracking_library` on each physics backend: test_env.py and
    the trainer tests use native, test_native.py compares it with its MJX twin."""
    from dataclasses import replace

    from humanoid_fpo.sim.config import EnvConfig
    from humanoid_fpo.sim.env import eval_config, make_env

    cfg = eval_config(EnvConfig(backend="native"), tracking_library.num_clips)
    return {b: make_env(replace(cfg, backend=b), tracking_library) for b in ("native", "mjx")}


def absent(message: str) -> NoReturn:
    """What a test needs is absent here: skip it, but fail under CI (CI=true), which has everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (required under CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_motions() -> Path:
    """../shared/motions: skipped where absent, a failure under CI (CI=true)."""
    if not (SHARED_MOTIONS / "asap_smpl").is_dir():
        absent(f"real motion clips not found at {SHARED_MOTIONS}")
    return SHARED_MOTIONS


@pytest.fixture(scope="session")
def warp_installed() -> None:
    """warp-lang, which env.backend=warp needs (tools/setup.sh installs it): skipped where absent, a
    failure under CI (CI=true)."""
    if importlib.util.find_spec("warp") is None:
        absent("warp-lang is not installed (pip install warp-lang==1.18.0, or bash tools/setup.sh)")


@pytest.fixture(scope="session")
def run_dir(tracking_library, tmp_path_factory) -> Path:
    """A run folder with an untrained (iteration 0) checkpoint whose policy drives the legs to their
    limits, so that every clip fails within a few frames (short rollouts); the arms still follow
    the observation."""
    import torch

    from humanoid_fpo.run import train
    from humanoid_fpo.motion.library import save_library

    leg_hinges = 24  # the first 8 bodies in MuJoCo order are the legs' (hips, knees, ankles, toes)
    folder = tmp_path_factory.mktemp("run")
    save_library(tracking_library, folder / "library.npz")
    trainer = train.build_trainer(tiny_train_config(folder / "library.npz", folder / "run"), folder / "run")
    with torch.no_grad():
        trainer.learner.ema.net.body[-1].bias[:leg_hinges] = 2.0
    trainer.save_checkpoint()
    return folder / "run"


def tiny_train_config(library_file: Path, run_dir: Path, **changes):
    """A trainer config whose env is the evaluation-protocol env over `tracking_library`, the env
    test_env.py compiles, with tiny networks: trainer, eval and export tests add no env compile."""
    from dataclasses import replace

    from humanoid_fpo.run import config as run_config
    from humanoid_fpo.learn.config import AlgoConfig, NetConfig
    from humanoid_fpo.motion.library import load_library
    from humanoid_fpo.sim.config import EnvConfig
    from humanoid_fpo.sim.env import eval_config

    tiny = NetConfig((32,))
    num_clips = load_library(library_file).num_clips
    cfg = run_config.TrainConfig(
        env=eval_config(EnvConfig(backend="native"), num_clips),
        algo=replace(AlgoConfig(), actor=tiny, critic=tiny, n_mc=2, flow_steps=2, minibatches=2),
        motions=run_config.MotionsConfig(str(library_file)), default_pose="mid_range", device="cpu",
        steps_per_env=2, iterations=4, eval_every=2, checkpoint_every=2, plot_every=1, jax_cache=None,
        progress=False, run_dir=str(run_dir))
    return replace(cfg, **changes)
