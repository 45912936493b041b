"""Estimating (D, Ms, σ) from one image of any size and pixel size with a trained CNN.

The image is resampled to the model's pixel size p (``imaging.resample``) and covered by P × P
tiles (P·p = 2.048 µm by default): along an axis longer than P, n = ⌈L/P⌉ tiles at evenly spaced
offsets cover it with the least overlap; an axis shorter than P is used whole and the tile is
centred on a canvas of zeros or of its mirror images, as the model was trained (its ``fill``,
``data.augment``). Each tile gives a mean μ_t and a
spread s_t per normalised target; they are combined as

    μ  = Σ w_t μ_t / Σ w_t,   w_t = 1/s_t²   (precision-weighted mean)
    sd² = [ 1/mean(w) + Σ w_t (μ_t − μ)² / Σ w_t ] / n_eff,

i.e. the spread of one tile's estimate (its own predicted variance plus the between-tile scatter,
the law of total variance) reduced by the number of independent fields n_eff = max(1, area / (P·p)²)
(beyond the largest calibrated field of view only the state's share of it: ``floored``)
— overlapping tiles do not count as independent evidence.

With ``symmetries`` (the default for a model trained with augmentation) each tile is first read in
all 16 versions the physics cannot tell apart and training showed the network (8 rotations and
reflections of the square × the sign of m_z), and μ_t, s_t are those of the 16 readings: μ_t their
mean, s_t² the mean of their variances plus the variance of their means (the law of total variance
again; the copies are one field of view, not 16).

A model calibrated by ``calibrate_spread`` multiplies each final sd by its factor at the image's
field of view (``spread_scale``).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from ..data.augment import check_fill, fold_index
from ..errors import DomainfitError
from ..units import user_unit
from .checkpoint import LoadedModel
from .support import SupportMeasures, assess, check_size
from ..features.geometry import domain_geometry, pattern_contrast, pattern_geometry



@dataclasses.dataclass
class Estimate:
    """A CNN estimate in SI units.

    Attributes:
        targets: parameter names, e.g. ("D", "Ms", "sigma").
        mean, sd: dicts name → value [SI: J/m², A/m, 1].
        tile_mean, tile_sd: arrays [n_tiles, K] of the per-tile estimates [SI].
        pixel_size: the model pixel size the image was resampled to [m].
        field_of_view: (height, width) of the image [m].
        n_eff: number of independent fields of view used in the spread.
        wall_time_s: time of the estimate (resampling, tiling, network).
        fixed: targets the training set held at one value: not estimated (mean = that value, sd = 0).
        views_per_tile: 16 when each tile was read in its symmetric versions, else 1.
        reasons: why the estimate should not be trusted (``nn.support``); empty when it may be.
        support: the measures the checks rest on (``nn.support.SupportMeasures``: period, pixels per
            period, feature score …); None where no check ran.
        family: the instrument family the user named (its spread calibration was used), or None.
        spread_calibration: which calibration scaled the spreads: "pooled" (over the training
            instruments), "family" or "family and settings" (``LoadedModel.spread_scale``).
    """

    targets: tuple[str, ...]
    mean: dict[str, float]
    sd: dict[str, float]
    tile_mean: np.ndarray
    tile_sd: np.ndarray
    pixel_size: float
    field_of_view: tuple[float, float]
    n_eff: float
    wall_time_s: float = 0.0
    warnings: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    views_per_tile: int = 1
    reasons: tuple[str, ...] = ()
    support: SupportMeasures | None = None
    family: str | None = None
    spread_calibration: str = "pooled"

    @property
    def trustworthy(self) -> bool:
        """False when a support check failed (``reasons`` says which, in plain words)."""
        return not self.reasons

    def to_json(self) -> dict:
        """JSON-able dict in user units: ``parameters.{D,Ms,sigma}.{unit,mean,sd}`` and details."""
        params = {}
        for t in self.targets:
            unit, si = user_unit(t)
            params[t] = {"unit": unit, "mean": self.mean[t] / si, "sd": self.sd[t] / si}
            if t in self.fixed:
                params[t]["fixed"] = True  # held at this value in training: not estimated
        return {
            "trustworthy": self.trustworthy,
            "reasons": list(self.reasons),
            "parameters": params,
            "tiles": int(self.tile_mean.shape[0]),
            "views_per_tile": self.views_per_tile,
            "n_eff": self.n_eff,
            "model_pixel_size_nm": self.pixel_size * 1e9,
            "field_of_view_um": [self.field_of_view[0] * 1e6, self.field_of_view[1] * 1e6],
            "warnings": list(self.warnings),
            "support": None if self.support is None else self.support.to_json(),
            "instrument_family": self.family,
            "spread_calibration": self.spread_calibration,
        }


def tile_starts(length: int, tile: int) -> list[int]:
    """Offsets of ⌈length/tile⌉ evenly spaced tiles covering [0, length) (one tile [0, length) if shorter)."""
    if length <= tile:
        return [0]
    n = math.ceil(length / tile)
    return [int(round(v)) for v in np.linspace(0, length - tile, n)]


def make_tiles(image: np.ndarray, in_pixels: int, fill: str = "zero") -> np.ndarray:
    """Tiles [n, P, P] of an image at the model pixel size; short axes centred, surrounded by zeros or
    by their mirror images (``fill``, as the model was trained: ``data.augment``)."""
    h, w = image.shape
    mirror = check_fill(fill) == "mirror"
    out = []
    for y in tile_starts(h, in_pixels):
        for x in tile_starts(w, in_pixels):
            t = image[y : y + in_pixels, x : x + in_pixels]
            if mirror:
                iy, ix = fold_index(in_pixels, t.shape[0], np), fold_index(in_pixels, t.shape[1], np)
                out.append(np.asarray(t[iy[:, None], ix[None, :]], np.float32))
                continue
            canvas = np.zeros((in_pixels, in_pixels), np.float32)
            oy, ox = (in_pixels - t.shape[0]) // 2, (in_pixels - t.shape[1]) // 2
            canvas[oy : oy + t.shape[0], ox : ox + t.shape[1]] = t
            out.append(canvas)
    return np.stack(out)


def contrast_as_mz(image: np.ndarray) -> np.ndarray:
    """Images already in m_z units ([-1, 1]) are kept; others are mapped so that the 1st and 99th
    percentiles go to −1 and +1 (clipped), the contrast of simulated training images."""
    image = np.asarray(image, np.float32)
    if not np.isfinite(image).all():
        raise DomainfitError("image holds NaN or infinite pixels")
    if np.abs(image).max() <= 1.0 + 1e-3:
        return image
    lo, hi = np.percentile(image, [1, 99])
    if hi <= lo:
        raise DomainfitError("image has no contrast (flat): cannot see domains in it")
    return np.clip(2 * (image - lo) / (hi - lo) - 1, -1, 1).astype(np.float32)


def to_model_pixels(image: np.ndarray, pixel_size: float, target: float) -> np.ndarray:
    if not (pixel_size > 0 and math.isfinite(pixel_size)):
        raise DomainfitError(f"pixel size {pixel_size} m: need a finite positive length (pass --pixel-size, e.g. 15.6nm)")
    if abs(pixel_size / target - 1) < 1e-9:
        return np.asarray(image, np.float32)
    from .. import imaging

    return np.asarray(imaging.resample(image, pixel_size, target), np.float32)


def symmetric_copies(tiles: np.ndarray) -> np.ndarray:
    """The 16 versions [n, 16, P, P] of each tile [n, P, P]: rot90 by 0–3, each with and without a
    transpose (the 8 symmetries of the square, ``data.augment.dihedral``), each with both signs."""
    views = [np.rot90(tiles, r, axes=(1, 2)) for r in range(4)]
    views += [np.swapaxes(v, 1, 2) for v in views]
    views += [-v for v in views]
    return np.ascontiguousarray(np.stack(views, axis=1))


def merge_copies(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Readings [n, G, K] of G copies of each tile → (μ [n, K], s [n, K]) by the law of total variance."""
    mean = mu.mean(axis=1)
    var = (sd**2).mean(axis=1) + mu.var(axis=1)
    return mean, np.sqrt(var)


def predict_tiles(loaded: LoadedModel, tiles: np.ndarray, batch: int = 64, *, features: bool = False):
    """(means, sds) [n, K] of the normalised targets for tiles [n, P, P], batched with padding to a
    power of two; with ``features`` also the network's features [n, F] (``CNN.features``)."""
    import jax.numpy as jnp

    from .model import predict, predict_with_features

    means, sds, feats = [], [], []
    for a in range(0, len(tiles), batch):
        t = tiles[a : a + batch]
        n = len(t)
        size = min(batch, 1 << max(n - 1, 0).bit_length())  # few distinct shapes → few compilations
        if size > n:
            t = np.concatenate([t, np.zeros((size - n, *t.shape[1:]), t.dtype)])
        if features:
            mu, log_sd, f = predict_with_features(loaded.model, loaded.state, jnp.asarray(t, jnp.float32))
            feats.append(np.asarray(f, np.float64)[:n])
        else:
            mu, log_sd = predict(loaded.model, loaded.state, jnp.asarray(t, jnp.float32))  # the model's dtype
        means.append(np.asarray(mu, np.float64)[:n])
        sds.append(np.exp(np.asarray(log_sd, np.float64))[:n])
    if features:
        return np.concatenate(means), np.concatenate(sds), np.concatenate(feats)
    return np.concatenate(means), np.concatenate(sds)


def trained_with_symmetries(loaded: LoadedModel) -> bool:
    """Whether training showed the network the 16 symmetric versions (``train --no-augment`` did not)."""
    return bool(loaded.training.augment)


def read_tiles(loaded: LoadedModel, tiles: np.ndarray, *, symmetries: bool | None = None, features: bool = False):
    """(μ_t, s_t) [n, K] of tiles [n, P, P] in normalised units; with ``symmetries`` each tile is read
    in its 16 symmetric versions, merged by ``merge_copies`` (None: if the model was trained on them).
    With ``features``, also each tile's mean network features [n, F] over its versions."""
    if symmetries is None:
        symmetries = trained_with_symmetries(loaded)
    if not symmetries:
        return predict_tiles(loaded, tiles, features=features)
    copies = symmetric_copies(tiles)
    n, g = copies.shape[:2]
    out = predict_tiles(loaded, copies.reshape(n * g, *tiles.shape[1:]), features=features)
    mu, sd = merge_copies(out[0].reshape(n, g, -1), out[1].reshape(n, g, -1))
    if features:
        return mu, sd, out[2].reshape(n, g, -1).mean(axis=1)
    return mu, sd


def combine(mu: np.ndarray, sd: np.ndarray, n_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """Combine tile predictions [n, K] into (mean [K], sd [K]) (see the module docstring)."""
    w = 1.0 / sd**2
    mean = (w * mu).sum(0) / w.sum(0)
    between = (w * (mu - mean) ** 2).sum(0) / w.sum(0)
    var = (1.0 / w.mean(0) + between) / max(n_eff, 1.0)
    return mean, np.sqrt(var)


def prepare(loaded: LoadedModel, image: np.ndarray, pixel_size: float) -> np.ndarray:
    """The image as ``loaded`` reads it, at its pixel size: for a model trained on instrument views,
    ``imaging.model_input`` of the grey levels as they are (background, contrast, resampling; as in
    training), else the contrast normalised and resampled. Refuses (``support.check_size``) images
    too coarse or too large first."""
    if not (math.isfinite(pixel_size) and pixel_size > 0):
        raise DomainfitError(f"pixel size {pixel_size} m: need a finite positive length (pass --pixel-size, e.g. 15.6nm)")
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 2:
        raise DomainfitError(f"image of shape {image.shape}: need one 2D grey-scale image")
    check_size(image.shape, pixel_size, loaded.pixel_size)
    if loaded.flatten is None:
        return to_model_pixels(contrast_as_mz(image), pixel_size, loaded.pixel_size)
    from ..imaging import model_input

    if not np.isfinite(image).all():
        raise DomainfitError("image holds NaN or infinite pixels")
    return model_input(image, pixel_size, loaded.pixel_size, flatten=loaded.flatten)


@dataclasses.dataclass
class Reading:
    """What the network makes of one image before calibration and checks (normalised units).

    Attributes:
        prepared: the image at the model pixel size (``prepare``).
        tile_mean, tile_sd: per-tile μ_t, s_t [n, K]; mean, sd: combined [K] (``combine``).
        features: the tiles' mean network features [F]; field_of_view [m]; n_eff.
    """

    prepared: np.ndarray
    tile_mean: np.ndarray
    tile_sd: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    features: np.ndarray
    field_of_view: tuple[float, float]
    n_eff: float


def reading_of(loaded: LoadedModel, image: np.ndarray, pixel_size: float, *, symmetries: bool | None = None) -> Reading:
    """Prepare, tile and read one image (``estimate`` without spread calibration and checks)."""
    img = prepare(loaded, image, pixel_size)
    shape = np.shape(image)
    P, p = loaded.in_pixels, loaded.pixel_size
    mu, sd, feats = read_tiles(loaded, make_tiles(img, P, loaded.fill), symmetries=symmetries, features=True)
    fov = (shape[0] * pixel_size, shape[1] * pixel_size)
    n_eff = max(1.0, fov[0] * fov[1] / (P * p) ** 2)
    mean, spread = combine(mu, sd, n_eff)
    spread = floored(spread, n_eff, loaded)
    return Reading(img, mu, sd, mean, spread, feats.mean(0), fov, n_eff)


def floored(spread: np.ndarray, n_eff: float, loaded: LoadedModel) -> np.ndarray:
    """The combined spread [K] of an image larger than the largest calibrated field of view F (n_cal
    tiles): only the state's share ρ of the variance keeps falling as 1/n_eff, the rest (instrument,
    reading) stays at its value at F — var = v (ρ/n_eff + (1 − ρ)/n_cal) instead of v/n_eff."""
    F = loaded.calibrated_field_of_view
    if F is None:
        return spread
    n_cal = max(1.0, F**2 / (loaded.in_pixels * loaded.pixel_size) ** 2)
    if n_eff <= n_cal:
        return spread
    rho = loaded.between_state_share
    return spread * np.sqrt(rho + (1.0 - rho) * n_eff / n_cal)


def estimate(
    loaded: LoadedModel,
    image: np.ndarray,
    pixel_size: float,
    *,
    symmetries: bool | None = None,
    family: str | None = None,
    settings: dict[str, float] | None = None,
) -> Estimate:
    """Estimate the targets of ``loaded`` from one image, with its support checks.

    Args:
        loaded: a model from ``load_model``/``load_default``.
        image: 2D contrast image [h, w] (m_z units, or any contrast: see ``contrast_as_mz``).
        pixel_size: its pixel size [m].
        symmetries: read every tile in its 16 symmetric versions and merge them (module docstring);
            None (default): when the model was trained with augmentation, which showed it those versions.
        family: the instrument family that recorded the image, when known (``data.instruments``):
            its own spread calibration is used.
        settings: with ``family``, its settings when known (``height``, ``resolution`` [m]): given
            all those the family has, the spreads follow the calibration's model of them
            (``LoadedModel.spread_scale``); a saturated image hides them from the network.

    Images that cannot carry the answer are refused (``DomainfitError``) or flagged
    (``Estimate.trustworthy`` False, with ``reasons``): ``nn.support``.
    """
    from ..data.instruments import FAMILIES

    t0 = time.perf_counter()
    if family is not None and family not in FAMILIES:
        raise DomainfitError(f"instrument family {family!r}: use one of {', '.join(FAMILIES)}")
    if symmetries is None:
        symmetries = trained_with_symmetries(loaded)
    r = reading_of(loaded, image, pixel_size, symmetries=symmetries)
    img, mu, sd, fov, n_eff, mean, spread = r.prepared, r.tile_mean, r.tile_sd, r.field_of_view, r.n_eff, r.mean, r.sd
    p = loaded.pixel_size
    if family is not None and family not in loaded.calibrated_families:
        family_scale = None  # not calibrated for it: the pooled factors (a family absent from calibration)
    else:
        family_scale = family
    if settings and family is None:
        raise DomainfitError("instrument settings need the instrument family they belong to")
    spread = spread * loaded.spread_scale(math.sqrt(fov[0] * fov[1]), family_scale, settings)
    centre, scale = loaded.centre_scale()
    targets = loaded.targets
    prior = loaded.instruments
    reference = loaded.support_reference
    reasons, measures = assess(
        pixel_size=pixel_size, field_of_view=fov, geometry=pattern_geometry(img, p),
        trained_pixel_range=None if prior is None else (min(prior.pixel_sizes), max(prior.pixel_sizes)),
        fov_min=loaded.fov_min, reference=reference,
        feature_score=None if reference is None else float(reference.score(r.features)),
        contrast=pattern_contrast(np.asarray(image)), image=np.asarray(image),
    )  # fmt: skip
    domains = domain_geometry(img, p)  # the geometry the set emulators read (``surrogate.learned``)
    measures = dataclasses.replace(
        measures, domains_period=domains["period"] if math.isfinite(domains["period"]) else None,
        domains_wall_density=domains["wall_density"])
    warnings = []
    if family is not None and family_scale is None:
        warnings.append(f"the model has no spread calibration for instrument family {family!r}: pooled factors used")
    calibration = "pooled" if family_scale is None else "family"
    missing = loaded.missing_settings(family_scale, settings)
    if missing:
        options = {"height": "height (--lift)", "resolution": "resolution (--resolution)"}
        warnings.append(f"the spreads are calibrated over all the {family_scale} settings drawn in training; give "
                        f"its {' and '.join(options[n] for n in missing)} for spreads that follow your instrument's")
    elif missing == () and settings:
        calibration = "family and settings"
    # A target the training set held at one value (e.g. Ms of a Co/Pt-only set) is not estimated:
    # the network saw no variation of it, so it is reported as that value with no spread.
    ranges = loaded.ranges
    fixed = tuple(t for t in targets if t in ranges and ranges[t][0] == ranges[t][1])
    return Estimate(
        targets=targets,
        mean={t: float(ranges[t][0]) if t in fixed else float(centre[k] + scale[k] * mean[k]) for k, t in enumerate(targets)},
        sd={t: 0.0 if t in fixed else float(scale[k] * spread[k]) for k, t in enumerate(targets)},
        tile_mean=centre + scale * mu,
        tile_sd=scale * sd,
        pixel_size=p,
        field_of_view=fov,
        n_eff=n_eff,
        wall_time_s=time.perf_counter() - t0,
        warnings=tuple(warnings),
        fixed=fixed,
        views_per_tile=16 if symmetries else 1,
        reasons=tuple(reasons),
        support=measures,
        family=family,
        spread_calibration=calibration,
    )
