"""Terrain: heights on MuJoCo's triangles, tile layout, difficulty levels, the scene's ground."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from humanoid_fpo.sim.config import TERRAIN_TYPES, TerrainConfig
from humanoid_fpo.sim.scene import make_scene
from humanoid_fpo.sim.terrain import height_at, make_terrain, tile_under

height_jit = jax.jit(height_at)


@pytest.fixture(scope="module")
def terrain():
    return make_terrain(TerrainConfig(types=TERRAIN_TYPES, num_levels=3, tile_size=4.0, border=2.0))


def ray_height(model: mujoco.MjModel, data: mujoco.MjData, x: float, y: float) -> float:
    top = 5.0
    return top - mujoco.mj_rayHfield(model, data, 0, np.array([x, y, top]), np.array([0.0, 0.0, -1.0]))


def test_height_matches_mujoco_heightfield(terrain) -> None:
    model = make_scene(terrain)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert model.geom_type[0] == mujoco.mjtGeom.mjGEOM_HFIELD
    rng = np.random.default_rng(0)
    points = rng.uniform([-1.9, -1.9], [21.9, 13.9], (2000, 2))  # 5 types × 3 levels of 4 m, 2 m border
    heights = np.asarray(height_jit(terrain, jnp.asarray(points)))
    expected = np.array([ray_height(model, data, x, y) for x, y in points])
    assert np.abs(expected).max() > 0.1  # the points do cross non-flat tiles
    np.testing.assert_allclose(heights, expected, atol=1e-5)


def test_tiles_levels_and_edges(terrain) -> None:
    h = np.asarray(terrain.heights)
    n = int(round(4.0 / terrain.spacing))
    b = int(round(2.0 / terrain.spacing))
    np.testing.assert_allclose(terrain.tile_centres[2, 3], [14.0, 10.0])
    for t, kind in enumerate(TERRAIN_TYPES):
        sizes = []
        for level in range(3):
            tile = h[b + level * n: b + (level + 1) * n + 1, b + t * n: b + (t + 1) * n + 1]
            edges = np.concatenate([tile[0], tile[-1], tile[:, 0], tile[:, -1]])
            assert np.abs(edges).max() < 1e-6, f"{kind} tile does not meet its neighbours at height 0"
            sizes.append(np.abs(tile).max())
        if kind == "flat":
            assert max(sizes) == 0.0
        else:
            assert 0.0 < sizes[0] < sizes[1] < sizes[2], f"{kind} does not get harder with level: {sizes}"
    assert np.abs(h[:b]).max() == 0.0 and np.abs(h[:, -b:]).max() == 0.0  # flat border


def test_flat_terrain_is_a_plane() -> None:
    terrain = make_terrain(TerrainConfig(types=("flat",)))
    assert terrain.flat
    model = make_scene(terrain, contact="feet_hands")
    assert model.geom_type[0] == mujoco.mjtGeom.mjGEOM_PLANE and model.nhfield == 0
    assert model.npair == 6
    assert float(height_at(terrain, jnp.array([3.0, -40.0]))) == 0.0


def test_bad_terrain_config_is_named() -> None:
    with pytest.raises(ValueError, match="unknown terrain type.*'lava'"):
        make_terrain(TerrainConfig(types=("flat", "lava")))
    with pytest.raises(ValueError, match="init_max_level"):
        make_terrain(TerrainConfig(num_levels=2, init_max_level=2))
    with pytest.raises(ValueError, match="unknown contact set 'elbows'"):
        make_scene(make_terrain(TerrainConfig()), contact="elbows")
    with pytest.raises(ValueError, match="unknown solver 'pgs'"):
        make_scene(make_terrain(TerrainConfig()), solver="pgs")


def test_tile_under_names_the_tile_a_point_stands_on() -> None:
    """Render captions name the ground: a tile's (type, level) from its centre, the border as None."""
    cfg = TerrainConfig(types=("flat", "rough", "steps"), num_levels=3)
    centres = np.asarray(make_terrain(cfg).tile_centres)
    for level in range(3):
        for column, kind in enumerate(cfg.types):
            assert tile_under(cfg, centres[level, column]) == (kind, level)
    assert tile_under(cfg, np.array([-0.5, 4.0])) is None
    assert tile_under(cfg, np.array([4.0, 3 * cfg.tile_size + 0.5])) is None
