"""The native physics backend: MuJoCo C stepping every env on MuJoCo's own thread pool
(`mujoco.batch.Batch`), called from inside the jitted task through `jax.pure_callback`.

The backend is stateless between calls: each call loads the envs' states from its arguments into the
batch's state rows, runs, and returns the new states, so `sim.env.step` stays a pure function of
`EnvState` whichever backend runs it. States cross as float32 (JAX's precision, MJX's too); MuJoCo
integrates in float64 within a control step.

    data = simulate(cfg, physical, data)       # cfg.decimation physics steps under data.ctrl
    data = pose(cfg, physical, qpos, qvel)     # set states (reset, replay) and their kinematics

A call returns what the task reads (`NativeData`, with mjx.Data's field names): body poses and
velocities of the new state, and the actuator forces of the last substep as MJX reports them. An
env whose step raised a MuJoCo instability warning (bad qpos, qvel or qacc) or error comes back
with a non-finite qpos, so the task resets and counts it like any blown-up env. (MuJoCo's own
message for it is silenced: the count is the task's `physics_reset`.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco.batch import Batch, SimulationError

from humanoid_fpo.sim.randomize import RANDOMIZED_FIELDS, Physical, is_physical, scaled_fields

UNSTABLE = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                              mujoco.mjtWarning.mjWARN_BADQACC)]
"""MuJoCo warnings that mark an env as blown up."""
_KINEMATICS = mujoco.mjtStage.mjSTAGE_VEL.value
"""Computed at the new state: body poses and velocities (the position and velocity stages)."""
_STATE = ("qpos", "qvel", "qacc_warmstart", "ctrl")
_DERIVED = ("xpos", "xquat", "cvel", "subtree_com", "actuator_force")


@dataclass(frozen=True)
class NativeData:
    """The physics state of N envs and what the task reads of it, named as in mjx.Data."""

    qpos: jax.Array  # (N, nq)
    qvel: jax.Array  # (N, nv)
    qacc_warmstart: jax.Array  # (N, nv) the constraint solver's start, part of the state
    ctrl: jax.Array  # (N, nu) PD targets of the last step
    xpos: jax.Array  # (N, nbody, 3)
    xquat: jax.Array  # (N, nbody, 4)
    cvel: jax.Array  # (N, nbody, 6)
    subtree_com: jax.Array  # (N, nbody, 3)
    actuator_force: jax.Array  # (N, nu) of the last substep

    def replace(self, **changes) -> NativeData:
        return replace(self, **changes)


jax.tree_util.register_dataclass(NativeData, data_fields=list(NativeData.__dataclass_fields__),
                                 meta_fields=[])


class Engine:
    """One `Batch` of N envs of a scene. A call's result depends on its arguments only (the batch
    is a workspace); calls are serialised, as JAX may run callbacks on several threads."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, threads: int, decimation: int, randomized: bool):
        self.model, self.decimation, self.randomized = model, decimation, randomized
        self.batch = Batch(model, num_envs, nthread=threads)
        self.fields = {name: self.batch.bind(name) for name in _STATE + _DERIVED}
        self.models = {name: self.batch.expand(name) for name in RANDOMIZED_FIELDS} if randomized else {}
        self.scales: np.ndarray | None = None  # (N, k) physical scales the models were last set to
        self.lock = threading.Lock()
        # Blow-ups are counted per env (batch.warning) and reset by the task; MuJoCo's default
        # handler would also print each one and append it to MUJOCO_LOG.TXT in the working folder.
        mujoco.set_mju_user_warning(_ignore)

    def simulate(self, physical: Physical, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                 ctrl: np.ndarray) -> tuple[np.ndarray, ...]:
        with self.lock:
            self._load(physical, qpos, qvel, warmstart, ctrl)
            return self._run(lambda: self.batch.step(nstep=self.decimation, stage=_KINEMATICS))

    def pose(self, physical: Physical, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
             active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Kinematics of the `active` envs at the given states; the other envs' results are stale."""
        with self.lock:
            self._load(physical, qpos, qvel, warmstart, np.zeros_like(self.fields["ctrl"]))
            return self._run(lambda: self.batch.forward(np.flatnonzero(active), stage=_KINEMATICS))

    def _load(self, physical: Physical, qpos, qvel, warmstart, ctrl) -> None:
        if self.randomized:  # the per-env models of the envs whose scales changed (at their reset)
            scales = np.concatenate([np.asarray(x).reshape(len(qpos), -1) for x in physical], axis=1)
            if self.scales is None:
                self.scales = np.full_like(scales, np.nan)
            rows = np.flatnonzero((scales != self.scales).any(1))
            if len(rows):
                picked = Physical(*(x[rows] for x in physical))
                for name, value in scaled_fields(self.model, picked).items():
                    self.models[name][rows] = value
                self.scales[rows] = scales[rows]
        for name, value in zip(_STATE, (qpos, qvel, warmstart, ctrl)):
            self.fields[name][:] = value

    def _run(self, call) -> tuple[np.ndarray, ...]:
        """Run `call` on every env; (new state and derived fields) as float32, blown-up envs NaN."""
        before = self.batch.warning[:, UNSTABLE, 1].copy()  # (N, 3) warning counts
        failed = np.zeros(self.batch.nsim, bool)
        try:
            call()
        except SimulationError as error:  # those envs kept their old state; the others ran
            failed[error.ids] = True
        failed |= (self.batch.warning[:, UNSTABLE, 1] > before).any(-1)
        out = [self.fields[name].astype(np.float32) for name in _STATE[:3] + _DERIVED]
        out[0][failed] = np.nan
        return tuple(out)


def _ignore(message: str) -> None:
    pass


_MODELS: dict = {}
_ENGINES: dict = {}


def register(cfg, model: mujoco.MjModel) -> None:
    """Record the scene `model` of env config `cfg`, which the jitted task finds by cfg."""
    _MODELS.setdefault(cfg, model)


def engine(cfg, num_envs: int) -> Engine:
    """The engine of `num_envs` envs of cfg's scene (the env's batch, or another size for
    `observe_states` of any number of states), made at first use."""
    if (cfg, num_envs) not in _ENGINES:
        _ENGINES[cfg, num_envs] = Engine(_MODELS[cfg], num_envs, cfg.threads, cfg.decimation,
                                         is_physical(cfg.randomize))
    return _ENGINES[cfg, num_envs]


def _call(cfg, method: str, *args) -> tuple[jax.Array, ...]:
    """Run engine `method` on the envs of `args` (qpos first, (N, nq)) from inside a jitted function."""
    n = args[1].shape[0]
    fields = engine(cfg, n).fields
    shapes = tuple(jax.ShapeDtypeStruct(fields[name].shape, jnp.float32) for name in _STATE[:3] + _DERIVED)

    def run(*arrays):  # JAX hands over its arrays; any JAX op on them here would deadlock XLA's threads
        return getattr(engine(cfg, n), method)(*jax.tree.map(np.asarray, arrays))

    return jax.pure_callback(run, shapes, *args)


def simulate(cfg, physical: Physical, data: NativeData) -> NativeData:
    """`cfg.decimation` physics steps of every env from `data` under `data.ctrl` (traceable)."""
    qpos, qvel, warmstart, *derived = _call(cfg, "simulate", physical, data.qpos, data.qvel,
                                            data.qacc_warmstart, data.ctrl)
    return NativeData(qpos, qvel, warmstart, data.ctrl, *derived)


def pose(cfg, physical: Physical, qpos: jax.Array, qvel: jax.Array, data: NativeData | None = None,
         active: jax.Array | None = None) -> NativeData:
    """Every env set to `qpos` (N, nq), `qvel` (N, nv), with its kinematics (traceable); the solver's
    warm start, controls and actuator forces are `data`'s (replay) or zero (reset), as in MJX.
    `active` (N,) bool: only those envs' kinematics are computed, the others' are left stale."""
    n, nu = qpos.shape[0], _MODELS[cfg].nu
    warmstart = jnp.zeros_like(qvel) if data is None else data.qacc_warmstart
    ctrl, force = (jnp.zeros((n, nu)),) * 2 if data is None else (data.ctrl, data.actuator_force)
    active = jnp.ones(n, bool) if active is None else active
    qpos, qvel, warmstart, *derived = _call(cfg, "pose", physical, qpos, qvel, warmstart, active)
    return NativeData(qpos, qvel, warmstart, ctrl, *derived[:-1], force)
