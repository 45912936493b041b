"""Scan-line levelling ("align rows" in Gwyddion): remove each scan line's own offset or polynomial.

A scanning probe records an image line by line (rows, x the fast axis); drift and feedback give each line
its own offset (and tilt, bow). The usual estimate of a line's offset, its median, is wrong for a domain
image: a line that crosses mostly up domains has a median near +contrast, and subtracting it erases
domain contrast along y. So the offsets are estimated from **line-to-line differences** instead, as
Gwyddion's "median of differences": neighbouring lines see nearly the same domains, so the median of
``z[i] − z[i−1]`` over x is the step of the offset, whatever the domains; the offsets are its running
sum. For a polynomial (``poly1``, ``poly2``) the difference of two lines is fitted by a robust
(Tukey biweight) polynomial, the few pixels where a wall moves between the lines being outliers, and the
line polynomials are the running sum of those fits; a polynomial common to all lines (which differences
cannot see) is then fitted to the column means and removed. The overall mean is kept.

Measured on the shipped example (docs/spm.md): per-line offsets and tilts of sd 10 % of the contrast
move the CNN's D by −0.02 … +0.05 sd unlevelled and −0.02 … +0.04 sd levelled (median); per-line
medians instead of differences move it by −0.9 sd (they erase contrast). Stripes parallel to the scan
lines cannot be told from line offsets by any row levelling.
"""

from __future__ import annotations

import numpy as np

from ..errors import DomainfitError

LEVELS = ("none", "median", "poly1", "poly2")
"""Scan-line levelling methods: none; per-line offset (median of differences); per-line polynomial of
degree 1 or 2 (robust fit of differences)."""

SPM_LEVEL = "median"
"""The levelling of scanning-probe channels when none is asked (``level="auto"``)."""

_TUKEY = 4.685  # biweight tuning constant: 95 % efficiency for Gaussian noise
_MAD = 1.4826  # median absolute deviation → standard deviation for Gaussian noise


def check_level(level: str | None) -> str:
    """``level`` as one of ``LEVELS`` or "auto" (None = "auto"); one line otherwise."""
    level = "auto" if level is None else str(level).lower()
    if level not in LEVELS + ("auto",):
        raise DomainfitError(f"level {level!r}: use one of auto, {', '.join(LEVELS)}")
    return level


def level_lines(raw: np.ndarray, method: str) -> tuple[np.ndarray, dict]:
    """Levelled copy of ``raw`` [y, x] (rows = scan lines) and what was removed.

    Args:
        raw: image [y, x], any real values, at least 2 rows.
        method: "none", "median" (one offset per line) or "poly1"/"poly2" (a polynomial in x per line).

    Returns (levelled float64 image, info): info has ``method``, ``estimator`` (in words) and
    ``line_offset_sd`` (sd of the removed offsets at the line centres, in the raw units).
    """
    method = check_level(method)
    z = np.asarray(raw, dtype=np.float64)
    if method in ("none", "auto"):
        return z.copy(), {"method": "none"}
    degree = 0 if method == "median" else int(method[-1])
    diff = z[1:] - z[:-1]
    x = np.linspace(-1.0, 1.0, z.shape[1])
    basis = np.vander(x, degree + 1, increasing=True)  # [x, k]: 1, x, x²
    if degree == 0:
        steps = np.median(diff, axis=1)[:, None]
    else:
        steps = _robust_polyfit(diff, basis)
    coef = np.concatenate([np.zeros((1, degree + 1)), np.cumsum(steps, axis=0)])  # [line, k]
    coef -= coef.mean(axis=0)
    out = z - coef @ basis.T
    if degree:
        common = np.linalg.lstsq(basis, out.mean(axis=0), rcond=None)[0]
        common[0] = 0.0  # keep the overall mean
        out -= basis @ common
        coef += common
    estimator = ("median of line-to-line differences" if degree == 0
                 else f"robust (Tukey biweight) degree-{degree} fit of line-to-line differences, plus the common "
                      "polynomial of the column means")
    centre = coef @ np.vander(np.zeros(1), degree + 1, increasing=True).T
    return out, {"method": method, "estimator": estimator, "line_offset_sd": float(np.std(centre))}


def _robust_polyfit(diff: np.ndarray, basis: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Per-row Tukey-biweight fit of ``diff[r, x] ≈ Σ_k c[r, k] basis[x, k]``, started from the row
    medians (so that the walls that moved between two lines do not pull the start)."""
    c = np.zeros((diff.shape[0], basis.shape[1]))
    c[:, 0] = np.median(diff, axis=1)
    for _ in range(iterations):
        r = diff - c @ basis.T
        scale = _MAD * np.median(np.abs(r), axis=1, keepdims=True)
        scale = np.where(scale > 0, scale, np.maximum(np.std(r, axis=1, keepdims=True), 1e-300))
        u = r / (_TUKEY * scale)
        w = np.where(np.abs(u) < 1.0, (1.0 - u**2) ** 2, 0.0)
        a = np.einsum("rx,xi,xj->rij", w, basis, basis) + 1e-12 * np.eye(basis.shape[1])
        b = np.einsum("rx,xi,rx->ri", w, basis, diff)
        c = np.linalg.solve(a, b[..., None])[..., 0]
    return c
