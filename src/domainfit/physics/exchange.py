"""Exchange energy, e = A |∇m|², discretised on nearest-neighbour bonds (5-point Laplacian field)."""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Field, Magnetisation, Scalar
from ..units import MU0
from .grid import Grid
from .material import Material


def energy(m: Magnetisation, material: Material, grid: Grid) -> Scalar:
    """Exchange energy [J]: E = A t Σ_i (|m_{i+x̂} − m_i|² + |m_{i+ŷ} − m_i|²), periodic.

    This is ∫ A|∇m|² dV with forward differences; V/dx² = t. Its field, −∂E/∂m/(μ0 Ms V),
    is the familiar (2A/(μ0 Ms)) ∇²m with the 5-point Laplacian.
    """
    dx = jnp.roll(m, -1, axis=-1) - m
    dy = jnp.roll(m, -1, axis=-2) - m
    return material.A * grid.thickness * (jnp.sum(dx**2) + jnp.sum(dy**2))


def field(m: Magnetisation, material: Material, grid: Grid) -> Field:
    """Exchange field [A/m], H = (2A/(μ0 Ms dx²)) Σ_neighbours (m_j − m_i): the gradient of ``energy``."""
    lap = jnp.roll(m, 1, axis=-1) + jnp.roll(m, -1, axis=-1) + jnp.roll(m, 1, axis=-2) + jnp.roll(m, -1, axis=-2) - 4 * m
    return (2 * material.A / (MU0 * material.Ms * grid.cell_size**2)) * lap
