"""Contrast normalisation of real images (NumPy, at load time): background flattening, robust
percentile scaling to [-1, 1], inversion and binarisation."""

from __future__ import annotations

import numpy as np

from ..errors import DomainfitError


def flatten_background(raw: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Subtract a slow background: the least-squares polynomial Σ_{i+j≤degree} c_ij xⁱ yʲ.

    x, y are pixel coordinates scaled to [-1, 1]. ``degree`` 1 is a plane (tilt of an MFM or AFM
    scan), 2 a paraboloid (Kerr illumination), up to 6. A maze has zero-mean contrast on scales
    above its period, so the fit follows the background and not the domains. Fitted on at most
    ~250 000 evenly strided pixels. Returns (flattened image, coefficients).
    """
    if not (isinstance(degree, (int, np.integer)) and 0 <= degree <= 6):
        raise DomainfitError(f"flatten degree {degree!r}: need an integer 0–6 (1 = plane)")
    ny, nx = raw.shape
    y = np.linspace(-1.0, 1.0, ny)[:, None]
    x = np.linspace(-1.0, 1.0, nx)[None, :]
    powers = [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]
    stride = max(1, int(np.ceil(np.sqrt(raw.size / 250_000))))
    ys, xs, rs = y[::stride], x[:, ::stride], raw[::stride, ::stride]
    design = np.stack([np.broadcast_to(xs**i * ys**j, rs.shape).ravel() for i, j in powers], axis=1)
    coef, *_ = np.linalg.lstsq(design, rs.ravel(), rcond=None)
    background = sum(c * (x**i * y**j) for c, (i, j) in zip(coef, powers))
    return raw - background, coef


def normalise_contrast(raw: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.0)) -> tuple[np.ndarray, tuple[float, float]]:
    """Map the raw contrast linearly so that its ``percentiles`` go to −1 and +1, then clip to [-1, 1].

    u = 2 (x − p_lo)/(p_hi − p_lo) − 1. Robust to hot pixels and scan glitches (they are clipped);
    falls back to min/max when the percentiles coincide (an image that is almost all one domain).
    Returns (u, (p_lo, p_hi)) with p_lo, p_hi in raw units.
    """
    lo_q, hi_q = percentiles
    if not (0.0 <= lo_q < hi_q <= 100.0):
        raise DomainfitError(f"percentiles {percentiles}: need 0 ≤ low < high ≤ 100")
    lo, hi = (float(v) for v in np.percentile(raw, [lo_q, hi_q]))
    if not hi > lo:
        lo, hi = float(raw.min()), float(raw.max())
    if not hi > lo:
        raise DomainfitError(f"image is constant (every pixel = {lo:g}): there is no domain contrast")
    u = 2.0 * (raw - lo) / (hi - lo) - 1.0
    return np.clip(u, -1.0, 1.0), (lo, hi)


def otsu_threshold(u: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``u``: the level that maximises the between-class variance of the histogram."""
    hist, edges = np.histogram(u, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][np.argmax(between)])


def binarise(u: np.ndarray) -> tuple[np.ndarray, float]:
    """Two-level image ±1 from a normalised contrast ``u``, split at Otsu's threshold. Returns (image, threshold)."""
    t = otsu_threshold(u)
    return np.where(u > t, 1.0, -1.0), t
