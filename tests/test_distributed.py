"""torchrun with 2 CPU ranks (gloo): an update of two ranks is one update on the union of their
data, the ranks' weights stay identical through training, a killed job resumes, only rank 0
writes, and one rank's error ends the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from humanoid_fpo.learn.normalizer import Normalizer

from conftest import ROOT
from distributed_update import ENVS, envs_of, results, rollout

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
TINY = ["env.num_envs=4", "steps_per_env=4", "prior.steps=0", "algo.actor.hidden=[32]",
        "algo.critic.hidden=[32]", "algo.n_mc=2", "algo.flow_steps=2", "algo.minibatches=2", "progress=false",
        f"jax_cache={ROOT / '.cache' / 'jax'}", f"motions.cache={ROOT / '.cache' / 'motions'}",
        f"motions.path={ROOT / 'motions'}"]


def torchrun(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.Popen([*TORCHRUN, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs)


@pytest.mark.parametrize("policy", ["flow", "gaussian"])
def test_an_update_of_two_ranks_is_one_update_on_their_union(tmp_path, policy) -> None:
    job = torchrun([str(ROOT / "tests" / "distributed_update.py"), str(tmp_path), policy], ROOT)
    out, _ = job.communicate(timeout=300)
    assert job.returncode == 0, out
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    learner, storage, last_values, batch = rollout(policy)
    half = slice(0, ENVS // 2)
    alone = rollout(policy)[0]
    alone.update(envs_of(storage, half), last_values[half])  # what rank 0 would do without averaging
    metrics = learner.update(storage, last_values)
    norm = Normalizer(batch.shape[1])
    norm.update(batch)
    union = results(learner, metrics, norm)
    for rank in ranks:
        for a, b in zip(rank["params"], union["params"]):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        assert rank["lr"] == union["lr"]
        for key in ("mean", "var", "count"):
            torch.testing.assert_close(rank["norm"][key], union["norm"][key], atol=1e-5, rtol=1e-6)
    moved = max((a - b).abs().max().item() for a, b in zip(alone.parameters(), union["params"]))
    assert moved > 1e-3, "the check is sensitive: one rank's half alone updates differently"


def rows(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_train_kill_and_resume_under_torchrun(tmp_path) -> None:
    cwd, run = tmp_path / "cwd", tmp_path / "run"
    cwd.mkdir()
    command = ["-m", "humanoid_fpo.cli", "train", *TINY, "iterations=6", "checkpoint_every=2", "eval_every=3",
               "plot_every=3", f"run_dir={run}"]
    job = torchrun(command, cwd)
    deadline = time.time() + 600
    while job.poll() is None and max((r["iteration"] for r in rows(run)), default=0) < 3:
        assert time.time() < deadline, "no third iteration in 10 minutes"
        time.sleep(0.5)
    os.killpg(job.pid, signal.SIGKILL)
    out = job.communicate()[0]
    assert job.returncode != 0 or "done:" in out, out
    killed_at = max(r["iteration"] for r in rows(run))
    saved = torch.load(run / "checkpoint.pt", weights_only=False)
    assert killed_at - saved["iteration"] <= 2, "lost more than one checkpoint interval"
    assert len(saved["ranks"]) == 2 and saved["iteration"] >= 2

    job = torchrun(["-m", "humanoid_fpo.cli", "train", f"resume={run}"], cwd)
    out = job.communicate(timeout=600)[0]
    assert job.returncode == 0, out
    assert f"from iteration {saved['iteration']}" in out and "2 ranks × 4 envs" in out
    done = rows(run)
    assert [r["iteration"] for r in done] == list(range(7))
    assert all(r["weights_difference"] == 0.0 for r in done[1:]), "the ranks' weights drifted apart"
    assert done[-1]["env_steps"] == 6 * 2 * 4 * 4, "env steps of both ranks"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "motions.npz", "checkpoint.pt", "best.pt",
                                               "metrics.jsonl", "curves.png", "eval.json"}
    assert not list(cwd.iterdir()), "only rank 0 writes, and only into the run folder"


def test_an_error_on_one_rank_ends_the_job(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("{}")
    job = torchrun(["-m", "humanoid_fpo.cli", "train", *TINY, f"run_dir={run}"], tmp_path)
    out = job.communicate(timeout=300)[0]
    assert job.returncode != 0
    assert f"error: {run} already holds a run" in out
