"""Can this image carry the answer? Support checks of the CNN estimator (docs/cnn.md, "Support").

Two kinds, in plain words:

* **Refusals** (``DomainfitError``, CLI exit 2), checked from the image's shape and pixel size before
  anything is allocated: pixels coarser than ``MAX_PIXEL_SIZE`` (the domains of these films are
  ~100–200 nm wide: a few pixels each), or an image that would exceed ``MAX_MODEL_PIXELS`` at the
  model's pixel size (crop it).
* **Flags** (``trustworthy: false`` with reasons; CLI exit ``UNTRUSTWORTHY_EXIT``): the estimate is
  made but should not be believed — pixels coarser than any the network was trained on, a field of
  view below the smallest trained, too few pixels per domain period or periods in view, a domain
  period outside the range seen in training (a stripe pattern at 10× the period), no domain walls,
  an image indistinguishable from pixel noise (``pattern_contrast``: a uniform film recorded with
  noise, whose sign is a fine 'maze' of noise), an out-of-distribution score of the network's
  features above its limit, and an image that is not a domain image at all
  (``features.domain_likeness``: a page or plot background, a pattern more regular or more aligned
  than any relaxed state, a texture of many length scales; each a ``Notice`` with its code).

The domain period and the wall density are measured on the sign of the prepared image (what the
network reads), so they are the pattern's geometry whatever the instrument; ``domain_geometry``
measures them on the image's domains (``domain_sign``), which noise in weak places does not cut. The feature score is a
Mahalanobis distance of the image's mean penultimate features (``CNN.features``, averaged over
tiles and symmetric views) from those of held-out instrument-rendered calibration views: in the
space of the leading ``N_COMPONENTS`` principal components, plus the residual, per dimension,

    score = [Σ_{i<k} p_i²/λ_i + |r|²/λ_res] / F,

fitted by ``fit_reference`` (``domainfit calibrate``) and stored beside the model
(``<model>.support.npz``); the limit is ``LIMIT_MARGIN`` × its 99.5 % quantile on those views.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ..features.domain_likeness import DomainLikeness, measure as measure_likeness, notices as likeness_notices
from ..features.geometry import MIN_PATTERN_CONTRAST as MIN_PATTERN_CONTRAST

MAX_PIXEL_SIZE = 64e-9
"""Coarsest pixel accepted [m]: a 150 nm domain would be about two pixels wide."""
MAX_MODEL_PIXELS = 2048 * 2048
"""Largest image at the model pixel size (32.8 µm at 16 nm): larger ones must be cropped first."""
from ..errors import UNTRUSTWORTHY_EXIT as UNTRUSTWORTHY_EXIT  # noqa: E402 — re-exported here
MIN_PIXELS_PER_PERIOD = 8.0
MIN_PERIODS_IN_VIEW = 2.0
PERIOD_MARGIN = 1.5
"""A period beyond [lo/margin, hi·margin] of the training range is flagged."""
PIXEL_MARGIN = 1.25
"""Pixels coarser than margin × the coarsest trained pixel are flagged."""
N_COMPONENTS = 16
LIMIT_MARGIN = 1.5
MIN_WALL_DENSITY = 1.0e6
"""Fewer walls than this [1/m] (1 per µm): no domain pattern to read."""
def check_size(shape: tuple[int, int], pixel_size: float, model_pixel_size: float) -> None:
    """Refuse, before any allocation, an image whose pixels are too coarse or that would be too
    large at the model pixel size (``DomainfitError`` with what to do)."""
    if pixel_size > MAX_PIXEL_SIZE:
        raise DomainfitError(
            f"pixel size {pixel_size * 1e9:.4g} nm is too coarse: domains of these films are ~100–200 nm wide, "
            f"so they would span a pixel or two; domainfit reads images with pixels up to {MAX_PIXEL_SIZE * 1e9:.0f} nm "
            "(check --pixel-size, or image the film at a higher magnification)")
    ny, nx = shape
    my, mx = math.ceil(ny * pixel_size / model_pixel_size), math.ceil(nx * pixel_size / model_pixel_size)
    if my * mx > MAX_MODEL_PIXELS:
        side = math.sqrt(MAX_MODEL_PIXELS) * model_pixel_size
        raise DomainfitError(
            f"image of {ny}×{nx} px at {pixel_size * 1e9:.4g} nm covers {ny * pixel_size * 1e6:.3g}×{nx * pixel_size * 1e6:.3g} µm: "
            f"more than the {side * 1e6:.3g}×{side * 1e6:.3g} µm read at once; crop a part of it")


@dataclasses.dataclass(frozen=True)
class Reference:
    """The calibration views' feature distribution and geometry ranges (``fit_reference``)."""

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    residual_variance: float
    limit: float
    period_range: tuple[float, float]
    n_views: int
    min_pixels_per_period: float = MIN_PIXELS_PER_PERIOD

    def score(self, features: np.ndarray) -> np.ndarray:
        """Out-of-distribution score of feature vectors [..., F] (module docstring; ≈ 1 in distribution)."""
        d = np.asarray(features, np.float64) - self.mean
        p = d @ self.components.T
        r2 = np.sum(d**2, axis=-1) - np.sum(p**2, axis=-1)
        return (np.sum(p**2 / self.eigenvalues, axis=-1) + np.maximum(r2, 0.0) / self.residual_variance) / d.shape[-1]

    def save(self, path: str | Path) -> Path:
        from .._files import atomic_write
        import io

        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, components=self.components, eigenvalues=self.eigenvalues,
                 residual_variance=self.residual_variance, limit=self.limit, period_range=np.asarray(self.period_range),
                 n_views=self.n_views, min_pixels_per_period=self.min_pixels_per_period)  # fmt: skip
        atomic_write(path, buf.getvalue())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "Reference":
        try:
            with np.load(path) as f:
                return cls(mean=f["mean"], components=f["components"], eigenvalues=f["eigenvalues"],
                           residual_variance=float(f["residual_variance"]), limit=float(f["limit"]),
                           period_range=tuple(float(v) for v in f["period_range"]), n_views=int(f["n_views"]),
                           min_pixels_per_period=float(f["min_pixels_per_period"]))  # fmt: skip
        except (OSError, KeyError, ValueError) as err:
            raise DomainfitError(f"cannot read the support reference {path}: {err}") from None


def fit_reference(features: np.ndarray, periods: np.ndarray, pixel_sizes: np.ndarray | None = None, *,
                  quantile: float = 0.995) -> Reference:
    """The reference of held-out views' mean features [n, F], domain periods [n] [m] and detector
    pixel sizes [n] [m]: the pixels-per-period floor is the smaller of ``MIN_PIXELS_PER_PERIOD`` and
    the 0.5 % quantile over the views (the sign of an MFM image, whose band-pass puts contrast at the
    walls, reads a shorter period than the domains': training saw those)."""
    features = np.asarray(features, np.float64)
    n, f = features.shape
    if n < 2 * N_COMPONENTS:
        raise DomainfitError(f"{n} calibration views: need at least {2 * N_COMPONENTS} for the support reference")
    mean = features.mean(0)
    d = features - mean
    _, sv, vt = np.linalg.svd(d, full_matrices=False)
    lam = sv**2 / (n - 1)
    k = N_COMPONENTS
    floor = max(lam[0] * 1e-8, 1e-12)
    resid = max(float(np.sum(lam[k:]) / max(f - k, 1)), floor)
    periods = np.asarray(periods, np.float64)
    ppp = MIN_PIXELS_PER_PERIOD
    if pixel_sizes is not None:
        ppp = min(ppp, float(np.quantile(periods / np.asarray(pixel_sizes, np.float64), 1 - quantile)))
    ref = Reference(mean=mean, components=vt[:k], eigenvalues=np.maximum(lam[:k], floor), residual_variance=resid,
                    limit=0.0, period_range=(float(np.min(periods)), float(np.max(periods))), n_views=n,
                    min_pixels_per_period=ppp)  # fmt: skip
    limit = LIMIT_MARGIN * float(np.quantile(ref.score(features), quantile))
    return dataclasses.replace(ref, limit=limit)


@dataclasses.dataclass(frozen=True)
class SupportMeasures:
    """What the support checks of one image rest on (SI; None where the image gives no value).

    Attributes:
        period: domain period of the image's sign [m] (None: no walls, no period).
        wall_density: wall length per area of the sign [1/m].
        pixels_per_period, periods_in_view: the period in the image's pixels and in its field of view.
        pattern_contrast: power at domain scales over that at the pixel scale (``features.geometry``).
        feature_score, feature_limit: the network's features against its training views (``Reference``).
        domains_period, domains_wall_density: the same geometry of the image's domains
            (``features.geometry.domain_geometry``), which the parameter sets' emulators read.
        likeness: how far the image is a domain image at all (``features.domain_likeness``).
    """

    period: float | None
    wall_density: float
    pixels_per_period: float | None
    periods_in_view: float
    pattern_contrast: float | None = None
    feature_score: float | None = None
    feature_limit: float | None = None
    domains_period: float | None = None
    domains_wall_density: float | None = None
    likeness: DomainLikeness | None = None

    def to_json(self) -> dict:
        """The report's ``support`` block (nm, per µm)."""
        out = {"period_nm": None if self.period is None else self.period * 1e9,
               "wall_density_per_um": self.wall_density * 1e-6, "pixels_per_period": self.pixels_per_period,
               "periods_in_view": self.periods_in_view}
        for name in ("pattern_contrast", "feature_score", "feature_limit"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.domains_wall_density is not None:
            out["domains_period_nm"] = None if self.domains_period is None else self.domains_period * 1e9
            out["domains_wall_density_per_um"] = self.domains_wall_density * 1e-6
        if self.likeness is not None:
            out["domain_likeness"] = self.likeness.to_json()
        return out


def assess(
    *,
    pixel_size: float,
    field_of_view: tuple[float, float],
    geometry: dict,
    trained_pixel_range: tuple[float, float] | None,
    fov_min: float | None,
    reference: Reference | None,
    feature_score: float | None,
    contrast: float | None = None,
    image: np.ndarray | None = None,
) -> tuple[list[str], dict]:
    """(reasons not to trust the estimate — empty when none —, the ``SupportMeasures`` they rest on);
    with ``image`` (as loaded: contrast in about [−1, 1], its own pixels) also whether it is a domain
    image at all (``features.domain_likeness``)."""
    reasons = []
    period, walls = geometry["period"], geometry["wall_density"]
    fov = min(field_of_view)
    measures = SupportMeasures(period=period if math.isfinite(period) else None, wall_density=walls,
                               pixels_per_period=period / pixel_size if math.isfinite(period) else None,
                               periods_in_view=fov / period if math.isfinite(period) and period > 0 else 0.0)
    if trained_pixel_range is not None and pixel_size > PIXEL_MARGIN * trained_pixel_range[1]:
        reasons.append(f"pixels of {pixel_size * 1e9:.3g} nm are coarser than any the network was trained on "
                       f"({trained_pixel_range[0] * 1e9:.3g}–{trained_pixel_range[1] * 1e9:.3g} nm)")
    if fov_min is not None and fov < fov_min * (1 - 1e-6):
        reasons.append(f"the field of view ({fov * 1e6:.3g} µm) is smaller than any the network was trained on "
                       f"({fov_min * 1e6:.3g} µm): too few domains to read")
    if contrast is not None:
        measures = dataclasses.replace(measures, pattern_contrast=contrast)
        if not contrast >= MIN_PATTERN_CONTRAST:
            reasons.append(f"the image is indistinguishable from pixel noise (power at domain scales {contrast:.2g}× "
                           f"that at the pixel scale, need ≥ {MIN_PATTERN_CONTRAST}): no domain pattern stands above "
                           "the noise")
    if walls < MIN_WALL_DENSITY:
        what = "no domain pattern" if walls == 0 else f"almost no domain walls ({walls * 1e-6:.2g} per µm)"
        reasons.append(f"the image shows {what}: too little to read D or σ from")
    if math.isfinite(period) and walls > 0:
        floor = MIN_PIXELS_PER_PERIOD if reference is None else reference.min_pixels_per_period
        if period / pixel_size < floor:
            reasons.append(f"only {period / pixel_size:.1f} pixels per domain period ({period * 1e9:.0f} nm): walls "
                           f"are not resolved (need ≥ {floor:.1f})")
        if fov / period < MIN_PERIODS_IN_VIEW:
            reasons.append(f"only {fov / period:.1f} domain periods in view: too few domains to read")
        if reference is not None:
            lo, hi = reference.period_range
            if not lo / PERIOD_MARGIN <= period <= hi * PERIOD_MARGIN:
                reasons.append(f"the domain period ({period * 1e9:.0f} nm) is outside what the network was trained "
                               f"on ({lo * 1e9:.0f}–{hi * 1e9:.0f} nm): another film or another state")
    if reference is not None and feature_score is not None:
        measures = dataclasses.replace(measures, feature_score=feature_score, feature_limit=reference.limit)
        if not feature_score <= reference.limit:
            reasons.append(f"the image looks unlike anything in training (feature score {feature_score:.3g} > limit "
                           f"{reference.limit:.3g}): another kind of image, instrument or film")
    if image is not None:
        likeness = measure_likeness(image)
        measures = dataclasses.replace(measures, likeness=likeness)
        reasons.extend(likeness_notices(likeness))
    return reasons, measures
