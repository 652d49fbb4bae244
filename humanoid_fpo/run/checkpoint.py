"""A run folder's checkpoint: reading it (checked against the run's config) and the trained policy
that `eval`, `export`, `render`, `inspect` and `play` load from it, without the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from humanoid_fpo.util.typed_config import from_dict, to_dict
from humanoid_fpo.body.humanoid import ASSET_PATH, load_model
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.motion.library import MotionLibrary, load_library
from humanoid_fpo.run.config import TrainConfig, lookup, read_config, without_retired
from humanoid_fpo.sim.observations import as_ranges, obs_layout


CHECKPOINT_VERSION = 1
POLICY_KEYS = ("env.obs", "env.control_dt", "env.default_pose", "env.model_path", "algo.policy", "algo.actor",
               "algo.critic", "algo.tau_embed")
"""Config entries that define the networks' inputs and outputs: a checkpoint loads only under a
config that agrees on all of them."""


def read_checkpoint(path: Path, cfg: TrainConfig | None = None, device: str | torch.device = "cpu") -> dict:
    """The checkpoint at `path`; with `cfg`, raise unless it was written under a config that agrees
    on POLICY_KEYS (a checkpoint copied from another run, or a changed network, would load wrong)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ValueError(f"{path}: checkpoint version {version}, this version reads {CHECKPOINT_VERSION}")
    try:  # a setting added since the checkpoint was written reads as its default, as in config.yaml
        state["config"] = to_dict(from_dict(TrainConfig, without_retired(state["config"])))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if cfg is not None:
        check_same_policy(path, state["config"], cfg)
    return state


def check_same_policy(path: Path, saved: dict, cfg: TrainConfig) -> None:
    """Raise unless the config `saved` with the checkpoint at `path` agrees with `cfg` on POLICY_KEYS."""
    ours = to_dict(cfg)
    differ = [k for k in POLICY_KEYS if lookup(ours, k) != lookup(saved, k)]
    if differ:
        raise ValueError(f"{path}: checkpoint from another config: {', '.join(differ)} differ "
                         f"(checkpoint {lookup(saved, differ[0])!r}, config {lookup(ours, differ[0])!r})")


CHECKPOINTS = {"last": "checkpoint.pt", "best": "best.pt"}
"""The checkpoints a run folder keeps: the last one written, and the best in-run evaluation's."""


def run_folder(path: Path) -> Path:
    """The run folder of `path`, a run folder or its checkpoint.pt."""
    return path if path.is_dir() else path.parent


@dataclass
class TrainedPolicy:
    """What `eval`, `export` and `render` need of a run: its config, library and learner (EMA weights)."""

    cfg: TrainConfig
    library: MotionLibrary
    learner: Learner
    checkpoint: Path
    iteration: int
    evaluation: dict | None = None
    """best.pt's in-run evaluation (success_rate, frames); None for other checkpoints."""

    def describe(self) -> str:
        """'RUN/best.pt (the best in-run evaluation: success 0.75, 118.5 frames; iteration 100)'."""
        if self.evaluation is None:
            return f"{self.checkpoint} (iteration {self.iteration})"
        e = self.evaluation
        return (f"{self.checkpoint} (the best in-run evaluation: success {e['success_rate']:.2f}, "
                f"{e['frames']:.1f} frames; iteration {self.iteration})")


def load_trained(path: str | Path, device: str = "cpu", which: str = "last") -> TrainedPolicy:
    """A run folder (its checkpoint `which` of CHECKPOINTS) or a checkpoint file: the checkpoint's own
    config, checked against the folder's config.yaml, the folder's motions.npz and the learner with
    the checkpoint's weights."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run folder or checkpoint")
    checkpoint = path / CHECKPOINTS[which] if path.is_dir() else path
    if which == "best" and not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint}: no best checkpoint (written at a run's in-run evaluations)")
    run_dir = checkpoint.parent
    state = read_checkpoint(checkpoint, device=device)
    cfg = from_dict(TrainConfig, state["config"])
    if (run_dir / "config.yaml").exists():
        check_same_policy(checkpoint, state["config"], read_config(run_dir / "config.yaml"))
    if not (run_dir / "motions.npz").exists():
        raise FileNotFoundError(f"{run_dir / 'motions.npz'}: missing, the run's motion library (evaluate, "
                                f"render or play on clips of your own with --motions PATH where it is offered)")
    library = load_library(run_dir / "motions.npz", load_model(cfg.env.model_path or ASSET_PATH))
    layout = as_ranges(obs_layout(cfg.env.obs))
    if state["obs_layout"] != layout:
        raise ValueError(f"{checkpoint}: observation layout {state['obs_layout']} differs from this "
                         f"version's {layout}")
    obs_size = layout["height_scan"][1]
    learner = Learner(cfg.algo, obs_size, obs_size, library.qpos.shape[1] - 7, device)
    try:
        learner.load_state_dict(state["learner"])
    except (RuntimeError, KeyError) as e:
        raise ValueError(f"{checkpoint}: weights do not fit the config's networks ({e})") from e
    return TrainedPolicy(cfg, library, learner, checkpoint, state["iteration"], state.get("eval"))
