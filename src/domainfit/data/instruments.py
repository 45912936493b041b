"""Random instruments: the distributions training, calibration and tests draw microscopes from.

A family fixes the kind of instrument (``imaging.Instrument``'s transfer and point spread) and the
range of its physical settings; every family shares the nuisance draws of a recorded image — pixel
size, detector saturation and asymmetry, background polynomial, scan-line offsets, white noise and
quantisation — so the network cannot tie any of them to the physics. Draws come from a NumPy
generator, so a view's instrument is a pure function of its seed.

Training families (``TRAINING``): ``ideal`` (the magnetisation, e.g. XMCD), ``gaussian`` (Gaussian
point spread: X-ray microscopy, PEEM, Lorentz TEM, a sharp Kerr image), ``mfm`` (force gradient of a
monopole or dipole tip at a lift height, with a tip blur) and ``probe`` (stray field H_z at a sensor
height, averaged over the sensor, area or point sampling). ``lorentzian`` (long-tailed point spread)
and ``kerr`` (diffraction-limited optics) are never drawn in training: the microscope benchmark
uses ``lorentzian`` as the family absent from training. ``binary`` is the ideal segmentation (the
sign of the area-sampled m_z, nothing else): the bound any instrument allows at its pixel size.
Ranges (nm, SNR = 1/noise) are in ``FAMILY_RANGES`` and docs/imaging.md.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import DomainfitError
from ..families import FAMILIES as ALL_FAMILIES
from ..imaging import BACKGROUND_TERMS, Instrument

NM = 1e-9

FAMILY_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "ideal": {},
    "gaussian": {"resolution": (5.0, 60.0)},
    "mfm": {"height": (5.0, 50.0), "resolution": (2.0, 30.0)},
    "probe": {"height": (10.0, 80.0), "resolution": (5.0, 60.0)},
    "lorentzian": {"resolution": (5.0, 40.0)},
    "kerr": {"resolution": (20.0, 60.0)},
    "binary": {},
}
"""Log-uniform ranges of each family's physical settings [nm]: resolution = FWHM of the point
spread (tip or sensor size for mfm/probe), height = lift or sensor height above the film."""

FAMILIES = ALL_FAMILIES

PIXEL_SIZES_NM: tuple[float, ...] = (4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0)
"""Detector pixel sizes drawn (equal probability) [nm]."""


@dataclasses.dataclass(frozen=True)
class InstrumentPrior:
    """A distribution of instruments: family weights and the nuisance draws (module docstring).

    Attributes:
        families: (name, weight) pairs; weights need not sum to 1.
        pixel_sizes: detector pixel sizes [m] drawn with equal probability.
        snr: log-uniform range of the signal-to-noise ratio 1/noise; p_noise: probability of noise.
        p_saturation, saturation: probability and log-uniform range of a finite non-linearity g;
            p_binarised: probability of g = ∞ (a two-level image).
        p_background, background: probability and log-uniform range of the background amplitude
            [signal sd] (linear terms; quadratic ×½, cubic ×¼ of it, random signs).
        p_lines, line_noise: probability and log-uniform range of the scan-line offset sd.
        p_asymmetry, asymmetry: probability and maximum |b| of the response asymmetry.
        bits: (bits, weight) pairs of the quantisation.
        clean: draw the family's physics only (no nuisance: pixel = cell, no noise, linear).
    """

    families: tuple[tuple[str, float], ...] = (("ideal", 1.0), ("gaussian", 3.0), ("mfm", 3.0), ("probe", 3.0))
    pixel_sizes: tuple[float, ...] = tuple(p * NM for p in PIXEL_SIZES_NM)
    snr: tuple[float, float] = (2.0, 100.0)
    p_noise: float = 0.85
    p_saturation: float = 0.35
    saturation: tuple[float, float] = (0.3, 10.0)
    p_binarised: float = 0.1
    p_background: float = 0.6
    background: tuple[float, float] = (0.01, 2.0)
    p_lines: float = 0.3
    line_noise: tuple[float, float] = (0.01, 0.3)
    p_asymmetry: float = 0.3
    asymmetry: float = 0.3
    bits: tuple[tuple[int, float], ...] = ((0, 0.4), (8, 0.3), (16, 0.3))
    clean: bool = False

    def __post_init__(self):
        unknown = [f for f, _ in self.families if f not in FAMILY_RANGES]
        if unknown or not self.families:
            raise DomainfitError(f"instrument families {unknown or '(none)'}: use some of {', '.join(FAMILIES)}")

    def family_names(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.families)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["families"] = [list(f) for f in self.families]
        d["bits"] = [list(b) for b in self.bits]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "InstrumentPrior":
        d = dict(d)
        d["families"] = tuple((str(f), float(w)) for f, w in d["families"])
        d["bits"] = tuple((int(b), float(w)) for b, w in d["bits"])
        for k in ("pixel_sizes", "snr", "saturation", "background", "line_noise"):
            d[k] = tuple(d[k])
        return cls(**d)


TRAINING = InstrumentPrior()
"""What training and calibration draw."""

BINARY = InstrumentPrior(families=(("binary", 1.0),), clean=True)
"""The ideal segmentation only (the bound network of the microscope benchmark)."""

CLEAN = InstrumentPrior(families=(("ideal", 1.0),), clean=True)
"""The magnetisation itself, area-sampled: a clean simulation at the drawn pixel size."""

TEST = InstrumentPrior(families=tuple((f, 1.0) for f in ("ideal", "gaussian", "mfm", "probe", "lorentzian")))
"""What the microscope benchmark draws from: the training families and nuisances with fresh settings
(another seed stream), plus ``lorentzian``, a family training never drew."""


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def family_instrument(family: str, rng: np.random.Generator, **fixed) -> dict:
    """The physical settings of one instrument of ``family`` (``Instrument`` keyword arguments, SI);
    ``fixed`` overrides any of them (e.g. ``height=25e-9`` for a user who knows the lift)."""
    if family not in FAMILY_RANGES:
        raise DomainfitError(f"instrument family {family!r}: use one of {', '.join(FAMILIES)}")
    r = FAMILY_RANGES[family]
    draw = {k: _log_uniform(rng, *v) * NM for k, v in r.items()}
    kw: dict = {"name": family}
    if family == "gaussian":
        kw.update(psf="gaussian", resolution=draw["resolution"])
    elif family == "lorentzian":
        kw.update(psf="lorentzian", resolution=draw["resolution"])
    elif family == "kerr":
        kw.update(psf="airy", resolution=draw["resolution"])
    elif family == "mfm":
        kw.update(transfer="mfm", height=draw["height"], mfm_order=int(rng.integers(1, 3)), psf="gaussian",
                  resolution=draw["resolution"])
    elif family == "probe":
        kw.update(transfer="probe", height=draw["height"], psf="gaussian", resolution=draw["resolution"],
                  sampling="point" if rng.random() < 0.5 else "area")
    elif family == "binary":
        kw.update(saturation=math.inf)
    kw.update(fixed)
    return kw


def draw_instrument(prior: InstrumentPrior, rng: np.random.Generator, *, family: str | None = None,
                    pixel_size: float | None = None, **fixed) -> Instrument:
    """One instrument from ``prior`` (``family`` and ``pixel_size`` [m] override the draws)."""
    names = [f for f, _ in prior.families]
    weights = np.array([w for _, w in prior.families], float)
    choice = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    family = family or choice
    kw = family_instrument(family, rng)
    pixel = prior.pixel_sizes[int(rng.integers(len(prior.pixel_sizes)))]
    kw["pixel_size"] = pixel if pixel_size is None else pixel_size
    if not prior.clean and family != "binary":
        if rng.random() < prior.p_noise:
            kw["noise"] = 1.0 / _log_uniform(rng, *prior.snr)
        u = rng.random()
        if u < prior.p_binarised:
            kw["saturation"] = math.inf
        elif u < prior.p_binarised + prior.p_saturation:
            kw["saturation"] = _log_uniform(rng, *prior.saturation)
        if rng.random() < prior.p_asymmetry:
            kw["asymmetry"] = float(rng.uniform(-prior.asymmetry, prior.asymmetry))
        if rng.random() < prior.p_background:
            amp = _log_uniform(rng, *prior.background)
            scale = [amp if i + j == 1 else amp / 2 if i + j == 2 else amp / 4 for i, j in BACKGROUND_TERMS]
            kw["background"] = tuple(float(s * rng.uniform(-1, 1)) for s in scale)
        if rng.random() < prior.p_lines:
            kw["line_noise"] = _log_uniform(rng, *prior.line_noise)
        bits, w = zip(*prior.bits)
        kw["bits"] = int(bits[int(rng.choice(len(bits), p=np.array(w) / sum(w)))])
    kw.update(fixed)
    return Instrument(**kw)


SETTING_REFERENCE_NM: dict[str, float] = {"height": 30.0, "resolution": 20.0}
"""Reference settings [nm] of the setting models' covariates log(setting / reference)."""


def setting_covariates(family: str, field_of_view: np.ndarray, settings: dict[str, np.ndarray]) -> np.ndarray:
    """Covariates [n, 1 + 1 + S] of the spread model of ``family``: 1, log(F / 1 µm), and
    log(setting / reference) for each setting the family has (``data.instruments.FAMILY_RANGES``),
    settings [m] clipped to the family's range (constant beyond it, as the per-scale factors)."""
    fov = np.atleast_1d(np.asarray(field_of_view, np.float64))
    cols = [np.ones_like(fov), np.log(fov / 1e-6)]
    for name, (lo, hi) in sorted(FAMILY_RANGES[family].items()):
        v = np.clip(np.asarray(settings[name], np.float64) * 1e9, lo, hi)
        cols.append(np.broadcast_to(np.log(v / SETTING_REFERENCE_NM[name]), fov.shape))
    return np.stack(cols, axis=1)
