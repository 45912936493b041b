"""Demagnetising energy of a periodic thin film by FFT (continuum, thickness-averaged kernel).

With f(x) = (1 − e^{−x})/x and k the in-plane wave vector, the thickness-averaged field is
H_z(k) = −Ms f(kt) m_z(k) and H_∥(k) = −Ms (1 − f(kt)) k̂ (k̂·m_∥(k)); k = 0 gives H_z = −Ms⟨m_z⟩.
The energy E = −(μ0 Ms V/2) Σ_i m_i·H_i is, by Parseval on the rfft2 half-plane,
E = (μ0 Ms² V / 2N) Σ_k w_k [f(kt)|m̂_z(k)|² + (1 − f(kt))|k̂·m̂_∥(k)|²]   (w_k: 1 or 2, see Grid).
A uniform perpendicular state has e = μ0 Ms²/2 per volume, the thin-film limit.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._types import Field, Magnetisation, Scalar
from ..units import MU0
from .grid import Grid
from .material import Material


def _unweighted_kernel(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """f(kt) and (1 − f(kt)) [k̂x², k̂y², 2 k̂x k̂y] on the rfft2 half-plane, float64.

    The cross term is set to zero on the Nyquist row and column, where k̂y (k̂x) has no sign: there
    the terms of k and its alias cancel in the energy, and zero keeps the field real and symmetric.
    """
    kx, ky = grid.rfft_wavevectors()
    k = np.sqrt(kx**2 + ky**2)
    x = k * grid.thickness
    safe_x = np.where(x > 0, x, 1.0)
    safe_k = np.where(k > 0, k, 1.0)
    f = np.where(x > 0, -np.expm1(-safe_x) / safe_x, 1.0)
    kxh = np.where(k > 0, kx / safe_k, 0.0)
    kyh = np.where(k > 0, ky / safe_k, 0.0)
    cross = 2 * kxh * kyh
    if grid.ny % 2 == 0:
        cross[grid.ny // 2, :] = 0.0
    if grid.nx % 2 == 0:
        cross[:, -1] = 0.0
    g = 1.0 - f
    return f, np.stack([g * kxh**2, g * kyh**2, g * cross])


def kernel(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Energy kernels on the rfft2 half-plane weighted by w_k: (w f, w (1 − f)[k̂x², k̂y², 2k̂xk̂y]).

    Shapes (ny, nx//2+1) and (3, ny, nx//2+1); w_k are the half-plane weights of ``Grid``.
    Computed with NumPy in float64 once per grid (the grid is static), so it is a constant under jit.
    """
    f, par = _unweighted_kernel(grid)
    w = grid.rfft_weights()
    return w * f, w * par


def energy(m: Magnetisation, material: Material, grid: Grid) -> Scalar:
    """Demagnetising energy [J] of the periodic film (formula in the module docstring)."""
    kzz, kpar = kernel(grid)
    mk = jnp.fft.rfft2(m)  # (3, ny, nx//2+1), unnormalised
    dtype = m.dtype
    sq = lambda a: jnp.real(a) ** 2 + jnp.imag(a) ** 2
    cross = jnp.real(mk[0]) * jnp.real(mk[1]) + jnp.imag(mk[0]) * jnp.imag(mk[1])
    total = (
        jnp.sum(kzz.astype(dtype) * sq(mk[2]))
        + jnp.sum(kpar[0].astype(dtype) * sq(mk[0]))
        + jnp.sum(kpar[1].astype(dtype) * sq(mk[1]))
        + jnp.sum(kpar[2].astype(dtype) * cross)
    )
    return 0.5 * MU0 * material.Ms**2 * grid.cell_volume / grid.n_cells * total


def field(m: Magnetisation, material: Material, grid: Grid) -> Field:
    """Demagnetising field [A/m]: H_z = −Ms f m̂_z, H_∥ = −Ms (1 − f) k̂ (k̂·m̂_∥) in k-space."""
    f, par = _unweighted_kernel(grid)
    dtype = m.dtype
    f, kxx, kyy, kxy2 = (jnp.asarray(a, dtype) for a in (f, par[0], par[1], par[2]))
    mk = jnp.fft.rfft2(m)
    hx = kxx * mk[0] + 0.5 * kxy2 * mk[1]
    hy = 0.5 * kxy2 * mk[0] + kyy * mk[1]
    hz = f * mk[2]
    h = jnp.fft.irfft2(jnp.stack([hx, hy, hz]), s=grid.shape)
    return -material.Ms * h
