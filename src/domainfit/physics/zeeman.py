"""Zeeman energy in the applied field, e = −μ0 Ms m·H."""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Field, Magnetisation, Scalar
from ..units import MU0
from .grid import Grid
from .material import Material


def energy(m: Magnetisation, material: Material, grid: Grid) -> Scalar:
    """Zeeman energy [J]: E = −μ0 Ms V Σ_i m_i · H_ext."""
    return -MU0 * material.Ms * grid.cell_volume * jnp.sum(m * material.H_ext[:, None, None])


def field(m: Magnetisation, material: Material, grid: Grid) -> Field:
    """The applied field H_ext [A/m] in every cell."""
    return jnp.broadcast_to(material.H_ext[:, None, None], m.shape).astype(m.dtype)
