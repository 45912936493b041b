"""The one preprocessing that turns a loaded image into what the network reads (training and
estimation alike): background removal, contrast normalisation, resampling to the model pixel size.

A loaded image (``imaging.load``: optional user flattening, percentile scaling to [−1, 1]) is
(1) flattened with a least-squares polynomial of degree ``flatten`` (2 by default: planes, bows and
paraboloids of scans and illumination), (2) scaled again so that its 1st and 99th percentiles go
to −1 and +1, clipped, and (3) area-resampled to the model pixel size. Training renders every
simulated view with an instrument model, loads it with the same percentile scaling and passes it
through this function, so the network never sees anything a user's image could not give it. A
polynomial of degree ≤ ``flatten`` added to an image changes nothing (the fit removes it); a second
pass changes an image by no more than what the first pass's clipping left (~10⁻³).
"""

from __future__ import annotations

import numpy as np

from ._normalise import flatten_background, normalise_contrast

FLATTEN_DEGREE = 2
"""Degree of the background polynomial removed from every image the network reads."""


def model_input(
    image: np.ndarray, pixel_size: float, target_pixel_size: float, *, flatten: int | None = FLATTEN_DEGREE
) -> np.ndarray:
    """``image`` [h, w] of pixel ``pixel_size`` [m] → flattened, percentile-normalised contrast in
    [−1, 1] at ``target_pixel_size`` [m] (module docstring). ``flatten`` None skips step 1 (models
    trained before instrument rendering)."""
    from ._scale import resample

    u = np.asarray(image, np.float64)
    if flatten is not None:
        u, _ = flatten_background(u, flatten)
        u, _ = normalise_contrast(u)
    u = u.astype(np.float32)
    if abs(pixel_size / target_pixel_size - 1) < 1e-9:
        return u
    return np.asarray(resample(u, pixel_size, target_pixel_size), np.float32)
