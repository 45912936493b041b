"""Per-cell 3-vector algebra on fields laid out as (3, ny, nx).

Written component by component on purpose: XLA on CPU fuses these into one vectorised loop, while
a reduction over the leading axis of length 3 (``jnp.sum(a*b, axis=0)``) measured ~30× slower.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._types import Array, Float

Vec = Float[Array, "3 *cells"]


def dot(a: Vec, b: Vec) -> Float[Array, "*cells"]:
    """Per-cell a·b."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def cross(a: Vec, b: Vec) -> Vec:
    """Per-cell a × b."""
    return jnp.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def norm(a: Vec) -> Float[Array, "*cells"]:
    """Per-cell |a|."""
    return jnp.sqrt(dot(a, a))


def normalise(a: Vec) -> Vec:
    """Per-cell a/|a|."""
    return a * jax.lax.rsqrt(dot(a, a))[None]
