"""Where `humanoid-fpo eval` and `deploy/sim2sim.py` part on one clip of an exported run.

    .venv/bin/python tools/sim2sim_gap.py RUN --clip turn   # RUN/export/policy.onnx: `humanoid-fpo export`

Plays the clip in sim2sim (native MuJoCo, the numpy controller, ONNX) and, at every state it reaches,
also builds the env's observation of that state and the torch policy's action: the largest
observation and action gaps show what each side computes differently. Then compares sim2sim's joint
angles with those `record_clip` recorded for the same clip, frame by frame: the first frames where
the gap passes 1e-6 … 1e-2 rad, and the contacts sim2sim had there. Prints; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import torch

from humanoid_fpo.run.checkpoint import load_trained
from humanoid_fpo.evaluate import record_clip
from humanoid_fpo.sim.env import episodes_at, eval_config, make_env, observe_states

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
import sim2sim  # noqa: E402
from controller import Controller  # noqa: E402

THRESHOLDS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--clip", required=True)
    args = parser.parse_args()
    controller = Controller(args.run / "export" / "policy.onnx", "full")
    steps = controller.meta.flow_steps
    trained = load_trained(args.run)
    env = make_env(eval_config(trained.cfg.env, trained.library.num_clips), trained.library)
    clip = trained.library.clip_names.index(args.clip)
    act = lambda obs: trained.learner.eval_action(obs, steps)
    evaluated = record_clip(env, act, jax.random.key(0), clip, "full")
    lib = sim2sim.load_library(args.run / "motions.npz", controller.meta)
    model = sim2sim.make_model(controller.meta)
    data = mujoco.MjData(model)
    first, length = int(lib.clip_start[clip]), int(lib.clip_length[clip])
    data.qpos[:], data.qvel[:] = lib.qpos[first], lib.qvel[first]
    mujoco.mj_forward(model, data)
    qpos, contacts, gaps = [data.qpos.copy()], [data.ncon], {"obs": 0.0, "action": 0.0, "onnx_vs_torch": 0.0}
    for k in range(length - 1):
        obs = controller.observe(data.qpos, data.qvel, lib.frame(first + k + 1))
        action = controller.policy(obs[None])[0]
        episode = episodes_at(env, jnp.array([clip]), jnp.array([k / lib.fps], jnp.float32),
                              jnp.zeros(1, jnp.int32))
        state = jnp.asarray(data.qpos[None], jnp.float32).at[:, :2].add(episode.shift)
        qvel = jnp.asarray(data.qvel[None], jnp.float32)
        env_obs = np.asarray(observe_states(env, episode, state, qvel)[0])
        gaps["obs"] = max(gaps["obs"], float(np.abs(env_obs[0] - obs).max()))
        env_action = act(torch.from_numpy(env_obs.copy())).numpy()[0]
        gaps["action"] = max(gaps["action"], float(np.abs(env_action - action).max()))
        same = act(torch.as_tensor(obs[None], dtype=torch.float32)).numpy()[0]
        gaps["onnx_vs_torch"] = max(gaps["onnx_vs_torch"], float(np.abs(same - action).max()))
        data.ctrl[:] = controller.meta.targets(action)
        for _ in range(controller.meta.decimation):
            mujoco.mj_step(model, data)
        qpos.append(data.qpos.copy())
        contacts.append(data.ncon)
    n = min(len(evaluated["qpos"]), len(qpos))
    theirs, ours = evaluated["qpos"][:n].copy(), np.stack(qpos)[:n]
    theirs[:, :2] -= theirs[0, :2] - ours[0, :2]  # the env places the clip on its tile
    gap = np.abs(theirs - ours).max(-1)
    print(f"{args.clip}: eval {evaluated['clips'][args.clip]['frames']} frames; largest gaps over the clip: "
          f"observation {gaps['obs']:.1e}, action {gaps['action']:.1e} "
          f"(ONNX against torch on one observation {gaps['onnx_vs_torch']:.1e})")
    for threshold in THRESHOLDS:
        past = np.flatnonzero(gap > threshold)
        first = past[0] if len(past) else None
        where = "never" if first is None else (f"frame {first} (gap {gap[first]:.1e} rad, "
                                               f"sim2sim contacts {contacts[first - 1]} → {contacts[first]})")
        print(f"  joint-angle gap past {threshold:.0e} rad: {where}")


if __name__ == "__main__":
    main()
