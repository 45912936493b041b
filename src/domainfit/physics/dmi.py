"""Dzyaloshinskii–Moriya interaction, interfacial (Néel) or bulk (Bloch), on nearest-neighbour bonds.

Bond form E = D t dx Σ_bonds d_ij · (m_i × m_j) with d_ij per bond direction:
interfacial d = ẑ × r̂_ij (d_x = ŷ, d_y = −x̂), whose continuum limit is
e = D [m_z ∇·m − (m·∇) m_z]; bulk d = −r̂_ij, continuum e = D m·(∇×m).
Summing m_i × m_{i+1} over forward bonds equals the central-difference discretisation of the
continuum energy exactly (periodic grid), so there is no second convention to keep in step.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._types import Magnetisation, Scalar
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
