"""Uniaxial anisotropy along z with grain-wise dispersion, e = −Ku_i m_z²."""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Field, Magnetisation, Scalar
from ..units import MU0
from .grid import Grid
from .material import Material


def energy(m: Magnetisation, material: Material, grid: Grid) -> Scalar:
    """Anisotropy energy [J]: E = −V Σ_i Ku (1 + σ ξ_i) m_{z,i}², V the cell volume.

    A uniform state along ±z has E = −Ku V N (ξ has zero mean per grain, not per sample).
    """
    return -grid.cell_volume * jnp.sum(material.Ku_map() * m[2] ** 2)


def field(m: Magnetisation, material: Material, grid: Grid) -> Field:
    """Anisotropy field [A/m], H = (2 Ku_i/(μ0 Ms)) m_z ẑ: the gradient of ``energy``."""
    hz = 2 * material.Ku_map() * m[2] / (MU0 * material.Ms)
    zero = jnp.zeros_like(hz)
    return jnp.stack([zero, zero, hz])
