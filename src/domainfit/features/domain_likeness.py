"""Is this a domain image at all? Measures that tell a microscope's recording of a maze from text,
drawings, figures, textures, regular gratings and colour-mapped pictures (docs/cnn.md, "Support").

A recorded maze (any instrument: Kerr, X-ray, MFM, stray-field probe; noise, blur, saturation,
backgrounds, scan lines) has one length scale, no preferred direction, no flat page around it, and a
spectral ring of finite width; a two-level contrast unless a band-pass instrument (MFM) records it.
Each measure below is computed on the image as loaded and flattened (``imaging.load``: what
``nn.estimate`` reads), in its own pixels, from its power spectrum p(k) = |FFT(x − x̄)|² with the axes
kx = 0 and ky = 0 left out where scan-line offsets put their power:

* ``uniform_share``: the share of the image in flat regions of one sign (a 3×3 neighbourhood whose
  discrete Laplacian stays below ``FLAT_CURVATURE``: a constant shade, whatever smooth background the
  loader's flattening subtracted) less that of the other sign. A binarised maze is flat in both
  signs alike; a page, a plot or a drawing is flat on one side, its background.
* ``axis_share``, ``axis_regularity``: the share of power on the axis kx = 0 or ky = 0 that holds more
  of it, and the participation ratio of its modes over their number (below): a grating along the
  image's rows or columns puts its power there in a few peaks; scan-line offsets put theirs on kx = 0
  too, but spread over every mode (white along y).
* ``regularity``: the participation ratio (Σp)²/Σp² of the modes in the band k₀/2 < |k| < 2k₀ over
  their number (k₀ the power-weighted mean-shift peak, as ``geometry.pattern_geometry``): about ½ for
  a random pattern (exponentially distributed mode powers), ≪ 1 when a few sharp peaks hold it.
* ``ring_width``: the power-weighted spread of |k| in that band over its mean (a grating's or
  target's ring is as thin as the field of view allows).
* ``anisotropy``: z = A₂² n_eff / 2, A₂ = |Σ p e^{2iθ}| / Σ p in the band and n_eff its participation
  ratio: about Exp(1) for an isotropic pattern, large for lines of text or aligned stripes.
* ``spectral_width``: the spread of ln|k| weighted by the power above the white-noise floor (the mean
  power beyond 0.35 cycles per pixel), from 1.5 cycles per field to 0.35 cycles per pixel: one domain
  period gives a narrow band; a fractal, a photograph or a texture of grains of many sizes a wide one.
* ``two_level``: Otsu's between-class variance of the image smoothed over 1/16 of its period, over
  that image's variance less its noise (floor × Σ|G|²), at most 1: 1 for two levels, 2/π ≈ 0.64 for
  Gaussian noise, 0.75 for uniformly spread grey levels.

The limits (``*_LIMIT``) were set with ``studies/negative_set.py`` (issue 35) on 192 held-out instrument
views of relaxed co-pt states and the shipped examples against 68 made non-domain images, adjusted on
two fresh draws and checked on a third (160 views, 68 images: all passed, all flagged; docs/cnn.md,
"Support").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..notices import Notice

UNIFORM_BACKGROUND = "uniform_background"
REGULAR_PATTERN = "regular_pattern"
ALIGNED_PATTERN = "aligned_pattern"
TEXTURE = "texture"
COLOUR_MAP = "colour_map"
CODES = (UNIFORM_BACKGROUND, REGULAR_PATTERN, ALIGNED_PATTERN, TEXTURE, COLOUR_MAP)
"""The ``Notice`` codes of this module's reasons."""

FLAT_CURVATURE = 1e-3
"""A pixel is flat when |∇²x| ≤ this in its 3×3 neighbourhood (contrast normalised to [−1, 1]; an 8-bit
grey step is 0.008, the flattening's polynomial ~10⁻⁵)."""
UNIFORM_LIMIT = 0.15
"""Largest ``uniform_share`` of a domain image (held-out views: at most 0.076, binarised ones)."""
AXIS_LIMIT = 0.7
"""Largest ``axis_share`` of a regular axis (views: up to 0.80, from scan-line offsets, whose axis
regularity reads ~0.47; a grating along the rows: ~1.0 at regularity ≤ 0.02)."""
REGULARITY_LIMIT = 0.05
"""Smallest ``regularity`` (views: at least 0.14; gratings and checkerboards 0.0006–0.008)."""
RING_WIDTH_LIMIT = 0.18
"""Smallest ``ring_width`` (views: at least 0.26; gratings, checkerboards and targets 0.02–0.12)."""
ANISOTROPY_LIMIT = 20.0
"""Largest ``anisotropy`` z (views: at most 8.8; lines of text 100–430)."""
WIDTH_LIMIT = 0.8
"""Largest ``spectral_width`` [ln k] (views: at most 0.75, 0.47 at the median; fractal noise 0.9–1.2)."""
WIDTH_TWO_LEVEL = (0.6, 0.6)
"""An image wider than the first value [ln k] and less two-level than the second is a texture too (views
as wide read ≥ 0.65 two-level, MFM views the least: their contrast sits at the walls; sand-like grains 0.54)."""
HIGH_K = 0.35
"""Spatial frequencies beyond this [cycles per pixel] measure the white-noise floor."""
COLOURED_SHARE = 0.05
"""A colour image whose coloured pixels (``imaging.load``'s ``meta["hue"]``) are fewer than this share
(a coloured scale bar or label) is read as grey."""
HUE_SPREAD_DEG = 20.0
"""Circular spread of hue [degrees] above which the colours are a colour map, not one tint (a single-hue
false-colour camera: ~0°)."""


@dataclasses.dataclass(frozen=True)
class DomainLikeness:
    """The measures of the module docstring (dimensionless; None where the image gives no value)."""

    uniform_share: float
    axis_share: float
    axis_regularity: float | None
    regularity: float | None
    ring_width: float | None
    anisotropy: float | None
    spectral_width: float | None
    two_level: float | None

    def to_json(self) -> dict:
        return {k: (None if v is None else round(float(v), 4)) for k, v in dataclasses.asdict(self).items()}


def _otsu_between(v: np.ndarray) -> float:
    """Otsu's largest between-class variance of the values ``v``."""
    v = np.sort(np.asarray(v, np.float64).ravel())
    n = v.size
    c = np.cumsum(v)
    i = np.arange(1, n)
    w0 = i / n
    between = w0 * (1 - w0) * (c[:-1] / i - (c[-1] - c[:-1]) / (n - i)) ** 2
    return float(between.max()) if between.size else 0.0


def _spectrum(x: np.ndarray):
    ky = np.fft.fftfreq(x.shape[0])[:, None] * np.ones((1, x.shape[1]))
    kx = np.fft.fftfreq(x.shape[1])[None, :] * np.ones((x.shape[0], 1))
    return kx, ky, np.hypot(kx, ky), np.abs(np.fft.fft2(x - x.mean())) ** 2


def measure(image: np.ndarray) -> DomainLikeness:
    """The domain-likeness measures of a 2D contrast image (normalised to about [−1, 1], as loaded)."""
    from scipy import ndimage

    x = np.asarray(image, np.float64)
    flat = ndimage.maximum_filter(np.abs(ndimage.laplace(x)), 3) <= FLAT_CURVATURE
    up, down = float(np.mean(flat & (x > 0))), float(np.mean(flat & (x <= 0)))
    kx, ky, k, p = _spectrum(x)
    total = p.sum() - p[0, 0]
    off = (kx != 0) & (ky != 0)
    axes = [p[1 : (p.shape[0] + 1) // 2, 0], p[0, 1 : (p.shape[1] + 1) // 2]]  # kx = 0, ky = 0: each mode once
    a = max(axes, key=np.sum)
    axis_share = float(2 * a.sum() / total) if total > 0 else 0.0
    axis_regularity = float(a.sum() ** 2 / np.sum(a**2) / a.size) if a.sum() > 0 else None
    none = DomainLikeness(abs(up - down), axis_share, axis_regularity, None, None, None, None, None)
    if not p[off].sum() > 0:
        return none
    kc = p[off].sum() / np.sum(p[off] / k[off])
    for _ in range(12):  # mean shift on |k| (``geometry.pattern_geometry``), on the image itself
        w = np.where(off & (k > kc / math.sqrt(2)) & (k < kc * math.sqrt(2)), p, 0.0)
        if not w.sum() > 0:
            break
        kc = float(np.sum(w * k) / w.sum())
    half = off & ((ky > 0) | ((ky == 0) & (kx > 0)))  # p(−k) = p(k): each mode once
    band = half & (k > kc / 2) & (k < 2 * kc)
    pb = p[band]
    if pb.size < 2 or not pb.sum() > 0:
        return none
    n_eff = pb.sum() ** 2 / np.sum(pb**2)
    theta = np.arctan2(ky[band], kx[band])
    a2 = abs(np.sum(pb * np.exp(2j * theta))) / pb.sum()
    kb = k[band]
    mean_k = np.sum(pb * kb) / pb.sum()
    ring = math.sqrt(np.sum(pb * (kb - mean_k) ** 2) / pb.sum()) / mean_k
    return dataclasses.replace(
        none, regularity=float(n_eff / pb.size), ring_width=float(ring), anisotropy=float(a2**2 * n_eff / 2),
        spectral_width=_spectral_width(k, p, off, min(x.shape)), two_level=_two_level(x, k, p, off, 1.0 / kc))


def _floor(k, p, off) -> float:
    high = off & (k >= HIGH_K)
    return float(p[high].mean()) if high.any() else 0.0


def _spectral_width(k, p, off, n: int) -> float | None:
    """Spread of ln|k| under the power above the noise floor (log-spaced bins: each bin's mean less the floor)."""
    floor = _floor(k, p, off)
    edges = np.geomspace(1.5 / n, HIGH_K, 22)
    idx = np.digitize(k[off], edges)
    inside = (idx >= 1) & (idx < len(edges))
    idx, kk, pp = idx[inside], k[off][inside], p[off][inside]
    count = np.bincount(idx, minlength=len(edges))
    has = count > 0
    mean_p = np.bincount(idx, weights=pp, minlength=len(edges))[has] / count[has]
    lnk = np.bincount(idx, weights=np.log(kk), minlength=len(edges))[has] / count[has]
    weight = np.maximum(mean_p - floor, 0.0) * count[has]
    if not weight.sum() > 0:
        return None
    m = np.sum(weight * lnk) / weight.sum()
    return float(math.sqrt(np.sum(weight * (lnk - m) ** 2) / weight.sum()))


def _two_level(x, k, p, off, period_px: float) -> float | None:
    """Otsu's between-class variance of ``x`` smoothed over period/16 over its variance less the noise's."""
    from scipy import ndimage

    s = max(period_px / 16, 0.5)
    y = ndimage.gaussian_filter(x, s)
    noise = _floor(k, p, off) / x.size * float(np.mean(np.exp(-((2 * math.pi * k * s) ** 2))))
    var = float(y.var()) - noise
    if not var > 0:
        return None
    step = max(1, int(math.sqrt(y.size / 262144)))  # Otsu on at most ~512² pixels
    return min(_otsu_between(y[::step, ::step]) / var, 1.0)  # above 1: the noise estimate took some signal


def notices(m: DomainLikeness) -> list[Notice]:
    """The reasons (``Notice`` with this module's codes) not to read ``m``'s image as a domain image."""
    out = []
    if m.uniform_share > UNIFORM_LIMIT:
        out.append(Notice(UNIFORM_BACKGROUND, f"{m.uniform_share:.0%} of the image is one flat shade more than the "
                          "other (a page's or a plot's background): text, a drawing or a figure, not a microscope's "
                          "recording of domains (crop it to the microscope's field)"))
    regular = []
    if m.axis_share > AXIS_LIMIT and m.axis_regularity is not None and m.axis_regularity < REGULARITY_LIMIT:
        regular.append(f"{m.axis_share:.0%} of its power lies in a few peaks along the image's rows or columns")
    if m.regularity is not None and m.regularity < REGULARITY_LIMIT:
        regular.append(f"a few sharp spectral peaks hold its power, regularity {m.regularity:.3f} where relaxed mazes "
                       "read ≥ 0.14")
    if m.ring_width is not None and m.ring_width < RING_WIDTH_LIMIT:
        regular.append(f"its spectral ring is {m.ring_width:.2f} wide where relaxed mazes' are ≥ 0.26")
    if regular:
        out.append(Notice(REGULAR_PATTERN, "the pattern is more regular than any relaxed domain state (" + "; ".join(regular)
                          + "): a grating, checkerboard, lines of text, aligned stripes or another made pattern"))
    if m.anisotropy is not None and m.anisotropy > ANISOTROPY_LIMIT and not regular:
        out.append(Notice(ALIGNED_PATTERN, f"the pattern runs along one direction (anisotropy {m.anisotropy:.3g}; "
                          f"isotropic mazes < {ANISOTROPY_LIMIT:g}): lines of text, a drawing, or aligned stripes, "
                          "which the network never saw (it knows mazes relaxed at zero field)"))
    w, t = m.spectral_width, m.two_level
    if w is not None and (w > WIDTH_LIMIT or (w > WIDTH_TWO_LEVEL[0] and t is not None and t < WIDTH_TWO_LEVEL[1])):
        why = "" if w > WIDTH_LIMIT else f", and it is not two-level (two-level contrast {t:.2f})"
        out.append(Notice(TEXTURE, f"the image holds structure at many length scales (spectral width {w:.2f} in ln k; "
                          f"a domain pattern's ≤ {WIDTH_LIMIT:g}){why}: a texture, noise or a photograph, not one "
                          "domain period"))
    return out


def colour_notice(meta: dict) -> Notice | None:
    """The reason not to read a colour-mapped image (``meta["hue"]``, recorded by ``imaging.load``), or None."""
    hue = meta.get("hue")
    if not hue or hue["coloured_share"] < COLOURED_SHARE or hue["spread_deg"] <= HUE_SPREAD_DEG:
        return None
    return Notice(COLOUR_MAP, f"the image has colour: {hue['coloured_share']:.0%} of its pixels are coloured, their hue "
                  f"spread over {hue['spread_deg']:.0f}°: a colour-mapped figure, not a microscope channel (its grey "
                  "levels are not the signal; export the channel's grey levels)")
