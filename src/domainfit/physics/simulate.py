"""From parameters and a seed to a relaxed maze: random initial state, grain disorder, relaxation."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Key, Magnetisation
from .disorder import grain_noise
from .energy import ALL_TERMS
from .grid import Grid
from .material import Material
from . import vec
from .relax import BB, Minimiser, Relaxed, relax


def random_state(grid: Grid, *, key: Key[Array, ""], dtype=jnp.float32) -> Magnetisation:
    """Uniformly random unit vectors per cell (the 'demagnetised' start of a maze relaxation)."""
    v = jax.random.normal(key, (3, grid.ny, grid.nx), dtype=dtype)
    return vec.normalise(v)


def with_disorder(material: Material, grid: Grid, *, key: Key[Array, ""]) -> Material:
    """``material`` with a fresh grain-noise map ξ drawn from ``key`` (grain size from the material)."""
    xi = grain_noise(grid, material.grain_size, key=key, dtype=material.Ms.dtype)
    return eqx.tree_at(lambda mat: mat.xi, material, xi, is_leaf=lambda x: x is None)


def simulate(
    material: Material,
    grid: Grid,
    *,
    key: Key[Array, ""],
    tol: float = 1e-4,
    max_steps: int = 20_000,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: Minimiser = BB(),
    progress: bool = False,
) -> Relaxed:
    """Relax a random state of ``material`` on ``grid`` with grains, both drawn from ``key``.

    The same key gives the same initial state and the same grains (common random numbers), so the
    result is a deterministic, differentiable function of the material parameters.
    """
    key_state, key_grains = jax.random.split(key)
    material = with_disorder(material, grid, key=key_grains)
    m0 = random_state(grid, key=key_state, dtype=material.Ms.dtype)
    return relax(m0, material, grid, tol=tol, max_steps=max_steps, terms=terms, minimiser=minimiser, progress=progress)


def simulate_batch(
    materials: Material,
    grid: Grid,
    *,
    keys: Key[Array, " batch"],
    tol: float = 1e-4,
    max_steps: int = 20_000,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: Minimiser = BB(),
) -> Relaxed:
    """``simulate`` over a batch of keys; material leaves with a leading batch axis are batched too."""
    axes = _batch_axes(materials)
    def one(material, key):
        return simulate(material, grid, key=key, tol=tol, max_steps=max_steps, terms=terms, minimiser=minimiser)

    return jax.vmap(one, in_axes=(axes, 0))(materials, keys)


def _batch_axes(materials: Material) -> Material:
    """vmap axes for a Material: 0 for leaves with one more dimension than an unbatched material."""

    def axis(x, base_ndim):
        return None if x is None or jnp.ndim(x) == base_ndim else 0

    return Material(
        Ms=axis(materials.Ms, 0),
        A=axis(materials.A, 0),
        Ku=axis(materials.Ku, 0),
        D=axis(materials.D, 0),
        sigma=axis(materials.sigma, 0),
        H_ext=axis(materials.H_ext, 1),
        xi=axis(materials.xi, 2),
        dmi=materials.dmi,
        grain_size=materials.grain_size,
    )
