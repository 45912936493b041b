"""Duplicated content: an image that is shifted copies of itself (a tile repeated 2×2 or 15×15, a
periodic continuation) holds no more information than one tile, while every interval that narrows
with the field of view would narrow as if it held more — the example tiled 2×2 moved D's interval off
the truth. Such an image is found by its normalised autocorrelation: a relaxed maze decorrelates
within a few domain periods (|r| < 0.3 beyond them), a copy matches itself at the tile's shift (r ≈ 1,
noise and all, since the noise is copied too).
"""

from __future__ import annotations

import math

import numpy as np

from ..notices import Notice

DUPLICATED = "duplicated_content"
"""Notice code: the image matches itself at a shift (tiled or periodic copies)."""
MATCH = 0.9
"""Correlation at a shift above which the image is called a copy of itself."""
MIN_OVERLAP = 0.2
"""Shifts whose overlap is below this fraction of the image are not judged (too few pixels)."""
MAX_SIDE = 512
"""Images are block-averaged to at most this many pixels a side first (memory and time)."""


def self_match(data: np.ndarray, *, min_shift: int = 16) -> tuple[float, tuple[int, int]]:
    """(largest normalised correlation of ``data`` with itself shifted by ≥ ``min_shift`` px, that shift [px]).

    Correlations are over the overlap of the image and its shifted copy (zero-padded FFTs, so a shift is
    not wrapped around)."""
    a = np.asarray(data, dtype=np.float64)
    f = max(1, math.ceil(max(a.shape) / MAX_SIDE))
    if f > 1:  # block-average: a copy stays a copy at the coarser pixels when its shift is a multiple of f
        h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
        a = a[:h, :w].reshape(h // f, f, w // f, f).mean((1, 3))
    h, w = a.shape
    a = (a - a.mean()) / (a.std() or 1.0)
    shape = (2 * h, 2 * w)

    spectrum = np.fft.rfft2(a.astype(np.float32), shape)
    dy = np.fft.fftfreq(shape[0], 1.0 / shape[0])[:, None]
    dx = np.fft.fftfreq(shape[1], 1.0 / shape[1])[None, :]
    n = np.maximum((h - np.abs(dy)) * (w - np.abs(dx)), 1.0)  # overlap size per shift
    # normalised by the whole image's mean and variance: over ≥ MIN_OVERLAP of it the overlap's own
    # differ little for a maze, and a copy matches itself either way
    r = np.fft.irfft2(spectrum * np.conj(spectrum), shape) / n
    judged = (n >= MIN_OVERLAP * h * w) & (np.hypot(dy, dx) * f >= min_shift)
    if not judged.any():
        return 0.0, (0, 0)
    k = np.argmax(np.where(judged, r, -np.inf))
    i, j = np.unravel_index(k, r.shape)
    return float(r[i, j]), (int(dy[i, 0]) * f, int(dx[0, j]) * f)


def duplication_notices(data: np.ndarray) -> list[Notice]:
    """A reason not to trust an estimate when the image is copies of itself (``self_match`` ≥ ``MATCH``)."""
    r, (dy, dx) = self_match(data)
    if r < MATCH:
        return []
    return [Notice(DUPLICATED, f"the image repeats itself: shifted by ({dy}, {dx}) px it matches itself (correlation "
                               f"{r:.3f}) — tiled or periodic copies hold no more information than one tile, and the "
                               "intervals, which narrow with the field of view, would be too narrow; analyse one tile")]
