"""ONNX export: onnxruntime against torch on random observations, the optional x0, the metadata."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from humanoid_fpo.export import export
from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.observations import obs_layout

OBS = obs_layout(EnvConfig().obs)["height_scan"].stop
ACTIONS = 69
SMALL = AlgoConfig(actor=NetConfig((64, 64)), critic=NetConfig((16,)), flow_steps=3)


def trained_like(cfg: AlgoConfig) -> Learner:
    """A learner with random EMA weights and normaliser statistics (nothing left at its init)."""
    torch.manual_seed(0)
    learner = Learner(cfg, OBS, OBS, ACTIONS)
    with torch.no_grad():
        for p in learner.eval_policy.parameters():
            p.normal_(0.0, 0.1)
        learner.obs_norm.mean.normal_()
        learner.obs_norm.var.uniform_(0.2, 3.0)
    return learner


def session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the overridable x0 initializer is reported as a warning
    return ort.InferenceSession(str(path), options)


@pytest.mark.parametrize("policy", ["flow", "gaussian"])
def test_onnx_matches_torch(policy: str, tmp_path) -> None:
    learner = trained_like(replace(SMALL, policy=policy))
    written = export(learner, EnvConfig(), tmp_path)
    assert sorted(p.name for p in written) == (["policy.onnx", "velocity.onnx"] if policy == "flow"
                                               else ["policy.onnx"])
    obs = 3 * torch.randn(7, OBS)
    x0 = torch.randn(7, ACTIONS)
    policy_onnx = session(tmp_path / "policy.onnx")
    deterministic = policy_onnx.run(None, {"obs": obs.numpy()})[0]  # x0 left out: 0
    np.testing.assert_allclose(deterministic, learner.eval_action(obs).numpy(), atol=1e-5)
    sampled = policy_onnx.run(None, {"obs": obs.numpy(), "x0": x0.numpy()})[0]
    with torch.no_grad():
        expected = learner.eval_policy.sample(learner.obs_norm(obs), x0, SMALL.flow_steps)
    np.testing.assert_allclose(sampled, expected.numpy(), atol=1e-5)
    assert np.abs(sampled - deterministic).max() > 1e-3  # x0 is not ignored
    if policy == "flow":
        tau = torch.rand(7)
        velocity = session(tmp_path / "velocity.onnx").run(
            None, {"obs": obs.numpy(), "x_tau": x0.numpy(), "tau": tau.numpy()})[0]
        with torch.no_grad():
            expected = learner.ema.net(learner.obs_norm(obs), x0[:, None], tau[:, None])[:, 0]
        np.testing.assert_allclose(velocity, expected.numpy(), atol=1e-5)


def test_flow_steps_are_unrolled(tmp_path) -> None:
    learner = trained_like(SMALL)
    obs = torch.randn(2, OBS)
    outputs = {}
    for k in (1, 4):
        export(learner, EnvConfig(), tmp_path / str(k), steps=k)
        outputs[k] = session(tmp_path / str(k) / "policy.onnx").run(None, {"obs": obs.numpy()})[0]
        np.testing.assert_allclose(outputs[k], learner.eval_action(obs, k).numpy(), atol=1e-5)
    assert np.abs(outputs[1] - outputs[4]).max() > 1e-4


def test_metadata_readable_with_onnx_alone(tmp_path) -> None:
    pose = tuple(np.linspace(-0.2, 0.2, ACTIONS))
    env_cfg = EnvConfig(conditioning="hands", default_pose=pose, physics_dt=1 / 60)
    export(trained_like(SMALL), env_cfg, tmp_path, steps=5)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "policy.onnx")).metadata_props}
    assert meta["conditioning"] == "hands" and meta["policy"] == "flow" and int(meta["flow_steps"]) == 5
    names = json.loads(meta["joint_names"])
    assert len(names) == ACTIONS and names[0] == "L_Hip_x"
    np.testing.assert_allclose(json.loads(meta["action_offset"]), pose, atol=1e-6)
    kp, kd = np.array(json.loads(meta["kp"])), np.array(json.loads(meta["kd"]))
    assert (kp > 0).all() and np.allclose(kd, kp / 10)
    layout = json.loads(meta["obs_layout"])
    assert layout == {k: [v.start, v.stop] for k, v in obs_layout(env_cfg.obs).items()}
    assert layout["height_scan"][1] == OBS
    assert float(meta["control_dt"]) == pytest.approx(1 / 30)
    assert float(meta["physics_dt"]) == pytest.approx(1 / 60)
    assert np.array(json.loads(meta["goal_masks"])["hands"]).shape == (24, 24)
    assert "<mujoco" in meta["mjcf"] and 'name="floor"' in meta["mjcf"]


def test_export_refuses_a_policy_of_another_observation_layout(tmp_path) -> None:
    """A policy trained with a height scan exported with a config without one: named, nothing written."""
    with pytest.raises(ValueError, match=r"observation normaliser .* must have shape \(\d+,\), got \(\d+,\)"):
        coarser = replace(EnvConfig(), obs=replace(EnvConfig().obs, scan_spacing=0.4))
        export(trained_like(SMALL), coarser, tmp_path)
    assert not list(tmp_path.iterdir())


def test_export_refuses_a_policy_blind_to_the_ground(tmp_path) -> None:
    """A scan-ablation policy (env.obs.actor_height_scan=false) would be fed a scan by deploy/: refused."""
    blind = replace(EnvConfig(), obs=replace(EnvConfig().obs, actor_height_scan=False))
    with pytest.raises(ValueError, match="actor_height_scan"):
        export(trained_like(SMALL), blind, tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_interrupted_export_leaves_no_file(tmp_path, monkeypatch) -> None:
    """A killed export left a 0-byte .policy.*.onnx: the model is now built in memory and the folder
    gets a file only once it is whole, so a kill (or Ctrl-C) during the export leaves nothing."""
    seen = []

    def interrupted(*args, **kwargs):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export(trained_like(SMALL), EnvConfig(), tmp_path)
    assert seen == [[]] and not list(tmp_path.iterdir())
