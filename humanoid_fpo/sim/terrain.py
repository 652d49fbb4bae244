"""Terrain: a heightfield of square tiles, one column per terrain type, one row per difficulty level.

Tile (level l, type t) is centred at ((t + 0.5)·S, (l + 0.5)·S) for tile size S, inside a flat
border. Every generator is zero along the tile's edges, so neighbouring tiles join without a
cliff; slopes and steps rise towards a flat platform at the tile centre, where episodes start.
`height_at` interpolates exactly as MuJoCo's heightfield is triangulated, so the height it gives
is the one the feet touch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from humanoid_fpo.sim.config import TerrainConfig, check_terrain


@dataclass(frozen=True)
class Terrain:
    heights: jax.Array  # (R, C) m; row r at y = origin[1] + r·spacing, column c at x = origin[0] + c·spacing
    tile_centres: jax.Array  # (L, T, 2) xy of tile (level, type)
    origin: tuple[float, float]
    spacing: float
    flat: bool

    @property
    def num_levels(self) -> int:
        return self.tile_centres.shape[0]


jax.tree_util.register_dataclass(Terrain, data_fields=["heights", "tile_centres"],
                                 meta_fields=["origin", "spacing", "flat"])


def make_terrain(cfg: TerrainConfig) -> Terrain:
    """Generate the heightfield (numpy arrays; the env moves them to the device)."""
    check_terrain(cfg, "terrain.")
    levels, types = cfg.num_levels, len(cfg.types)
    tile_n = _tile_cells(cfg)
    border_n = int(round(cfg.border / cfg.spacing))
    heights = np.zeros((levels * tile_n + 2 * border_n + 1, types * tile_n + 2 * border_n + 1))
    rng = np.random.default_rng(cfg.seed)
    u = (np.arange(tile_n + 1) * cfg.spacing - cfg.tile_size / 2)
    uu, vv = np.meshgrid(u, u)  # tile-local x (columns) and y (rows)
    for level in range(levels):
        difficulty = level / max(levels - 1, 1)
        for t, kind in enumerate(cfg.types):
            tile = _GENERATORS[kind](cfg, uu, vv, difficulty, rng)
            r0, c0 = border_n + level * tile_n, border_n + t * tile_n
            heights[r0:r0 + tile_n + 1, c0:c0 + tile_n + 1] = tile
    tile_size = tile_n * cfg.spacing
    centres = np.stack(np.meshgrid((np.arange(types) + 0.5) * tile_size,
                                   (np.arange(levels) + 0.5) * tile_size), axis=-1)
    origin = -border_n * cfg.spacing
    return Terrain(heights=heights.astype(np.float32), tile_centres=centres.astype(np.float32),
                   origin=(origin, origin), spacing=cfg.spacing, flat=not np.any(heights))


def at_level(cfg: TerrainConfig, level: int) -> TerrainConfig:
    """A one-level terrain as hard as `level` of cfg, without curriculum: evaluation at a fixed difficulty."""
    if not 0 <= level < cfg.num_levels:
        raise ValueError(f"terrain level {level} outside 0..{cfg.num_levels - 1}")
    difficulty = level / max(cfg.num_levels - 1, 1)
    fixed = lambda pair: (_lerp(pair, difficulty),) * 2
    return replace(cfg, num_levels=1, init_max_level=0, curriculum=False,
                   rough_amplitude=fixed(cfg.rough_amplitude), slope=fixed(cfg.slope),
                   wave_amplitude=fixed(cfg.wave_amplitude), step_height=fixed(cfg.step_height))


def _tile_cells(cfg: TerrainConfig) -> int:
    """Heightfield cells along a tile's side: tiles are laid on the grid, tile_size rounded to it."""
    return int(round(cfg.tile_size / cfg.spacing))


def tile_under(cfg: TerrainConfig, xy: np.ndarray) -> tuple[str, int] | None:
    """(terrain type, level) of the tile under the point xy (2,) m, None on the flat border."""
    size = _tile_cells(cfg) * cfg.spacing
    column, row = int(np.floor(xy[0] / size)), int(np.floor(xy[1] / size))
    if 0 <= column < len(cfg.types) and 0 <= row < cfg.num_levels:
        return cfg.types[column], row
    return None


def ground_caption(cfg: TerrainConfig, xy: np.ndarray, level: int | None = None) -> str:
    """A caption naming the tile under xy (2,) m: its type and level (`level` where the terrain is one
    fixed level, `at_level`, whose only row is 0)."""
    tile = tile_under(cfg, xy)
    if tile is None:
        return "on the flat border"
    return f"on {tile[0]}, level {tile[1] if level is None else level}"


def _lerp(pair: tuple[float, float], difficulty: float) -> float:
    return pair[0] + difficulty * (pair[1] - pair[0])


def _edge_distance(cfg: TerrainConfig, uu: np.ndarray, vv: np.ndarray) -> np.ndarray:
    """Distance inwards from the tile edge, capped at the centre platform."""
    return np.minimum(cfg.tile_size / 2 - np.maximum(np.abs(uu), np.abs(vv)),
                      cfg.tile_size / 2 - cfg.platform)


def _flat(cfg, uu, vv, difficulty, rng):
    return np.zeros_like(uu)


def _rough(cfg, uu, vv, difficulty, rng):
    noise = rng.uniform(-1.0, 1.0, uu.shape) * _lerp(cfg.rough_amplitude, difficulty)
    edge = np.maximum(np.abs(uu), np.abs(vv)) >= cfg.tile_size / 2 - 1e-9
    return np.where(edge, 0.0, noise)


def _slopes(cfg, uu, vv, difficulty, rng):
    return _lerp(cfg.slope, difficulty) * _edge_distance(cfg, uu, vv)


def _waves(cfg, uu, vv, difficulty, rng):
    length = cfg.tile_size / max(round(cfg.tile_size / cfg.wave_length), 1)  # whole waves per tile
    k = 2 * np.pi / length
    return _lerp(cfg.wave_amplitude, difficulty) * np.sin(k * uu) * np.sin(k * vv)


def _steps(cfg, uu, vv, difficulty, rng):
    return _lerp(cfg.step_height, difficulty) * np.floor(_edge_distance(cfg, uu, vv) / cfg.step_width)


_GENERATORS = {"flat": _flat, "rough": _rough, "slopes": _slopes, "waves": _waves, "steps": _steps}


def height_at(terrain: Terrain, xy: jax.Array) -> jax.Array:
    """Ground height (...) under points xy (..., 2), on MuJoCo's triangles; the edge height outside."""
    rows, cols = terrain.heights.shape
    c = jnp.clip((xy[..., 0] - terrain.origin[0]) / terrain.spacing, 0.0, cols - 1.0)
    r = jnp.clip((xy[..., 1] - terrain.origin[1]) / terrain.spacing, 0.0, rows - 1.0)
    c0 = jnp.minimum(jnp.floor(c).astype(jnp.int32), cols - 2)
    r0 = jnp.minimum(jnp.floor(r).astype(jnp.int32), rows - 2)
    fx, fy = c - c0, r - r0
    h = terrain.heights
    h00, h10, h01, h11 = h[r0, c0], h[r0, c0 + 1], h[r0 + 1, c0], h[r0 + 1, c0 + 1]
    # Each cell is split along its (c, r)-(c+1, r+1) diagonal.
    upper = h00 + fx * (h11 - h01) + fy * (h01 - h00)
    lower = h00 + fx * (h10 - h00) + fy * (h11 - h10)
    return jnp.where(fy >= fx, upper, lower)


def hfield_geometry(terrain: Terrain) -> dict:
    """MuJoCo heightfield asset fields and geom position that reproduce `terrain.heights`."""
    h = np.asarray(terrain.heights, dtype=np.float64)
    rows, cols = h.shape
    low, span = h.min(), max(h.max() - h.min(), 1e-3)
    half_x, half_y = (cols - 1) * terrain.spacing / 2, (rows - 1) * terrain.spacing / 2
    return {"nrow": rows, "ncol": cols, "size": [half_x, half_y, span, 1.0],
            "userdata": ((h - low) / span).ravel().tolist(),
            "pos": [terrain.origin[0] + half_x, terrain.origin[1] + half_y, low]}
