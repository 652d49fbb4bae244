"""The native engine: MuJoCo C stepping every env on MuJoCo's own thread pool
(`mujoco.batch.Batch`), called from inside the jitted task through `jax.pure_callback`.

The engine is stateless between calls: each call loads the envs' states from its arguments into a
batch's state rows, runs, and returns the new states, so `sim.env.step` stays a pure function of
`EnvState`. States cross as float32 (JAX's precision, MJX's too); MuJoCo integrates in float64
within a control step. A call returns the body poses and velocities of the new state, and the
actuator forces of the last substep as MJX reports them. An env whose step raised a MuJoCo
instability warning (bad qpos, qvel or qacc) or error comes back with a non-finite qpos, so the task
resets and counts it like any blown-up env; MuJoCo's own message for it is silenced while the engine
runs (the count is the task's `physics_reset`).

`rollout`, a planner's call from the host (not jitted), runs S samples from one state with
`Batch.rollout` in a workspace of its own (the nominal scene), float64 from start to body positions;
a sample that blows up as above is flagged `failed`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco.batch import Batch, SimulationError

from humanoid_fpo.sim.engines import PhysicsState, Rollout
from humanoid_fpo.sim.quiet_mujoco import quiet_warnings
from humanoid_fpo.sim.randomize import RANDOMIZED_FIELDS, Physical, is_physical, scaled_fields

UNSTABLE = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                              mujoco.mjtWarning.mjWARN_BADQACC)]
"""MuJoCo warnings that mark an env as blown up."""
_KINEMATICS = mujoco.mjtStage.mjSTAGE_VEL.value
"""Computed at the new state: body poses and velocities (the position and velocity stages)."""
_STATE = ("qpos", "qvel", "qacc_warmstart", "ctrl")
_DERIVED = ("xpos", "xquat", "cvel", "subtree_com", "actuator_force")


class Workspace:
    """One `Batch` of N envs of a scene. A call's result depends on its arguments only (the batch
    is a workspace); calls are serialised, as JAX may run callbacks on several threads."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, threads: int, decimation: int, randomized: bool):
        self.model, self.decimation, self.randomized = model, decimation, randomized
        self.batch = Batch(model, num_envs, nthread=threads)
        self.fields = {name: self.batch.bind(name) for name in _STATE + _DERIVED}
        self.models = {name: self.batch.expand(name) for name in RANDOMIZED_FIELDS} if randomized else {}
        self.scales: np.ndarray | None = None  # (N, k) physical scales the models were last set to
        self.lock = threading.Lock()
        self.physics_s = 0.0  # seconds inside MuJoCo's calls so far (bench_train splits the env's time)

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

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """`Engine.rollout` on this workspace's envs (one per sample), float64 throughout."""
        control = np.repeat(controls, self.decimation, axis=1)  # (S, T·decimation, nu) per substep
        # one more substep: a substep records the poses of the state it starts from
        control = np.concatenate([control, control[:, -1:]], 1)
        xpos = np.zeros((len(control), control.shape[1], self.model.nbody, 3))
        with self.lock:
            for name, value in zip(_STATE[:3], (qpos, qvel, warmstart)):
                self.fields[name][:] = value
            failed = self._guarded(lambda: self.batch.rollout(control.shape[1], control, record=("xpos",),
                                                              out={"xpos": xpos}))
        return Rollout(xpos[:, self.decimation::self.decimation], failed)

    def _run(self, call) -> tuple[np.ndarray, ...]:
        """Run `call` on every env; (new state and derived fields) as float32, blown-up envs NaN."""
        failed = self._guarded(call)
        out = [self.fields[name].astype(np.float32) for name in _STATE[:3] + _DERIVED]
        out[0][failed] = np.nan
        return tuple(out)

    def _guarded(self, call) -> np.ndarray:
        """(N,) bool, the envs that blew up in `call` (MuJoCo raised in them, or their instability
        warnings rose), with MuJoCo's messages silenced."""
        before = self.batch.warning[:, UNSTABLE, 1].copy()  # (N, 3) warning counts
        failed = np.zeros(self.batch.nsim, bool)
        start = time.perf_counter()
        try:
            with quiet_warnings():
                call()
        except SimulationError as error:  # those envs kept their old state; the others ran
            failed[error.ids] = True
        self.physics_s += time.perf_counter() - start
        return failed | (self.batch.warning[:, UNSTABLE, 1] > before).any(-1)


class Workspaces:
    """The scene's workspaces, one per batch size (the env's N, and others for `observe_states` of any
    number of states) and per kind (the env's, or `nominal`: never randomised, a planner's rollouts),
    made at first use and kept as long as this object. Equal for equal settings, so that envs of one
    config share their compiled functions (JAX keys its caches on them)."""

    def __init__(self, cfg, model: mujoco.MjModel):
        self.cfg, self.model = cfg, model
        self.sizes: dict[tuple[int, bool], Workspace] = {}

    def __call__(self, num_envs: int, nominal: bool = False) -> Workspace:
        if (num_envs, nominal) not in self.sizes:
            cfg = self.cfg
            self.sizes[num_envs, nominal] = Workspace(self.model, num_envs, cfg.threads, cfg.decimation,
                                                      is_physical(cfg.randomize) and not nominal)
        return self.sizes[num_envs, nominal]

    def __eq__(self, other) -> bool:
        return isinstance(other, Workspaces) and other.cfg == self.cfg

    def __hash__(self) -> int:
        return hash(self.cfg)


@dataclass(frozen=True)
class NativeEngine:
    workspaces: Workspaces

    def pose(self, physical: Physical, qpos: jax.Array, qvel: jax.Array, state: PhysicsState | None = None,
             active: jax.Array | None = None) -> PhysicsState:
        n, nu = qpos.shape[0], self.workspaces.model.nu
        warmstart = jnp.zeros_like(qvel) if state is None else state.warmstart
        ctrl, force = (jnp.zeros((n, nu)),) * 2 if state is None else (state.ctrl, state.actuator_force)
        active = jnp.ones(n, bool) if active is None else active
        qpos, qvel, warmstart, *derived = self._call("pose", physical, qpos, qvel, warmstart, active)
        return PhysicsState(qpos, qvel, warmstart, ctrl, force, *derived[:-1])

    def simulate(self, physical: Physical, state: PhysicsState) -> PhysicsState:
        qpos, qvel, warmstart, *derived = self._call("simulate", physical, state.qpos, state.qvel,
                                                     state.warmstart, state.ctrl)
        return PhysicsState(qpos, qvel, warmstart, state.ctrl, derived[-1], *derived[:-1])

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """See `Engine.rollout`: MuJoCo C's `Batch.rollout` of the samples on its threads, float64."""
        return self.workspaces(len(controls), nominal=True).rollout(qpos, qvel, warmstart, controls)

    def _call(self, method: str, *args) -> tuple[jax.Array, ...]:
        """Run workspace `method` on the envs of `args` (qpos second, (N, nq)) from inside a jitted
        function."""
        workspace = self.workspaces(args[1].shape[0])
        shapes = tuple(jax.ShapeDtypeStruct(workspace.fields[name].shape, jnp.float32)
                       for name in _STATE[:3] + _DERIVED)

        def run(*arrays):  # JAX hands over its arrays; any JAX op on them here would deadlock XLA's threads
            return getattr(workspace, method)(*jax.tree.map(np.asarray, arrays))

        return jax.pure_callback(run, shapes, *args)


jax.tree_util.register_dataclass(NativeEngine, data_fields=[], meta_fields=["workspaces"])


def make(cfg, mj_model: mujoco.MjModel) -> NativeEngine:
    return NativeEngine(Workspaces(cfg, mj_model))
