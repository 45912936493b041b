"""Scale handling: area averaging, area-weighted resampling by physical pixel size, tiles, random
(multi-scale) crops and the 8 rot90/flip symmetries. All act on the last two axes [..., y, x],
are differentiable in the image and jit-able (sizes are static)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError

_HIGHEST = jax.lax.Precision.HIGHEST  # no TF32/bfloat16 passes on GPUs: averages must stay exact


def integer_ratio(ratio: float, rtol: float = 1e-6) -> int | None:
    """``ratio`` as a positive integer when it is one (to rtol), else None."""
    n = round(ratio)
    return int(n) if n >= 1 and abs(ratio - n) <= rtol * max(1.0, ratio) else None


def area_average(image: Float[Array, "... ny nx"], factor: int) -> Float[Array, "... ny//factor nx//factor"]:
    """Mean over non-overlapping ``factor`` × ``factor`` blocks (what a detector pixel of side
    factor × cell integrates). Rows/columns beyond the last whole block are dropped."""
    if not (isinstance(factor, (int, np.integer)) and factor >= 1):
        raise DomainfitError(f"area-average factor {factor!r}: need a positive integer")
    image = jnp.asarray(image)
    ny, nx = image.shape[-2] // factor, image.shape[-1] // factor
    if ny < 1 or nx < 1:
        raise DomainfitError(f"image {image.shape[-2:]} is smaller than one {factor}×{factor} block")
    block = image[..., : ny * factor, : nx * factor].reshape(*image.shape[:-2], ny, factor, nx, factor)
    return block.mean(axis=(-3, -1))


def overlap_matrix(n_in: int, size_in: float, n_out: int, size_out: float, origin: float = 0.0) -> np.ndarray:
    """W[i, j] = |output pixel i ∩ input pixel j| / size_out (1D, lengths in any common unit).

    Output pixel i spans [origin + i size_out, origin + (i+1) size_out], input pixel j spans
    [j size_in, (j+1) size_in]. Applying W along y and x, ``W_y @ image @ W_xᵀ``, is exact area
    weighting of square pixels (rows sum to 1 inside the input).
    """
    lo_out = origin + size_out * np.arange(n_out)[:, None]
    lo_in = size_in * np.arange(n_in)[None, :]
    overlap = np.minimum(lo_out + size_out, lo_in + size_in) - np.maximum(lo_out, lo_in)
    return np.clip(overlap, 0.0, None) / size_out


def apply_overlap(image, wy, wx):
    return jnp.einsum("ij,...jk,lk->...il", wy, image, wx, precision=_HIGHEST)


def resample(
    image: Float[Array, "... ny nx"], pixel_size: float, target_pixel_size: float
) -> Float[Array, "... my mx"]:
    """Resample to ``target_pixel_size`` [m] by exact area weighting, keeping the field of view.

    The output has m = floor(n · pixel_size / target_pixel_size) pixels per axis (a partial last
    pixel is dropped). An integer ratio target/pixel_size is ``area_average`` (bit-exact); an
    integer upsampling repeats pixels; any other ratio uses the overlap matrices of
    ``overlap_matrix``. Linear, hence differentiable, in the image.
    """
    from ._image import check_pixel_size

    pixel_size, target_pixel_size = check_pixel_size(pixel_size), check_pixel_size(target_pixel_size, "target pixel size")
    image = jnp.asarray(image)
    ny, nx = image.shape[-2:]
    factor = integer_ratio(target_pixel_size / pixel_size)
    if factor is not None:
        return area_average(image, factor)
    up = integer_ratio(pixel_size / target_pixel_size)
    if up is not None:
        return jnp.repeat(jnp.repeat(image, up, axis=-2), up, axis=-1)
    my = math.floor(ny * pixel_size / target_pixel_size + 1e-9)
    mx = math.floor(nx * pixel_size / target_pixel_size + 1e-9)
    if my < 1 or mx < 1:
        raise DomainfitError(f"target pixel size {target_pixel_size:g} m is larger than the image")
    wy = overlap_matrix(ny, pixel_size, my, target_pixel_size).astype(image.dtype)
    wx = overlap_matrix(nx, pixel_size, mx, target_pixel_size).astype(image.dtype)
    return apply_overlap(image, wy, wx)


def as_pair(value, what: str) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise DomainfitError(f"{what} {value!r}: give one value or a pair (y, x)")
        return tuple(value)
    return (value, value)


def tiles(image: Float[Array, "ny nx"], pixel_size: float, field_of_view) -> Float[Array, "n h w"]:
    """Crops of ``field_of_view`` [m] (one length, or (Ly, Lx)) covering the whole image.

    Crop sides are round(field_of_view / pixel_size) pixels. Along each axis, n = ceil(N / h) crops
    start at evenly spread offsets from 0 to N − h: non-overlapping when h divides N, overlapping
    just enough to cover the image otherwise. Order: row-major over (y, x) offsets.
    """
    image = jnp.asarray(image)
    ny, nx = image.shape[-2:]
    fy, fx = as_pair(field_of_view, "field of view")
    h, w = round(float(fy) / pixel_size), round(float(fx) / pixel_size)
    if h < 1 or w < 1 or h > ny or w > nx:
        raise DomainfitError(
            f"tile field of view {fy:g}×{fx:g} m = {h}×{w} px does not fit in the {ny}×{nx} px image"
        )
    starts_y = np.round(np.linspace(0, ny - h, math.ceil(ny / h - 1e-9))).astype(int)
    starts_x = np.round(np.linspace(0, nx - w, math.ceil(nx / w - 1e-9))).astype(int)
    return jnp.stack([image[..., y : y + h, x : x + w] for y in starts_y for x in starts_x], axis=-3)


def _traced_overlap(n_in: int, n_out: int, origin, span):
    """``overlap_matrix`` in input-pixel units with traced origin and span (crop length)."""
    s = span / n_out
    lo_out = origin + s * jnp.arange(n_out)[:, None]
    lo_in = jnp.arange(n_in)[None, :]
    overlap = jnp.minimum(lo_out + s, lo_in + 1.0) - jnp.maximum(lo_out, lo_in)
    return jnp.clip(overlap, 0.0, None) / s


def random_crop(
    image: Float[Array, "... ny nx"],
    pixel_size: float,
    *,
    field_of_view,
    out_pixels,
    key: Key[Array, ""],
    snap: bool = True,
) -> Float[Array, "... out_y out_x"]:
    """A crop of ``field_of_view`` [m] (one length or (Ly, Lx); may be traced) at a uniformly random
    position, area-weighted to ``out_pixels`` (int or (h, w)). Its pixel size is
    field_of_view / out_pixels. With ``snap`` the crop starts on a whole input pixel, so a crop
    whose output pixel is an integer number of input pixels is an exact area average."""
    image = jnp.asarray(image)
    ny, nx = image.shape[-2:]
    fy, fx = as_pair(field_of_view, "field of view")
    oy, ox = as_pair(out_pixels, "out_pixels")
    if not all(isinstance(v, (int, np.integer)) and v >= 1 for v in (oy, ox)):
        raise DomainfitError(f"out_pixels {out_pixels!r}: need positive integers")
    span_y, span_x = jnp.asarray(fy) / pixel_size, jnp.asarray(fx) / pixel_size
    for span, n, what in ((fy, ny, "y"), (fx, nx, "x")):
        if isinstance(span, (int, float)) and not 0 < span / pixel_size <= n * (1 + 1e-9):
            raise DomainfitError(f"crop field of view {span:g} m does not fit along {what} ({n} px of {pixel_size:g} m)")
    ky, kx = jax.random.split(key)
    y0 = jax.random.uniform(ky, (), minval=0.0, maxval=1.0) * jnp.maximum(ny - span_y, 0.0)
    x0 = jax.random.uniform(kx, (), minval=0.0, maxval=1.0) * jnp.maximum(nx - span_x, 0.0)
    if snap:
        y0, x0 = jnp.floor(y0), jnp.floor(x0)
    wy = _traced_overlap(ny, oy, y0, span_y).astype(image.dtype)
    wx = _traced_overlap(nx, ox, x0, span_x).astype(image.dtype)
    return apply_overlap(image, wy, wx)


def multiscale_crop(
    image: Float[Array, "... ny nx"],
    pixel_size: float,
    *,
    out_pixels: int,
    key: Key[Array, ""],
    fov_range: tuple[float, float] = (0.5e-6, 2.0e-6),
) -> tuple[Float[Array, "... out out"], Float[Array, ""]]:
    """Square crop with a log-uniform random field of view in ``fov_range`` [m] (capped by the
    image), area-weighted to ``out_pixels``²: the multi-scale augmentation. Returns (crop, its pixel
    size [m] = field of view / out_pixels)."""
    image = jnp.asarray(image)
    side = min(image.shape[-2:]) * pixel_size
    lo, hi = fov_range
    if not 0 < lo <= hi:
        raise DomainfitError(f"field-of-view range {fov_range}: need 0 < low ≤ high (metres)")
    if lo > side * (1 + 1e-9):
        raise DomainfitError(f"image side {side:g} m is smaller than the smallest crop {lo:g} m")
    hi = min(hi, side)
    k_fov, k_crop = jax.random.split(key)
    fov = jnp.exp(jax.random.uniform(k_fov, (), minval=math.log(lo), maxval=math.log(hi)))
    crop = random_crop(image, pixel_size, field_of_view=fov, out_pixels=out_pixels, key=k_crop)
    return crop, fov / out_pixels


def _element(image, k: int):
    out = jnp.rot90(image, k % 4, axes=(-2, -1))
    return jnp.flip(out, axis=-1) if k >= 4 else out


def dihedral(image: Float[Array, "... ny nx"], k) -> Float[Array, "... my mx"]:
    """Element ``k`` (0–7) of the symmetry group of the square: rot90 by k mod 4 quarter turns
    (counter-clockwise), followed for k ≥ 4 by a left–right flip. k = 0 is the identity.

    ``k`` may be a traced integer (a square image then: every element keeps its shape), as training's
    augmentation draws it (``data.augment``)."""
    image = jnp.asarray(image)
    if isinstance(k, jax.Array) and not isinstance(k, jax.core.Tracer) and k.ndim == 0:
        k = int(k)
    if isinstance(k, (int, np.integer)):
        if not 0 <= k <= 7:
            raise DomainfitError(f"dihedral element {k!r}: need an integer 0–7")
        return _element(image, int(k))
    if not (isinstance(k, jax.Array) and k.ndim == 0 and jnp.issubdtype(k.dtype, jnp.integer)):
        raise DomainfitError(f"dihedral element {k!r}: need an integer 0–7")
    if image.shape[-1] != image.shape[-2]:
        raise DomainfitError(f"dihedral element chosen at run time: needs a square image, got {image.shape}")
    return jax.lax.switch(jnp.clip(k, 0, 7), [lambda x, e=e: _element(x, e) for e in range(8)], image)
