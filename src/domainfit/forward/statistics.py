"""Instrument-robust statistics of a domain image or a relaxed state: the geometry of its domains.

``log_period``: ln of the domain period [m] (one up plus one down domain; spectral mean shift);
``log_wall_density``: ln of the wall length per area [1/m] (Cauchy–Crofton over non-periodic bonds);
``spectral_width``: the relative width of the spectral peak (``features.statistics.spectral_width``):
stripes read ~0.1, mazes 0.15–0.4 — the morphology that pinning (σ) shapes apart from the scale;
``log_closed_density``: ln of the closed domains (bubbles and fragments: connected domains of either
sign, at least (P/8)² in area, that do not reach the image's edge) per period², counted without edge
bias (each weighted by the Miles–Lantuéjoul factor of its bounding box) plus half a domain per image:
the bubble density that pinning and the dipolar strength shape apart from the period;
``cnn_D``, ``cnn_sigma``: the shipped CNN's readings of D and σ (normalised outputs, no calibration),
a learned summary of the whole image — for any film, not only the one it was trained on: the film
path never takes them as D or σ, it emulates them from the film's own simulations like the geometry
(where the CNN cannot read the image, e.g. pixels too coarse, they are left out).
On an image the geometry is measured on its domains (``features.geometry.domain_sign``: each pixel takes the
sign of the nearest strong pixel), on a simulated state on the sign of m_z itself. Instruments still
move them — a blur erases small bubbles, a stray-field probe adds walls — so the film path compares the
image with the statistics of its simulated states *recorded* by the instrument (``forward.instrument``).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DomainfitError

GEOMETRY_NAMES: tuple[str, ...] = ("log_period", "log_wall_density", "spectral_width", "log_closed_density")
LEARNED_NAMES: tuple[str, ...] = ("cnn_D", "cnn_sigma")
STAT_NAMES: tuple[str, ...] = GEOMETRY_NAMES + LEARNED_NAMES

STATS_VERSION = 3
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


def _geometry(sign: np.ndarray, spacing: float) -> np.ndarray:
    from ..features.geometry import pattern_geometry
    from ..features.statistics import spectral_width

    geometry = pattern_geometry(sign, spacing)
    period, walls = geometry["period"], geometry["wall_density"]
    if not (math.isfinite(period) and walls > 0):
        return np.full(len(GEOMETRY_NAMES), np.nan)
    width = float(spectral_width(np.asarray(sign, np.float32), spacing))
    closed = closed_domain_density(sign, spacing, (period * MIN_DOMAIN) ** 2) * period**2
    return np.array([math.log(period), math.log(walls), width, math.log(closed)])


@functools.lru_cache(maxsize=1)
def _reader():
    from ..nn.checkpoint import load_default

    return load_default()


def learned_statistics(data: np.ndarray, pixel_size: float) -> np.ndarray:
    """``LEARNED_NAMES`` of an image or state map: the shipped CNN's normalised readings of D and σ
    (``nn.estimate.reading_of``, every tile in its symmetric versions); NaN where it refuses the map."""
    from ..nn.estimate import reading_of

    model = _reader()
    try:
        reading = reading_of(model, np.asarray(data, np.float32), pixel_size)
    except DomainfitError:
        return np.full(len(LEARNED_NAMES), np.nan)
    return np.array([reading.mean[model.targets.index(n)] for n in ("D", "sigma")], np.float64)


LENGTH_STEP = 0.1


def learned_length_slope(data: np.ndarray, pixel_size: float) -> np.ndarray:
    """d ``LEARNED_NAMES`` / d ln(length scale) of an image: its readings with every length scaled by
    e^{±0.1} (the same pixels at pixel sizes p·e^{±0.1}), central difference. A film whose wall width
    is larger by that factor at the same reduced wall energy shows the same maze scaled (``emulator``)."""
    up = learned_statistics(data, pixel_size * math.exp(LENGTH_STEP))
    down = learned_statistics(data, pixel_size * math.exp(-LENGTH_STEP))
    return (up - down) / (2 * LENGTH_STEP)


def image_statistics(data: np.ndarray, pixel_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a normalised image (``imaging.DomainImage.data``), SI lengths inside the logs;
    all NaN where it shows no walls, the learned ones NaN where the CNN refuses it."""
    from ..features.geometry import domain_sign

    data = _check(data, pixel_size)
    return _with_learned(_geometry(domain_sign(data), pixel_size), data, pixel_size)


def state_statistics(mz: np.ndarray, cell_size: float) -> np.ndarray:
    """``STAT_NAMES`` of a relaxed state's m_z on its cells (geometry on the sign of m_z, the CNN on
    m_z itself: an ideal instrument); NaN without walls."""
    mz = _check(mz, cell_size)
    return _with_learned(_geometry(np.where(mz > 0, 1.0, -1.0), cell_size), mz, cell_size)


def _with_learned(geometry: np.ndarray, data: np.ndarray, spacing: float) -> np.ndarray:
    """The geometry and the learned statistics; all NaN where the map shows no walls."""
    if not np.all(np.isfinite(geometry)):
        return np.full(len(STAT_NAMES), np.nan)
    return np.concatenate([geometry, learned_statistics(data, spacing)])
