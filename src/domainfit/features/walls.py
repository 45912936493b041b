"""Whether an image shows domain walls: the test applied to training views and to the user's image alike.

The image's structure must stand above pixel noise (``geometry.pattern_contrast`` ≥
``MIN_PATTERN_CONTRAST``) and, after the background is removed and pixel noise smoothed (Gaussian,
1.5 pixels), the two levels that Otsu's threshold separates must each cover at least ``MIN_MINORITY``
of the area. It is a test of the recording, not of the film: measured on instrument views (docs/
inference.md, "Images without walls") it missed no wall-bearing low-ms view, while a uniform film
recorded with a cubic background and little noise passes it in a share of views. The presence model
(``surrogate.presence``) is fitted to the same test on the training views.
"""

from __future__ import annotations

import numpy as np

from .._types import Array, Float
from ..errors import DomainfitError
from ..imaging import flatten_background, otsu_threshold
from .geometry import MIN_PATTERN_CONTRAST, pattern_contrast

MIN_MINORITY = 0.01
"""Least area fraction of the minority sign of a flattened image that shows walls (1 %: a 2 µm image
with one 200 nm bubble)."""


def shows_walls(image: Float[Array, "ny nx"]) -> bool:
    """True when a recorded image shows a domain pattern (module docstring): structure above pixel
    noise and two levels of the background-flattened, smoothed contrast, each over ≥ ``MIN_MINORITY``
    of the area."""
    u = np.asarray(image, np.float64)
    if u.ndim != 2 or min(u.shape) < 4:
        raise DomainfitError(f"image of shape {u.shape}: need a 2D image of at least 4×4 pixels")
    if not np.isfinite(u).all():
        raise DomainfitError("image holds NaN or infinite pixels")
    if np.ptp(u) == 0:
        return False
    if not pattern_contrast(u) >= MIN_PATTERN_CONTRAST:
        return False
    from scipy.ndimage import gaussian_filter

    flat = gaussian_filter(flatten_background(u, 2)[0], 1.5, mode="wrap")  # pixel noise averaged out
    up = float(np.mean(flat > otsu_threshold(flat)))
    return min(up, 1.0 - up) >= MIN_MINORITY
