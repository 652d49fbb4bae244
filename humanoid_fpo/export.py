"""ONNX export of a trained policy, with what a controller needs to run it as metadata.

    velocity.onnx   (obs (B, O), x_tau (B, A), tau (B,)) → v (B, A)   the velocity net (flow policies)
    policy.onnx     (obs (B, O)[, x0 (1|B, A)]) → action (B, A)       normaliser + K unrolled Euler steps

Both take raw observations (the normaliser is inside) from the EMA weights. `x0` defaults to 0,
the deterministic action; pass x0 ~ N(0, noise_std² I) to sample. For the Gaussian baseline
policy.onnx gives mean + std·x0 (x0 standard normal). Every value of `deploy_metadata` is a string
(JSON where structured) in the model's metadata_props, readable with `onnx` alone;
`deploy/controller.py` reads them back.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.learn.config import check_flow_steps
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.normalizer import Normalizer
from humanoid_fpo.util.shapes import check_shape
from humanoid_fpo.sim.config import MODES, EnvConfig, TerrainConfig
from humanoid_fpo.sim.env import action_transform
from humanoid_fpo.sim.observations import GOAL_FEATURES, as_ranges, goal_masks, obs_layout, scan_points
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES
from humanoid_fpo.sim.scene import scene_spec
from humanoid_fpo.sim.terrain import make_terrain

METADATA_FORMAT = "1"
OPSET = 18


class VelocityModel(nn.Module):
    def __init__(self, normalizer: Normalizer, net: nn.Module):
        super().__init__()
        self.normalizer, self.net = normalizer, net

    def forward(self, obs: torch.Tensor, x_tau: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalizer(obs), x_tau[:, None], tau[:, None])[:, 0]


class PolicyModel(nn.Module):
    def __init__(self, normalizer: Normalizer, policy: nn.Module, steps: int):
        super().__init__()
        self.normalizer, self.policy, self.steps = normalizer, policy, steps

    def forward(self, obs: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        x0 = x0 + torch.zeros_like(obs[:, :1])  # (1, A) broadcasts to the batch
        return self.policy.sample(self.normalizer(obs), x0, self.steps)


def deploy_metadata(env_cfg: EnvConfig, policy: str, noise_std: float, steps: int) -> dict[str, str]:
    """Everything `deploy/` needs besides the weights: names, PD gains and action map, observation
    layout and how to build it (goal masks, scan points, kinematic tree), timing, and the MJCF of
    the humanoid on flat ground for the sim-to-sim check."""
    spec = scene_spec(make_terrain(TerrainConfig()), env_cfg.contact, env_cfg.physics_dt, env_cfg.solver,
                      env_cfg.solver_iterations, env_cfg.ls_iterations, env_cfg.model_path)
    model = spec.compile()
    offset, scale = action_transform(env_cfg, model)
    joint_body = model.jnt_bodyid[1:] - 1  # hinge → index among the 24 bodies
    meta = {
        "format": METADATA_FORMAT,
        "policy": policy,
        "flow_steps": steps,
        "noise_std": noise_std,
        "joint_names": [model.actuator(i).name for i in range(model.nu)],
        "body_names": [model.body(b).name for b in range(1, model.nbody)],
        "kp": model.actuator_gainprm[:, 0].tolist(),
        "kd": model.dof_damping[model.jnt_dofadr[model.actuator_trnid[:, 0]]].tolist(),
        "action_offset": offset.tolist(),
        "action_scale": scale.tolist(),
        "obs_layout": as_ranges(obs_layout(env_cfg.obs)),
        "goal_features": as_ranges(GOAL_FEATURES),
        "goal_masks": dict(zip(MODES, goal_masks().tolist())),
        "conditioning": env_cfg.conditioning,
        "scan_points": scan_points(env_cfg.obs).tolist(),
        "control_dt": env_cfg.control_dt,
        "physics_dt": env_cfg.physics_dt,
        "protocol_bodies": list(PROTOCOL_BODIES),
        "kinematics": {"parent": (model.body_parentid[1:] - 1).tolist(),
                       "body_pos": model.body_pos[1:].tolist(), "body_quat": model.body_quat[1:].tolist(),
                       "joint_axis": model.jnt_axis[1:].tolist(), "joint_body": joint_body.tolist()},
        "mjcf": spec.to_xml(),
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def export(learner: Learner, env_cfg: EnvConfig, out_dir: str | Path, steps: int | None = None) -> list[Path]:
    """Write policy.onnx (and velocity.onnx for a flow policy) into out_dir, atomically; returns the paths."""
    if not env_cfg.obs.actor_height_scan:
        raise ValueError("env.obs.actor_height_scan=false: the policy was trained blind to the ground (an "
                         "ablation); deploy/ feeds it the scan; export a run trained with it")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{out_dir}: cannot write the export there ({e.strerror})") from None
    cfg = learner.cfg
    steps = steps or cfg.flow_steps
    check_flow_steps("the policy's flow steps", steps)  # one unrolled velocity net per step
    policy = learner.eval_policy
    obs_size = obs_layout(env_cfg.obs)["height_scan"].stop  # the layout the metadata describes
    check_shape("the policy's observation normaliser (the run's env.obs layout)", learner.obs_norm.mean,
                (obs_size,))
    obs = torch.zeros(2, obs_size)
    noise_std = cfg.noise_std if cfg.policy == "flow" else 1.0
    meta = deploy_metadata(env_cfg, cfg.policy, noise_std, steps)
    a = learner.action_size
    written = [_write(PolicyModel(learner.obs_norm, policy, steps), {"obs": obs, "x0": torch.zeros(1, a)},
                      "action", meta, out_dir / "policy.onnx")]
    if cfg.policy == "flow":
        written.append(_write(VelocityModel(learner.obs_norm, policy.net),
                              {"obs": obs, "x_tau": torch.zeros(2, a), "tau": torch.zeros(2)},
                              "velocity", meta, out_dir / "velocity.onnx"))
    return written


def _write(module: nn.Module, inputs: dict[str, torch.Tensor], output: str, meta: dict[str, str],
           path: Path) -> Path:
    """Export `module` (a CPU copy) with a dynamic batch; an `x0` input becomes optional (default 0).
    The TorchScript exporter: the dynamo one ties x0's batch to obs's, so x0 could not default to (1, A)."""
    module = copy.deepcopy(module).cpu().eval()
    dynamic = {name: {0: "x0_batch" if name == "x0" else "batch"} for name in inputs} | {output: {0: "batch"}}
    buffer = io.BytesIO()  # built in memory: the folder gets a file only once the model is whole
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer remarks
        with torch.no_grad():
            torch.onnx.export(module, tuple(inputs.values()), buffer, input_names=list(inputs),
                              output_names=[output], dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    if "x0" in inputs:  # an initializer that is also a graph input: optional, its value the default
        zeros = np.zeros_like(inputs["x0"].numpy())
        model.graph.initializer.append(onnx.numpy_helper.from_array(zeros, "x0"))
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString())
    return path
