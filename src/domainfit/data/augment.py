"""On-the-fly augmentation of training images at the model's fixed pixel size (jit/vmap-able).

The network sees P × P pixels (128 by default) at one physical pixel size p (16 nm by default,
P·p = 2.048 µm). Field-of-view augmentation keeps p fixed: a random square crop of n pixels
(n·p from ``fov_min`` to ``fov_max``, log-uniform) is cut from the periodic simulation image at a
random offset and placed in the centre of the canvas, and ``nn.estimate`` places images smaller than
P·p the same way. Around the crop the canvas holds, by the model's ``fill``, zeros (0 is 'no
contrast') or the crop's mirror images (``fold_index``: reflections with the edge pixel repeated, as
``numpy.pad(mode="symmetric")``). Mirror filling keeps the canvas a maze of the same density of
walls at every field of view, so what the network reads is intensive and need not be normalised by
the crop's area: a zero-filled network trained on a set of scales mis-read the scales in between
(docs/cnn.md).
On top: one of the eight symmetries of the square (rot90/flips) and a global sign flip m_z → −m_z
(a symmetry of the energy in zero field).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._types import Array, Float, Key
from ..imaging import dihedral as imaging_dihedral


AUGMENT_ORDER = (0, 1, 2, 3, 7, 4, 5, 6)
"""``imaging.dihedral``'s element for training's draw k: rot90 by k mod 4, then for k ≥ 4 a transpose,
which is rot90 by 3 more quarter turns and a left–right flip (the order every trained model drew in)."""


def dihedral(image: Float[Array, "h w"], k) -> Float[Array, "h w"]:
    """Symmetry ``k`` ∈ {0..7} of the square in training's order (``AUGMENT_ORDER``; traced k ok)."""
    if image.shape[0] != image.shape[1]:
        raise ValueError("dihedral augmentation needs square images")
    return imaging_dihedral(image, jnp.asarray(AUGMENT_ORDER)[k])


FILLS = ("zero", "mirror")
"""What surrounds an image smaller than the network input (module docstring)."""


def check_fill(fill: str) -> str:
    if fill not in FILLS:
        raise ValueError(f"fill {fill!r}: use one of {', '.join(FILLS)}")
    return fill


def fold_index(out_pixels: int, n, xp=jnp):
    """For each of ``out_pixels`` canvas positions, the index into a centred side of ``n`` pixels
    (n ≤ out_pixels, may be traced with ``xp = jnp``): the side itself in the middle, mirror images
    around it (period 2n, edge pixels repeated: numpy.pad's "symmetric" mode)."""
    off = (out_pixels - n) // 2
    j = xp.mod(xp.arange(out_pixels) - off, 2 * n)
    return xp.where(j < n, j, 2 * n - 1 - j)


def place_centred(image: Float[Array, "h w"], out_pixels: int, fill: str = "zero") -> Float[Array, "P P"]:
    """Put an image of at most ``out_pixels`` per side in the centre of the canvas (static shapes),
    surrounded by zeros or its mirror images (``fill``)."""
    h, w = image.shape
    if check_fill(fill) == "mirror":
        return image[fold_index(out_pixels, h)[:, None], fold_index(out_pixels, w)[None, :]]
    oy, ox = (out_pixels - h) // 2, (out_pixels - w) // 2
    return jnp.zeros((out_pixels, out_pixels), image.dtype).at[oy : oy + h, ox : ox + w].set(image)


def crop_centred(image: Float[Array, "S S"], n, out_pixels: int, *, shift, fill: str = "zero") -> Float[Array, "P P"]:
    """A periodic n × n crop of ``image`` (starting at ``shift``), centred on a P × P canvas of zeros
    or of the crop's mirror images (``fill``).

    ``n`` and ``shift`` may be traced; n ≤ min(S, P).
    """
    sy, sx = image.shape
    rolled = jnp.roll(image, (-shift[0], -shift[1]), axis=(0, 1))
    if check_fill(fill) == "mirror":
        i = fold_index(out_pixels, n)
        return rolled[i[:, None], i[None, :]]
    my, mx = min(sy, out_pixels), min(sx, out_pixels)
    canvas = jnp.zeros((out_pixels, out_pixels), image.dtype).at[:my, :mx].set(rolled[:my, :mx])
    i = jnp.arange(out_pixels)
    canvas = jnp.where((i[:, None] < n) & (i[None, :] < n), canvas, 0)
    off = (out_pixels - n) // 2
    return jnp.roll(canvas, (off, off), axis=(0, 1))


N_UNIFORMS = 5
"""Uniform numbers one view consumes (``augment_with``)."""


def augment_with(
    image: Float[Array, "S S"],
    u: Float[Array, " 5"],
    *,
    out_pixels: int,
    crop_pixels: tuple[int, ...],
    flip_sign: bool = True,
    discrete: bool = False,
    fill: str = "zero",
    wrap: bool = True,
) -> Float[Array, "P P"]:
    """``augment`` driven by five uniform numbers in [0, 1) instead of a key (offset y, x; crop
    side; symmetry; sign). Training draws them on the host, which keeps the compiled step small.

    ``crop_pixels`` is (n_min, n_max), a log-uniform range of crop sides, or with ``discrete`` a set
    of sides chosen with equal probability (``crop_side``); ``fill`` as in ``crop_centred``.
    ``wrap``: the crop's offset is anywhere on the periodic image (a simulation); False keeps the
    crop inside the image (a recorded image, whose edges do not join)."""
    size = jnp.asarray(image.shape)
    n = crop_side(u[2], crop_pixels, discrete=discrete)
    if wrap:
        shift = jnp.minimum(jnp.floor(u[:2] * size), size - 1).astype(jnp.int32)
    else:
        room = jnp.maximum(size - n + 1, 1)
        shift = jnp.minimum(jnp.floor(u[:2] * room), room - 1).astype(jnp.int32)
    view = crop_centred(image, n, out_pixels, shift=shift, fill=fill)
    view = dihedral(view, jnp.minimum(jnp.floor(u[3] * 8), 7).astype(jnp.int32))
    if flip_sign:
        view = jnp.where(u[4] < 0.5, -view, view)
    return view


def crop_side(u, crop_pixels: tuple[int, ...], *, discrete: bool = False):
    """Crop side in pixels from a uniform number ``u`` ∈ [0, 1): log-uniform over the range
    (n_min, n_max), or with ``discrete`` one of the sides in ``crop_pixels`` with equal probability."""
    if not discrete:
        nmin, nmax = crop_pixels
        return jnp.clip(jnp.round(jnp.exp(jnp.log(nmin) + u * (jnp.log(nmax) - jnp.log(nmin)))), nmin, nmax).astype(jnp.int32)
    sides = jnp.asarray(sorted(set(crop_pixels)), jnp.int32)
    return sides[jnp.minimum(jnp.floor(u * len(sides)), len(sides) - 1).astype(jnp.int32)]


def augment(
    image: Float[Array, "S S"],
    *,
    key: Key[Array, ""],
    out_pixels: int,
    crop_pixels: tuple[int, int],
    flip_sign: bool = True,
    fill: str = "zero",
) -> Float[Array, "P P"]:
    """One random training view of a periodic simulated image at the model's pixel size.

    Args:
        image: rendered m_z [S_y, S_x] at the model pixel size, periodic.
        out_pixels: network input size P.
        crop_pixels: (n_min, n_max) crop side in pixels (log-uniform), n_max ≤ min(S, P), or a
            set of sides (``crop_side``).
        flip_sign: also apply a random global sign flip.
        fill: what surrounds a crop smaller than P (``crop_centred``).
    """
    u = jax.random.uniform(key, (N_UNIFORMS,))
    return augment_with(image, u, out_pixels=out_pixels, crop_pixels=crop_pixels, flip_sign=flip_sign, fill=fill)
