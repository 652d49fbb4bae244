"""The simulated scene: the humanoid MJCF with the env's ground, contact set and physics step."""

from __future__ import annotations

from pathlib import Path

import mujoco

from humanoid_fpo.body.humanoid import ASSET_PATH, CONTACT_SETS, load_model
from humanoid_fpo.sim.terrain import Terrain, hfield_geometry


SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG}


def make_scene(terrain: Terrain, contact: str = "feet", physics_dt: float = 1.0 / 120.0,
               solver: str = "newton", solver_iterations: int = 4, ls_iterations: int = 8,
               model_path: str | Path | None = None) -> mujoco.MjModel:
    """Humanoid from `model_path` (default: the asset) on `terrain`: a plane when it is flat, else a
    heightfield; contact pairs between the bodies of CONTACT_SETS[contact] and the ground only."""
    return scene_spec(terrain, contact, physics_dt, solver, solver_iterations, ls_iterations,
                      model_path).compile()


def scene_spec(terrain: Terrain, contact: str = "feet", physics_dt: float = 1.0 / 120.0,
               solver: str = "newton", solver_iterations: int = 4, ls_iterations: int = 8,
               model_path: str | Path | None = None) -> mujoco.MjSpec:
    """The MjSpec of `make_scene` (`spec.to_xml()` after compiling gives the scene's MJCF)."""
    if contact not in CONTACT_SETS:
        raise ValueError(f"unknown contact set {contact!r}; choose from {sorted(CONTACT_SETS)}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    path = Path(model_path or ASSET_PATH)
    load_model(path)  # validates that the file is the SMPL humanoid
    spec = mujoco.MjSpec.from_file(str(path))
    spec.option.timestep = physics_dt
    spec.option.solver = SOLVERS[solver]
    spec.option.iterations = solver_iterations
    spec.option.ls_iterations = ls_iterations
    if not terrain.flat:
        geometry = hfield_geometry(terrain)
        pos = geometry.pop("pos")
        spec.add_hfield(name="terrain", **geometry)
        floor = spec.geom("floor")
        floor.type = mujoco.mjtGeom.mjGEOM_HFIELD
        floor.hfieldname = "terrain"
        floor.pos = pos
    for pair in list(spec.pairs):
        spec.delete(pair)
    for body in CONTACT_SETS[contact]:
        spec.add_pair(name=f"{body}_floor", geomname1=body, geomname2="floor")
    return spec
