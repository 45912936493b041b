"""Instrument-robust statistics of a domain image or a relaxed state: the geometry of its domains.

``log_period``: ln of the domain period [m] (one up plus one down domain; spectral mean shift);
``log_wall_density``: ln of the wall length per area [1/m] (Cauchy–Crofton over non-periodic bonds);
``spectral_width``: the relative width of the spectral peak (``features.statistics.spectral_width``):
stripes read ~0.1, mazes 0.15–0.4 — the morphology that pinning (σ) shapes apart from the scale;
``log_closed_density``: ln of the closed domains (bubbles and fragments: connected domains of either
sign, at least (P/8)² in area, that do not reach the image's edge) per period², counted without edge
bias (each weighted by the Miles–Lantuéjoul factor of its bounding box) plus half a domain per image:
the bubble density that pinning and the dipolar strength shape apart from the period.
On an image all are measured on its domains (``features.geometry.domain_sign``: each pixel takes the
sign of the nearest strong pixel), on a simulated state on the sign of m_z itself. Instruments still
move them — a blur erases small bubbles, a stray-field probe adds walls — so the film path compares the
image with the statistics of its simulated states *recorded* by the instrument (``forward.instrument``).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DomainfitError

STAT_NAMES: tuple[str, ...] = ("log_period", "log_wall_density", "spectral_width", "log_closed_density")

STATS_VERSION = 2
"""Version of the statistics' definitions: cached statistics of another version are computed again
(from the stored state where there is one)."""

MIN_DOMAIN = 1 / 8
"""Closed domains count from (period × this)² up: a relaxed state holds specks of a few cells (weak m_z,
below the wall width) that no instrument records — at 3 nm cells a 1 nm film's count fell from
e^−0.2 to e^−2.5 per period² under the ideal segmentation alone (tests/test_forward.py)."""


def _check(x: np.ndarray, spacing: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or min(x.shape) < 16:
        raise DomainfitError(f"statistics need a 2D map of at least 16² pixels, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DomainfitError("statistics of a map with NaN or inf values")
    if not (math.isfinite(spacing) and spacing > 0):
        raise DomainfitError(f"pixel size {spacing} m: need a finite positive length")
    return x


def closed_domain_density(sign: np.ndarray, spacing: float, min_area: float = 0.0) -> float:
    """Closed domains per area [1/m²] of a ±1 map (module docstring): connected domains (4-neighbours)
    of either sign, of at least ``min_area`` [m²], that do not touch the map's edge, each weighted by
    (ny−2)(nx−2)/((ny−1−h)(nx−1−w)) for its h×w bounding box — the share of placements of the box that
    keep it clear of the edge — plus 0.5."""
    from scipy import ndimage

    up = np.asarray(sign) > 0
    ny, nx = up.shape
    total = 0.5
    for phase in (up, ~up):
        labels, _ = ndimage.label(phase)
        areas = np.bincount(labels.ravel()) * spacing**2
        for k, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
            if rows.start == 0 or cols.start == 0 or rows.stop == ny or cols.stop == nx or areas[k] < min_area:
                continue
            h, w = rows.stop - rows.start, cols.stop - cols.start
            total += (ny - 2) * (nx - 2) / ((ny - 1 - h) * (nx - 1 - w))
    return total / ((ny - 2) * (nx - 2) * spacing**2)


def _vector(sign: np.ndarray, spacing: float) -> np.ndarray:
    from ..features.geometry import pattern_geometry
    from ..features.statistics import spectral_width

    geometry = pattern_geometry(sign, spacing)
    period, walls = geometry["period"], geometry["wall_density"]
    if not (math.isfinite(period) and walls > 0):
        return np.full(len(STAT_NAMES), np.nan)
    width = float(spectral_width(np.asarray(sign, np.float32), spacing))
    closed = closed_domain_density(sign, spacing, (period * MIN_DOMAIN) ** 2) * period**2
    return np.array([math.log(period), math.log(walls), width, math.log(closed)])


def image_statistics(data: np.ndarray, pixel_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a normalised image (``imaging.DomainImage.data``), SI lengths inside the logs;
    NaN where it shows no walls."""
    from ..features.geometry import domain_sign

    return _vector(domain_sign(_check(data, pixel_size)), pixel_size)


def state_statistics(mz: np.ndarray, cell_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a relaxed state's m_z on its cells (the sign of m_z); NaN without walls."""
    return _vector(np.where(_check(mz, cell_size) > 0, 1.0, -1.0), cell_size)
