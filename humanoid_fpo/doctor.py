"""`humanoid-fpo doctor`: what this machine gives the project — versions, the devices JAX and torch
see, the physics backend `env.backend=auto` picks, the precision `algo.precision=auto` picks (and the
CPU features it reads), and whether headless rendering works."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

PACKAGES = ("humanoid_fpo", "jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang", "torch", "onnxruntime",
            "hydra-core", "viser", "wandb")


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def checks() -> list[tuple[str, str]]:
    """(what, finding) rows; a check that fails says why instead of raising."""
    rows = [("python", f"{platform.python_version()} ({sys.executable})"),
            ("machine", f"{platform.machine()}, {os.cpu_count()} cores")]
    rows += [(p, version(p)) for p in PACKAGES]
    import jax
    import torch

    rows.append(("JAX devices", ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices())))
    cuda = torch.cuda.is_available()
    rows.append(("torch devices", "cpu" + "".join(f", cuda:{i} {torch.cuda.get_device_name(i)}"
                                                  for i in range(torch.cuda.device_count() if cuda else 0))))
    rows.append(("env.backend=auto", "mjx (JAX sees a GPU)" if jax.default_backend() == "gpu" else
                 "native (MuJoCo C on CPU threads: JAX sees no GPU)"))
    if cuda and jax.default_backend() != "gpu":
        rows.append(("warning", "torch sees a GPU but JAX does not: install jax[cuda12] for preset=gpu "
                                "(README, Install on a GPU machine)"))
    rows += precision_rows(cuda)
    rows.append(("rendering", rendering()))
    return rows


def precision_rows(cuda: bool) -> list[tuple[str, str]]:
    """The CPU's bf16 features and the learner precision `algo.precision=auto` picks on the device a
    run's `device=auto` trains on (learn/learner.py `resolve_precision`)."""
    import torch

    from humanoid_fpo.learn.learner import cpu_bf16, resolve_precision

    features = cpu_bf16()
    device = torch.device("cuda" if cuda else "cpu")
    flow, ppo = (resolve_precision("auto", device, policy) for policy in ("flow", "gaussian"))
    why = ("cuda: fp32 with TF32 matrix products" if cuda else
           "the CPU has " + " and ".join(k for k, v in features.items() if v) if any(features.values()) else
           "the CPU has neither AVX512-BF16 nor AMX")
    return [("CPU bf16", ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items())),
            ("algo.precision=auto", f"{flow} for the flow policy, {ppo} for ppo ({why})")]


def rendering() -> str:
    """'ok (backend)' where MuJoCo renders a frame offscreen, else the reason."""
    backend = os.environ.get("MUJOCO_GL", "default")
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1 1 .1' type='plane'/>"
                                               "</worldbody></mujoco>")
        with mujoco.Renderer(model, 16, 16) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as e:  # any failure of the GL stack is the finding
        return f"fails with MUJOCO_GL={backend}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return f"ok (MUJOCO_GL={backend})"
