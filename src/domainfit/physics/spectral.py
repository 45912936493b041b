"""The reduced effective field with every translation-invariant term applied in k-space, one FFT pair.

Exchange (5-point Laplacian), both DMI kinds (central differences) and the thin-film demag kernel are
linear in m and invariant under lattice translations, so on the periodic grid each is a multiplication
of m̂(k) = rfft2(m) by its symbol. The symbols are those of the real-space stencils exactly:
a shift m_{i+x̂} is e^{i k_x dx} m̂, so
  Laplacian  m_{i+x̂} + m_{i−x̂} + m_{i+ŷ} + m_{i−ŷ} − 4 m_i  →  −4 [sin²(k_x dx/2) + sin²(k_y dx/2)] m̂,
  central difference  m_{i+x̂} − m_{i−x̂}  →  2i sin(k_x dx) m̂,
and the demag symbol is ``demag``'s. Their sum is one Hermitian 3×3 symbol per k; the grain-wise
anisotropy (not translation invariant) is added in real space, the applied field as the k = 0 mode. The result is
``energy.reduced_field`` term by term in exact arithmetic and to float32 rounding in practice
(``tests/test_field.py``); it costs the demag term's FFTs alone (one ``rfft2`` and one ``irfft2`` of
the 3 components) instead of those plus the exchange and DMI stencils (measured at 512² on one core:
field 12.8–14.4 → 10.7–11.2 ms). The minimisers use it when ``field="spectral"``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._types import Field, Magnetisation
from ..units import MU0
from . import demag
from .energy import check_terms
from .grid import Grid
from .material import Material

SPECTRAL_TERMS = ("exchange", "dmi", "demag")
"""Terms applied in k-space; anisotropy is added in real space, the applied field as the k = 0 mode."""


def laplacian_symbol(grid: Grid) -> np.ndarray:
    """k̃² = (4/dx²)[sin²(k_x dx/2) + sin²(k_y dx/2)] [1/m²], minus the 5-point Laplacian's symbol,
    on the ``rfft2`` half-plane (float64)."""
    kx, ky = grid.rfft_wavevectors()
    h = grid.cell_size
    return (4.0 / h**2) * (np.sin(0.5 * kx * h) ** 2 + np.sin(0.5 * ky * h) ** 2)


def _symbols(grid: Grid) -> dict[str, np.ndarray]:
    """Real symbols on the ``rfft2`` half-plane (float64, static per grid)."""
    kx, ky = grid.rfft_wavevectors()
    h = grid.cell_size
    lap = -laplacian_symbol(grid) * h**2  # dimensionless (× 1/dx²)
    sx = np.broadcast_to(2.0 * np.sin(kx * h), lap.shape)  # central difference / i
    sy = np.broadcast_to(2.0 * np.sin(ky * h), lap.shape)
    f, par = demag._unweighted_kernel(grid)
    return dict(lap=lap, sx=sx, sy=sy, f=f, kxx=par[0], kyy=par[1], kxy=0.5 * par[2])


def spectral_reduced_field(
    m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...]
) -> Field:
    """Reduced effective field h = H_eff/Ms of the named ``terms`` (dimensionless), k-space fast path."""
    terms = check_terms(terms)
    dtype = m.dtype
    sym = {k: jnp.asarray(v, dtype) for k, v in _symbols(grid).items()}
    ms2 = MU0 * material.Ms**2
    h = jnp.zeros_like(m)
    if any(t in terms for t in SPECTRAL_TERMS):
        mk = jnp.fft.rfft2(m)
        zero = jnp.zeros(sym["lap"].shape, dtype)
        # real diagonal and in-plane coupling; imaginary (odd) couplings to and from m_z
        diag_xy, diag_z, cxy = zero, zero, zero
        if "exchange" in terms:
            a = (2.0 * material.A / (ms2 * grid.cell_size**2)).astype(dtype)
            diag_xy = diag_xy + a * sym["lap"]
            diag_z = diag_z + a * sym["lap"]
        if "demag" in terms:
            diag_z = diag_z - sym["f"]
            cxy = cxy - sym["kxy"]
            kxx, kyy = -sym["kxx"], -sym["kyy"]
        else:
            kxx = kyy = zero
        hx = (diag_xy + kxx) * mk[0] + cxy * mk[1]
        hy = cxy * mk[0] + (diag_xy + kyy) * mk[1]
        hz = diag_z * mk[2]
        if "dmi" in terms:
            c = (material.D / (ms2 * grid.cell_size)).astype(dtype)
            ix, iy = 1j * c * sym["sx"], 1j * c * sym["sy"]
            if material.dmi == "interfacial":  # (Δx m_z, Δy m_z, −Δx m_x − Δy m_y)
                hx, hy, hz = hx + ix * mk[2], hy + iy * mk[2], hz - ix * mk[0] - iy * mk[1]
            else:  # bulk: (−Δy m_z, Δx m_z, Δy m_x − Δx m_y)
                hx, hy, hz = hx - iy * mk[2], hy + ix * mk[2], hz + iy * mk[0] - ix * mk[1]
        hk = jnp.stack([hx, hy, hz])
        if "zeeman" in terms:  # a uniform field is the k = 0 mode (unnormalised transform: × N)
            hk = hk.at[:, 0, 0].add((grid.n_cells * material.H_ext / material.Ms).astype(dtype))
        h = jnp.fft.irfft2(hk, s=grid.shape).astype(dtype)
    elif "zeeman" in terms:
        h = h + (material.H_ext / material.Ms).astype(dtype)[:, None, None]
    if "anisotropy" in terms:
        hz_anis = 2.0 * material.Ku_map() * m[2] / ms2
        h = h.at[2].add(hz_anis.astype(dtype))
    return h
