"""The geometry of a domain image: period and wall density of its sign or of its domains, the width of
its transitions and how far its structure stands above pixel noise (docs/cnn.md, "Support").

Measured on the prepared image (what the network reads) in physical units, so they are the pattern's
geometry whatever the instrument; ``domain_geometry`` measures them on the image's domains
(``domain_sign``), which noise in weak places does not cut.
"""

from __future__ import annotations

import math

import numpy as np

MIN_PATTERN_CONTRAST = 1.3
"""Least ``pattern_contrast`` of a readable image. White pixel noise reads 1.00 ± 0.06 at 64², ± 0.016
at 256², ± 0.003 at 1024² pixels (20 draws each); 768 instrument views of calibration states drawn
from the training and test distributions read 1.43 at their 0.5 % quantile, median 103: 0.4 % of
them (an MFM at 20 nm pixels, a Gaussian blur at SNR 2) read below 1.3."""


def _spectrum(x: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(kx [1, w], ky [h, 1], |k| [h, w] in cycles per unit of ``spacing``, power [h, w]) of ``x`` less its mean."""
    ky = np.fft.fftfreq(x.shape[0], d=spacing)[:, None]
    kx = np.fft.fftfreq(x.shape[1], d=spacing)[None, :]
    return kx, ky, np.sqrt(kx**2 + ky**2), np.abs(np.fft.fft2(x - x.mean())) ** 2


def pattern_geometry(prepared: np.ndarray, pixel_size: float) -> dict:
    """Domain period [m] and wall density [1/m] of the sign of a prepared image (model pixels).

    The same estimators as ``stats.domain_period`` (mean shift on the 2D spectrum, n = 12) and
    ``stats.wall_density`` (non-periodic bonds), in NumPy: the checks of a single estimate need no
    compilation (tested equal to the ``stats`` versions).
    """
    s = np.where(np.asarray(prepared) > 0, 1.0, -1.0)
    if np.all(s == s.flat[0]):
        return {"period": math.inf, "wall_density": 0.0}
    cx = np.mean(s[:, 1:] != s[:, :-1])
    cy = np.mean(s[1:, :] != s[:-1, :])
    walls = float(np.pi * (cx + cy) / (4.0 * pixel_size))
    _, _, k, power = _spectrum(s, pixel_size)
    kc = power.sum() / np.sum(power[k > 0] / k[k > 0])
    for _ in range(12):
        w = np.where((k > kc / np.sqrt(2)) & (k < kc * np.sqrt(2)), power, 0.0)
        if not w.sum() > 0:
            break
        kc = np.sum(w * k) / np.sum(w)
    return {"period": float(1.0 / kc), "wall_density": walls}


STRONG_FRACTION = 0.5
"""A pixel of a prepared image is *strong* when |value| ≥ this × the 95th percentile of |value|."""


def domain_sign(prepared: np.ndarray) -> np.ndarray:
    """The film's domains in a prepared image as ±1: each pixel takes the sign of the nearest strong
    pixel (``STRONG_FRACTION``; Euclidean distance, itself when strong).

    The plain sign of the image counts every noise crossing in the image's weak places as a wall:
    inside a micrometre domain recorded by MFM or a stray-field probe (over a thin film the field of a
    wide domain concentrates at its walls, and its interior reads near zero), under a strong blur, or
    beside a background residue. There the sign of a low-Ms film read 1.3–3.7× the walls of the film
    (studies/sign_geometry.py). Strong pixels lie in the domains or at their edges, where the
    sign is the domain's; weak ones take the sign of the nearest strong one, so the domains' walls
    run between regions of opposite strong sign and noise in between makes none.
    """
    from scipy import ndimage

    x = np.asarray(prepared, np.float64)
    a = np.abs(x)
    weak = a < STRONG_FRACTION * np.quantile(a, 0.95)
    if not weak.any() or weak.all():
        return np.where(x > 0, 1.0, -1.0)
    _, (iy, ix) = ndimage.distance_transform_edt(weak, return_indices=True)
    return np.where(x[iy, ix] > 0, 1.0, -1.0)


def domain_geometry(prepared: np.ndarray, pixel_size: float) -> dict:
    """``pattern_geometry`` of the ``domain_sign`` of a prepared image: period [m], wall density [1/m]."""
    return pattern_geometry(domain_sign(prepared), pixel_size)


def transition_width(prepared: np.ndarray, wall_density: float) -> float:
    """Apparent width [m] of the domain walls in a prepared image (``imaging.model_input``: contrast
    scaled so that the domains read about ±1): the area fraction of pixels between −½ and ½ over the
    wall length per area (``pattern_geometry``'s wall density). A sharp or saturated image reads about
    a pixel or less; a blurred one, or a stray-field probe high over the film, the width of its point
    spread; noise adds to it. The spread calibration of an unnamed instrument uses it
    (``nn.calibrate``): what the image shows of its instrument's resolution."""
    x = np.asarray(prepared, np.float64)
    if not wall_density > 0:
        return math.inf
    return float(np.mean(np.abs(x) < 0.5) / wall_density)


def pattern_contrast(image: np.ndarray) -> float:
    """How far the image's structure stands above pixel noise: the mean power spectral density at
    spatial frequencies up to 0.25 cycles per pixel over that beyond 0.35 (the pixel scale), after a
    degree-2 background is removed; the axes kx = 0 and ky = 0 are left out, so that scan-line
    offsets count as neither. White noise reads 1; a domain pattern, whose power lies at its period
    (≥ 8 pixels), tens to thousands. A uniform film recorded with noise reads 1 although the sign of
    its image is a fine 'maze' of noise."""
    from ..imaging import flatten_background

    kx, ky, k, power = _spectrum(flatten_background(np.asarray(image, np.float64), 2)[0], 1.0)
    off_axes = (kx != 0) & (ky != 0)
    low, high = off_axes & (k <= 0.25), off_axes & (k >= 0.35)
    if not (low.any() and high.any()):
        return math.inf  # too small to tell (other checks refuse such images)
    hi = float(power[high].mean())
    return float(power[low].mean() / hi) if hi > 0 else math.inf
