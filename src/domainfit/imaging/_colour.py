"""How colourful a colour image is: the spread of its hue (``load`` records it; a colour map spreads it)."""

from __future__ import annotations

import math

import numpy as np

COLOURED_CHROMA = 0.15
"""A pixel is coloured when its chroma (opponent-colour radius, full scale 1) exceeds this."""


def hue_spread(rgb: np.ndarray) -> dict:
    """``{"coloured_share", "spread_deg"}`` of an RGB image [h, w, 3] (integers at their type's full scale,
    floats in [0, 1]): the share of pixels whose chroma exceeds ``COLOURED_CHROMA`` and the circular spread
    √(−2 ln R̄) of their hue, weighted by chroma [degrees]: ~0 for a grey image with one tint (a single-hue
    false-colour camera), tens of degrees for a colour map (RdBu, jet, viridis)."""
    rgb = np.asarray(rgb)
    full = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else max(float(rgb.max()), 1.0)
    r, g, b = (rgb[..., i].astype(np.float64) / full for i in range(3))
    opponent = r - 0.5 * (g + b) + 0.5j * math.sqrt(3) * (g - b)  # chroma = |·|, hue = arg(·)
    c = np.abs(opponent)
    c = np.where(c > COLOURED_CHROMA, c, 0.0)
    mean = abs(np.sum(c * np.exp(1j * np.angle(opponent)))) / c.sum() if c.sum() > 0 else 1.0
    return {"coloured_share": float(np.mean(c > 0)),
            "spread_deg": math.degrees(math.sqrt(max(-2.0 * math.log(max(mean, 1e-300)), 0.0)))}
