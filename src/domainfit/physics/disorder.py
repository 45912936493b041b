"""Grain structure and anisotropy dispersion.

Grains are the Voronoi cells of a jittered lattice of seeds (one seed placed uniformly at random in
each square of side ≈ grain size), periodic like the grid. Each grain g draws ξ_g ~ N(0, 1); the
anisotropy of a cell in grain g is Ku (1 + σ ξ_g), so the dispersion σ = ΔKu/Ku stays a plain
differentiable multiplier of a fixed noise map (common random numbers for inference).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .._types import Array, Float, Int, Key
from .grid import Grid


@partial(jax.jit, static_argnames=("grid", "grain_size"))
def grain_map(grid: Grid, grain_size: float, *, key: Key[Array, ""]) -> Int[Array, "ny nx"]:
    """Label of the grain each cell belongs to (periodic Voronoi tessellation of jittered seeds)."""
    lx, ly = grid.size
    gx = max(1, round(lx / grain_size))
    gy = max(1, round(ly / grain_size))
    cx, cy = lx / gx, ly / gy
    offsets = jax.random.uniform(key, (2, gy, gx))
    seed_x = (jnp.arange(gx)[None, :] + offsets[0]) * cx
    seed_y = (jnp.arange(gy)[:, None] + offsets[1]) * cy

    x = (jnp.arange(grid.nx) + 0.5) * grid.cell_size
    y = (jnp.arange(grid.ny) + 0.5) * grid.cell_size
    ci = jnp.floor(x / cx).astype(int)[None, :]
    cj = jnp.floor(y / cy).astype(int)[:, None]

    best_d2 = jnp.full(grid.shape, jnp.inf)
    best_label = jnp.zeros(grid.shape, dtype=int)
    # A jittered seed is within √2 of a coarse square of its point, so seeds beyond two squares away
    # can never be nearer: a 5×5 neighbourhood is exact.
    for dj in range(-2, 3):
        for di in range(-2, 3):
            i = (ci + di) % gx
            j = (cj + dj) % gy
            dx = x[None, :] - seed_x[j, i]
            dy = y[:, None] - seed_y[j, i]
            dx = dx - lx * jnp.round(dx / lx)
            dy = dy - ly * jnp.round(dy / ly)
            d2 = dx**2 + dy**2
            closer = d2 < best_d2
            best_d2 = jnp.where(closer, d2, best_d2)
            best_label = jnp.where(closer, j * gx + i, best_label)
    return best_label


def grain_noise(
    grid: Grid, grain_size: float = 20e-9, *, key: Key[Array, ""], dtype=jnp.float32
) -> Float[Array, "ny nx"]:
    """Unit grain noise ξ per cell: one N(0, 1) draw per grain, broadcast over the grain's cells."""
    key_map, key_xi = jax.random.split(key)
    labels = grain_map(grid, float(grain_size), key=key_map)
    lx, ly = grid.size
    n_grains = max(1, round(lx / grain_size)) * max(1, round(ly / grain_size))
    values = jax.random.normal(key_xi, (n_grains,), dtype=dtype)
    return values[labels]
