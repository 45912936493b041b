"""Exchange energy, e = A |∇m|², discretised on nearest-neighbour bonds (5-point Laplacian field)."""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Magnetisation, Scalar
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
