"""Instrument-robust statistics of a domain image or a relaxed state: the geometry of its domains.

``log_period``: ln of the domain period [m] (one up plus one down domain; spectral mean shift);
``log_wall_density``: ln of the wall length per area [1/m] (Cauchy–Crofton over non-periodic bonds);
``spectral_width``: the relative width of the spectral peak (``features.statistics.spectral_width``):
stripes read ~0.1, mazes 0.15–0.4 — the morphology that pinning (σ) shapes apart from the scale.
On an image both are measured on its domains (``features.geometry.domain_sign``: each pixel takes the
sign of the nearest strong pixel), which blur, noise and a stray-field probe's weak domain interiors
hardly move (on 30 held-out co-pt views per instrument, ln W of the image's domains read the film's
to −0.03 ± 0.10: studies/sign_geometry.py); on a simulated state on the sign of m_z itself.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DomainfitError

STAT_NAMES: tuple[str, ...] = ("log_period", "log_wall_density", "spectral_width")

INSTRUMENT_SD: dict[str, float] = {"log_period": 0.05, "log_wall_density": 0.10, "spectral_width": 0.03}
"""What an instrument adds to each statistic of the image against the film's own (sd): ln W of the
image's domains against the simulated state's, −0.03 ± 0.10 over the test instruments (co-pt, 30
held-out views, studies/sign_geometry.py); the period, a spectral peak, and the peak's width are
taken to move half as much (0.05, 0.03: not yet measured per statistic)."""


def _check(x: np.ndarray, spacing: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or min(x.shape) < 16:
        raise DomainfitError(f"statistics need a 2D map of at least 16² pixels, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DomainfitError("statistics of a map with NaN or inf values")
    if not (math.isfinite(spacing) and spacing > 0):
        raise DomainfitError(f"pixel size {spacing} m: need a finite positive length")
    return x


def _vector(sign: np.ndarray, spacing: float) -> np.ndarray:
    from ..features.geometry import pattern_geometry
    from ..features.statistics import spectral_width

    geometry = pattern_geometry(sign, spacing)
    period, walls = geometry["period"], geometry["wall_density"]
    if not (math.isfinite(period) and walls > 0):
        return np.full(len(STAT_NAMES), np.nan)
    width = float(spectral_width(np.asarray(sign, np.float32), spacing))
    return np.array([math.log(period), math.log(walls), width])


def image_statistics(data: np.ndarray, pixel_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a normalised image (``imaging.DomainImage.data``), SI lengths inside the logs;
    NaN where it shows no walls."""
    from ..features.geometry import domain_sign

    return _vector(domain_sign(_check(data, pixel_size)), pixel_size)


def state_statistics(mz: np.ndarray, cell_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a relaxed state's m_z on its cells (the sign of m_z); NaN without walls."""
    return _vector(np.where(_check(mz, cell_size) > 0, 1.0, -1.0), cell_size)
