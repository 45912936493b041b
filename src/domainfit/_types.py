"""Shared array-shape aliases.

Array layout, fixed once: a magnetisation field is ``m[c, y, x]`` with ``c`` the Cartesian component
(x, y, z), ``y`` the row index (ny rows) and ``x`` the column index (nx columns). Images are
``[y, x]``. A leading ``batch`` axis is added by ``vmap`` and never by the physics itself.
"""

from jaxtyping import Array, Bool, Float, Int, Key

Magnetisation = Float[Array, "3 ny nx"]
"""Unit-vector field m(r) = M(r)/Ms, dimensionless."""

Field = Float[Array, "3 ny nx"]
"""A vector field in A/m (effective field H_eff) or dimensionless when reduced by Ms."""

Scalar = Float[Array, ""]
CellMap = Float[Array, "ny nx"]
"""A per-cell scalar map, e.g. the grain noise ξ or m_z."""

__all__ = ["Array", "Bool", "CellMap", "Field", "Float", "Int", "Key", "Magnetisation", "Scalar"]
