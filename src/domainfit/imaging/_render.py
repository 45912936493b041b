"""The imaging model: a simulated m_z → the image a microscope records."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ._image import check_pixel_size
from ._scale import apply_overlap, integer_ratio, as_pair, area_average, overlap_matrix

FWHM_PER_SIGMA: float = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""FWHM = 2√(2 ln 2) σ ≈ 2.3548 σ for a Gaussian."""


def gaussian_blur(image: Float[Array, "... ny nx"], cell_size: float, fwhm) -> Float[Array, "... ny nx"]:
    """Periodic Gaussian blur of FWHM ``fwhm`` [m] (may be traced) on a grid of ``cell_size`` [m].

    Multiplies the spectrum by the PSF's transfer function exp(−2π² σ² |k|²), σ = FWHM/2.3548,
    k in cycles/m: exact for a periodic simulation cell, differentiable in the image and the FWHM.
    """
    ny, nx = image.shape[-2:]
    ky = np.fft.fftfreq(ny, d=cell_size)[:, None]
    kx = np.fft.rfftfreq(nx, d=cell_size)[None, :]
    sigma = jnp.asarray(fwhm, dtype=image.dtype) / FWHM_PER_SIGMA
    transfer = jnp.exp(-2.0 * np.pi**2 * sigma**2 * jnp.asarray(kx**2 + ky**2, dtype=image.dtype))
    return jnp.fft.irfft2(jnp.fft.rfft2(image) * transfer, s=(ny, nx)).astype(image.dtype)


def render(
    mz: Float[Array, "... ny nx"],
    cell_size: float,
    *,
    pixel_size: float | None = None,
    field_of_view=None,
    blur_fwhm=0.0,
    contrast=1.0,
    offset=0.0,
    noise=0.0,
    key: Key[Array, ""] | None = None,
) -> Float[Array, "... py px"]:
    """Render m_z on the simulation grid as a microscope image.

    image = contrast · A[G_w * m_z] + offset + noise · ξ, where G_w is the Gaussian point-spread
    function of FWHM w (``blur_fwhm`` [m], applied on the periodic simulation grid), A is area
    integration over detector pixels of side ``pixel_size`` [m] (default: cell_size) covering
    ``field_of_view`` [m] (one length or (Ly, Lx), default: the whole grid, starting at the grid
    origin) and ξ ~ N(0, 1) independently per pixel (needs ``key``; ``noise`` is its standard
    deviation in contrast units). When pixel_size is an integer multiple of ``cell_size`` [m], A is
    the exact block mean ``area_average``; otherwise exact area weighting (``overlap_matrix``).

    Sizes and lengths are static; blur_fwhm, contrast, offset and noise may be traced (then the
    blur and noise steps always run). Differentiable in m_z and those four; vmap over a leading axis.
    """
    cell_size = check_pixel_size(cell_size, "cell size")
    pixel_size = cell_size if pixel_size is None else check_pixel_size(pixel_size)
    mz = jnp.asarray(mz)
    ny, nx = mz.shape[-2:]
    grid_y, grid_x = ny * cell_size, nx * cell_size
    fy, fx = as_pair((grid_y, grid_x) if field_of_view is None else field_of_view, "field of view")
    fy, fx = float(fy), float(fx)
    if not (0 < fy <= grid_y * (1 + 1e-9) and 0 < fx <= grid_x * (1 + 1e-9)):
        raise DomainfitError(
            f"field of view {fy * 1e9:.4g}×{fx * 1e9:.4g} nm does not fit in the simulation "
            f"({grid_y * 1e9:.4g}×{grid_x * 1e9:.4g} nm): simulate a larger grid"
        )
    out_y, out_x = math.floor(fy / pixel_size + 1e-6), math.floor(fx / pixel_size + 1e-6)
    if out_y < 1 or out_x < 1:
        raise DomainfitError(f"pixel size {pixel_size:g} m is larger than the field of view")

    image = mz
    if not (isinstance(blur_fwhm, (int, float)) and blur_fwhm == 0):
        if isinstance(blur_fwhm, (int, float)) and not (math.isfinite(blur_fwhm) and blur_fwhm > 0):
            raise DomainfitError(f"blur FWHM {blur_fwhm!r} m: need a finite non-negative length")
        image = gaussian_blur(image, cell_size, blur_fwhm)

    factor = integer_ratio(pixel_size / cell_size)
    if factor is not None and out_y * factor <= ny and out_x * factor <= nx:
        image = area_average(image[..., : out_y * factor, : out_x * factor], factor)
    else:
        wy = overlap_matrix(ny, cell_size, out_y, pixel_size).astype(image.dtype)
        wx = overlap_matrix(nx, cell_size, out_x, pixel_size).astype(image.dtype)
        image = apply_overlap(image, wy, wx)

    image = contrast * image + offset
    if key is not None:
        image = image + noise * jax.random.normal(key, image.shape, dtype=image.dtype)
    elif not (isinstance(noise, (int, float)) and noise == 0):
        raise DomainfitError("render with noise needs a random key: render(..., noise=0.05, key=jax.random.key(0))")
    return image
