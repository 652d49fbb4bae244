"""Benchmark why training episodes end: a trained run's training env (its termination distance,
goal modes, random starts and randomisation) played by its stochastic policy, every episode's end
recorded.

    .venv/bin/python tools/bench_episodes.py RUN                # writes BENCHMARKS.md
    .venv/bin/python tools/bench_episodes.py RUN --steps 300 --no-write

Per goal mode: episodes, mean length (control steps) and the share that terminated (the rest were
truncated at a clip's end or the step limit); at terminations, the body farthest from its reference,
grouped (arms: collars to hands; legs: hips to toes; head; trunk), the share of terminations caused by
the four bodies the success protocol leaves out (hands and toes), the median pelvis error and the
median mean body error. Prints the clips whose episodes are shortest. Minutes on 2 cores: never a
test.
"""

from __future__ import annotations

import argparse
import collections
import datetime
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import numpy as np

from humanoid_fpo.body.skeleton import MUJOCO_BODY_NAMES
from humanoid_fpo.run.experiments import trainer_of_copy
from humanoid_fpo.sim.config import MODES
from humanoid_fpo.sim.rewards import PROTOCOL_BODIES

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Why training episodes end: tools/bench_episodes.py"
HEADER = ("| date | machine | run (iteration, termination m) | goal mode | episodes | mean length "
          "| terminated | worst body at termination: arms / legs / head / trunk | by a hand or toe "
          "| median pelvis / mean error m | command |\n|---|---|---|---|---|---|---|---|---|---|---|")
GROUPS = {"arms": ("Thorax", "Shoulder", "Elbow", "Wrist", "Hand"), "legs": ("Hip", "Knee", "Ankle", "Toe"),
          "head": ("Neck", "Head"), "trunk": ("Pelvis", "Torso", "Spine", "Chest")}
LEFT_OUT = set(range(len(MUJOCO_BODY_NAMES))) - set(PROTOCOL_BODIES)


def group(body: int) -> str:
    name = MUJOCO_BODY_NAMES[body]
    return next(g for g, parts in GROUPS.items() if any(p in name for p in parts))


def episode_ends(trainer, steps: int) -> list[dict]:
    """Every episode that ends in `steps` control steps: clip, goal mode, length, terminated or not,
    and at its last step the per-body errors (24,) m."""
    env, learner = trainer.env, trainer.learner
    ends, obs, critic_obs = [], *env.observe()
    for _ in range(steps):
        mode = np.asarray(env.state.episode.mode)  # the episode's, before a restart in this step
        action, _ = learner.act(obs, critic_obs, update_normalizers=False)
        t = env.step(action)
        info = {k: np.asarray(env.state.info[k]) for k in ("body_error", "episode_length", "clip")}
        terminated = np.asarray(t.terminated.cpu())
        for i in np.flatnonzero(terminated | np.asarray(t.truncated.cpu())):
            ends.append({"clip": env.env.library.clip_names[int(info["clip"][i])].split(".run")[0],
                         "mode": MODES[int(mode[i])], "length": int(info["episode_length"][i]),
                         "terminated": bool(terminated[i]), "error": info["body_error"][i]})
        obs, critic_obs = t.obs, t.critic_obs
    return ends


def summary(ends: list[dict]) -> dict[str, float | str]:
    """The table's figures of a set of episode ends."""
    stopped = [e for e in ends if e["terminated"]]
    worst = [int(e["error"].argmax()) for e in stopped]
    counts = collections.Counter(group(b) for b in worst)
    share = lambda n: n / max(len(stopped), 1)  # noqa: E731
    pelvis = MUJOCO_BODY_NAMES.index("Pelvis")
    return {"episodes": len(ends), "length": float(np.mean([e["length"] for e in ends])),
            "terminated": len(stopped) / len(ends),
            "groups": " / ".join(f"{share(counts[g]):.2f}" for g in GROUPS),
            "left_out": share(sum(b in LEFT_OUT for b in worst)),
            "pelvis": float(np.median([e["error"][pelvis] for e in stopped])) if stopped else float("nan"),
            "mean": float(np.median([e["error"].mean() for e in stopped])) if stopped else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run folder with a checkpoint")
    parser.add_argument("--steps", type=int, default=300, help="control steps of every env")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with trainer_of_copy(args.run) as trainer:  # the run itself is never written
        ends = episode_ends(trainer, args.steps)
    run = f"{args.run.name} ({trainer.iteration}, {trainer.env.termination_distance:.2f})"
    rows, date, command = [], datetime.date.today().isoformat(), command_line()
    for mode in (*MODES, "all"):
        chosen = [e for e in ends if mode in ("all", e["mode"])]
        if not chosen:
            continue
        s = summary(chosen)
        print(f"{mode}: {s['episodes']} episodes, mean length {s['length']:.1f}, "
              f"terminated {s['terminated']:.2f}, "
              f"worst body arms/legs/head/trunk {s['groups']}, by a hand or toe {s['left_out']:.2f}, "
              f"median pelvis {s['pelvis']:.2f} m, mean {s['mean']:.2f} m")
        rows.append("| " + " | ".join([date, machine(), run, mode, str(s["episodes"]), f"{s['length']:.1f}",
                                       f"{s['terminated']:.2f}", s["groups"], f"{s['left_out']:.2f}",
                                       f"{s['pelvis']:.2f} / {s['mean']:.2f}", f"`{command}`"]) + " |")
    lengths = collections.defaultdict(list)
    for e in ends:
        lengths[e["clip"]].append(e["length"])
    shortest = sorted((np.mean(v), k) for k, v in lengths.items())[:8]
    print("shortest episodes by clip:", ", ".join(f"{k} {m:.1f}" for m, k in shortest))
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
