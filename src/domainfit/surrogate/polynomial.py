"""Polynomial features and ridge least squares: the regression the surrogates fit (emulator, presence)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float


def powers(d: int, degree: int) -> np.ndarray:
    """Exponent vectors of all monomials of total degree ≤ ``degree`` in ``d`` variables."""
    return np.array([p for p in itertools.product(range(degree + 1), repeat=d) if sum(p) <= degree], dtype=np.int32)


def features(x, powers) -> Float[Array, "... F"]:
    """Monomials Π x_i^{p_i} for each row of ``powers``; x in [−1, 1]ᵈ (works for numpy and jax)."""
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.prod(x[..., None, :] ** powers, axis=-1)


def ridge(phi: np.ndarray, y: np.ndarray, lam: float, w: np.ndarray | None = None):
    """Weighted ridge solution and (ΦᵀWΦ + λI)⁻¹."""
    if w is not None:
        phi, y = phi * w[:, None], y * w[:, None]
    gram = phi.T @ phi + lam * np.eye(phi.shape[1])
    gram_inv = np.linalg.inv(gram)
    return gram_inv @ (phi.T @ y), gram_inv
