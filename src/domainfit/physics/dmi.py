"""Dzyaloshinskii–Moriya interaction, interfacial (Néel) or bulk (Bloch), on nearest-neighbour bonds.

Bond form E = D t dx Σ_bonds d_ij · (m_i × m_j) with d_ij per bond direction:
interfacial d = ẑ × r̂_ij (d_x = ŷ, d_y = −x̂), whose continuum limit is
e = D [m_z ∇·m − (m·∇) m_z]; bulk d = −r̂_ij, continuum e = D m·(∇×m).
Summing m_i × m_{i+1} over forward bonds equals the central-difference discretisation of the
continuum energy exactly (periodic grid), so there is no second convention to keep in step.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Field, Magnetisation, Scalar
from ..units import MU0
from .grid import Grid
from .material import Material


def energy(m: Magnetisation, material: Material, grid: Grid) -> Scalar:
    """DMI energy [J] for ``material.dmi`` of "interfacial" or "bulk"."""
    mx, my, mz = m[0], m[1], m[2]
    nx_ = jnp.roll(m, -1, axis=-1)  # neighbour at +x
    ny_ = jnp.roll(m, -1, axis=-2)  # neighbour at +y
    if material.dmi == "interfacial":
        bond_x = mz * nx_[0] - mx * nx_[2]  # ŷ · (m_i × m_{i+x})
        bond_y = mz * ny_[1] - my * ny_[2]  # −x̂ · (m_i × m_{i+y})
    else:
        bond_x = mz * nx_[1] - my * nx_[2]  # −x̂ · (m_i × m_{i+x})
        bond_y = mx * ny_[2] - mz * ny_[0]  # −ŷ · (m_i × m_{i+y})
    return material.D * grid.thickness * grid.cell_size * jnp.sum(bond_x + bond_y)


def field(m: Magnetisation, material: Material, grid: Grid) -> Field:
    """DMI field [A/m], the gradient of ``energy`` in closed form.

    With Δ_x m = m_{i+x̂} − m_{i−x̂} (and Δ_y likewise), −∂E/∂m_i/(μ0 Ms V) gives
    interfacial: H = D/(μ0 Ms dx) (Δ_x m_z, Δ_y m_z, −Δ_x m_x − Δ_y m_y),
    bulk:        H = D/(μ0 Ms dx) (−Δ_y m_z, Δ_x m_z, Δ_y m_x − Δ_x m_y),
    i.e. the central-difference forms of (2D/μ0Ms)(∇m_z − ẑ ∇·m) and −(2D/μ0Ms) ∇×m.
    """
    ddx = jnp.roll(m, -1, axis=-1) - jnp.roll(m, 1, axis=-1)
    ddy = jnp.roll(m, -1, axis=-2) - jnp.roll(m, 1, axis=-2)
    if material.dmi == "interfacial":
        h = jnp.stack([ddx[2], ddy[2], -ddx[0] - ddy[1]])
    else:
        h = jnp.stack([-ddy[2], ddx[2], ddy[0] - ddx[1]])
    return (material.D / (MU0 * material.Ms * grid.cell_size)) * h
