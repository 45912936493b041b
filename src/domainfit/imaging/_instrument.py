"""Instrument models: what a microscope records from a simulated m_z (formulas: docs/imaging.md).

``record(mz, cell_size, instrument, thickness=…, key=…)`` turns m_z on the periodic simulation grid
into the grey levels an instrument writes to its file, in this order:

1. **Transfer** on the continuous (cell-grid) magnetisation, by its transfer function in k
   (k = 2π|f|, f in cycles/m; t the film thickness, h the height above the film's top surface):

   - ``"ideal"``: T = 1 (the magnetisation itself: XMCD, ideal Kerr);
   - ``"probe"``: a stray-field sensor (tunnel junction, Hall cross, NV centre) at height h,
     H_z/Ms = ½ (1 − e^{−kt}) e^{−kh};
   - ``"mfm"``: magnetic force microscopy at lift height h, the n-th height derivative of H_z,
     (−1)ⁿ ∂ⁿ(H_z/Ms)/∂zⁿ = ½ kⁿ (1 − e^{−kt}) e^{−kh}; n = 1 is a point-monopole tip (force
     gradient of a long tip), n = 2 a point-dipole tip. A band-pass in k.

2. **Point spread** (optics, tip or sensor size) of full width at half maximum w:
   ``"gaussian"`` exp(−2π²s²f²), s = w/2.3548; ``"lorentzian"`` (the 2D Cauchy / Poisson kernel
   γ/[2π(r²+γ²)^{3/2}], long tails) exp(−2πγf), γ = w/1.5328; ``"airy"`` (diffraction-limited
   optics, Kerr microscopes) the incoherent circular-pupil OTF
   (2/π)[arccos ν − ν√(1−ν²)], ν = f/f_c, f_c = 2NA/λ = 1.029/w; ``"none"``.

3. **Sampling** by detector pixels of side a: ``"area"`` integration (``imaging.render``'s exact
   area weights) or ``"point"`` samples (scanning probes: a value every a, aliasing included).

4. **Contrast**: the noise-free signal is scaled to zero mean and unit standard deviation (the
   unit of every later stage), then the detector response y = tanh(g x)/g + b y², where g is
   ``saturation`` (0: linear; ∞: a two-level, binarised image) and b ``asymmetry``.

5. **Background and noise** in those units: a polynomial Σ c_ij Xⁱ Yʲ (1 ≤ i+j ≤ 3, X, Y ∈ [−1, 1]
   across the image; ``background``), one offset per scan line (rows; sd ``line_noise``) and white
   noise (sd ``noise`` = 1/SNR).

6. **Quantisation** to 2^bits grey levels spanning the image's range (``bits`` 0: none).

Every stage is jit-able (shapes, kinds and pixel size static; the numbers may be traced).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ._image import check_pixel_size
from ._scale import apply_overlap, integer_ratio, area_average, overlap_matrix

TRANSFERS = ("ideal", "probe", "mfm")
PSFS = ("none", "gaussian", "lorentzian", "airy")
SAMPLINGS = ("area", "point")

GAUSS_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""FWHM/σ of a Gaussian, 2√(2 ln 2) ≈ 2.3548."""
CAUCHY_FWHM_PER_GAMMA = 2.0 * math.sqrt(2.0 ** (2.0 / 3.0) - 1.0)
"""FWHM/γ of the 2D Cauchy (Poisson) kernel γ/[2π(r²+γ²)^{3/2}], 2√(2^{2/3} − 1) ≈ 1.5328."""
AIRY_FWHM_TIMES_CUTOFF = 1.0290
"""FWHM · f_c of the Airy intensity pattern (f_c = 2NA/λ the OTF cut-off): 2 · 0.5145."""
BACKGROUND_TERMS: tuple[tuple[int, int], ...] = ((1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
"""Exponents (i, j) of the background polynomial's terms Xⁱ Yʲ, in the order of ``background``."""


class Instrument(eqx.Module):
    """A microscope's forward model (module docstring), lengths in metres.

    Attributes:
        transfer: "ideal", "probe" or "mfm"; height: sensor or tip height above the film's top
            surface [m] (probe, mfm); mfm_order: n of the MFM height derivative (1 or 2).
        psf: "none", "gaussian", "lorentzian" or "airy"; resolution: its FWHM [m].
        pixel_size: detector pixel side [m]; sampling: "area" or "point".
        saturation: detector non-linearity g (0 linear, ``inf`` binarised); asymmetry: b.
        background: coefficients of ``BACKGROUND_TERMS`` [signal sd]; line_noise: sd of the
            per-scan-line offsets [signal sd]; noise: sd of white noise [signal sd] (1/SNR).
        bits: grey levels 2^bits (0: floating point, no quantisation).
        name: a label (the family it was drawn from), for reports.
    """

    transfer: str = eqx.field(static=True, default="ideal")
    height: float = 0.0
    mfm_order: int = eqx.field(static=True, default=1)
    psf: str = eqx.field(static=True, default="none")
    resolution: float = 0.0
    pixel_size: float | None = eqx.field(static=True, default=None)
    sampling: str = eqx.field(static=True, default="area")
    saturation: float = 0.0
    asymmetry: float = 0.0
    background: tuple[float, ...] = ()
    line_noise: float = 0.0
    noise: float = 0.0
    bits: int = 0
    name: str = eqx.field(static=True, default="")

    def __check_init__(self):
        if self.transfer not in TRANSFERS:
            raise DomainfitError(f"instrument transfer {self.transfer!r}: use one of {', '.join(TRANSFERS)}")
        if self.psf not in PSFS:
            raise DomainfitError(f"point-spread function {self.psf!r}: use one of {', '.join(PSFS)}")
        if self.sampling not in SAMPLINGS:
            raise DomainfitError(f"sampling {self.sampling!r}: use one of {', '.join(SAMPLINGS)}")
        if self.mfm_order not in (1, 2):
            raise DomainfitError(f"MFM derivative order {self.mfm_order!r}: use 1 (monopole tip) or 2 (dipole tip)")
        if isinstance(self.bits, (int, float, np.integer)) and not (int(self.bits) == self.bits and 0 <= self.bits <= 32):
            raise DomainfitError(f"bits {self.bits!r}: need an integer 0–32 (0: no quantisation)")
        if len(self.background) > len(BACKGROUND_TERMS):
            raise DomainfitError(f"{len(self.background)} background coefficients: at most {len(BACKGROUND_TERMS)}")
        for name in ("height", "resolution", "saturation", "line_noise", "noise"):
            v = getattr(self, name)
            if isinstance(v, (int, float)) and not (v >= 0 and (math.isfinite(v) or name == "saturation")):
                raise DomainfitError(f"instrument {name} {v!r}: need a finite non-negative value")
        if self.pixel_size is not None:
            check_pixel_size(self.pixel_size)
        if self.psf != "none" and isinstance(self.resolution, (int, float)) and self.resolution <= 0:
            raise DomainfitError(f"point-spread function {self.psf} needs a resolution (FWHM) > 0")

    def describe(self) -> dict:
        """The settings in user units (nm) for reports and JSON."""
        d = {"name": self.name or self.transfer, "transfer": self.transfer, "psf": self.psf,
             "resolution_nm": float(self.resolution) * 1e9, "sampling": self.sampling,
             "pixel_size_nm": None if self.pixel_size is None else self.pixel_size * 1e9,
             "saturation": float(self.saturation), "asymmetry": float(self.asymmetry),
             "background": [float(c) for c in self.background], "line_noise": float(self.line_noise),
             "noise": float(self.noise), "snr": (1.0 / float(self.noise)) if float(self.noise) > 0 else None,
             "bits": int(self.bits)}  # fmt: skip
        if self.transfer != "ideal":
            d["height_nm"] = float(self.height) * 1e9
        if self.transfer == "mfm":
            d["mfm_order"] = self.mfm_order
        return d


def transfer_function(instrument: Instrument, shape: tuple[int, int], cell_size: float, thickness: float):
    """T(f) on the rfft2 grid of ``shape`` cells of ``cell_size`` [m]: transfer × point spread (module docstring)."""
    ny, nx = shape
    fy = np.fft.fftfreq(ny, d=cell_size)[:, None]
    fx = np.fft.rfftfreq(nx, d=cell_size)[None, :]
    f = jnp.asarray(np.sqrt(fx**2 + fy**2))
    k = 2.0 * np.pi * f
    t = jnp.ones_like(f)
    if instrument.transfer in ("probe", "mfm"):
        t = 0.5 * (1.0 - jnp.exp(-k * thickness)) * jnp.exp(-k * instrument.height)
        if instrument.transfer == "mfm":
            t = t * k**instrument.mfm_order
    w = instrument.resolution
    if instrument.psf == "gaussian":
        s = w / GAUSS_FWHM_PER_SIGMA
        t = t * jnp.exp(-2.0 * np.pi**2 * s**2 * f**2)
    elif instrument.psf == "lorentzian":
        t = t * jnp.exp(-2.0 * np.pi * (w / CAUCHY_FWHM_PER_GAMMA) * f)
    elif instrument.psf == "airy":
        nu = jnp.clip(f * w / AIRY_FWHM_TIMES_CUTOFF, 0.0, 1.0)
        t = t * (2.0 / np.pi) * (jnp.arccos(nu) - nu * jnp.sqrt(1.0 - nu**2))
    return t


def sample(image: Float[Array, "ny nx"], cell_size: float, pixel_size: float, sampling: str = "area") -> Float[Array, "py px"]:
    """Detector sampling of a field on the cell grid: area integration over pixels of side
    ``pixel_size`` [m] (block mean for an integer ratio, exact area weights otherwise) or point
    samples at the pixel centres (nearest cell). The field of view is the whole grid (a partial
    last pixel is dropped)."""
    ny, nx = image.shape[-2:]
    out_y = math.floor(ny * cell_size / pixel_size + 1e-6)
    out_x = math.floor(nx * cell_size / pixel_size + 1e-6)
    if out_y < 1 or out_x < 1:
        raise DomainfitError(f"pixel size {pixel_size * 1e9:.4g} nm is larger than the simulated field of view")
    if sampling == "point":
        iy = np.minimum(np.floor((np.arange(out_y) + 0.5) * pixel_size / cell_size + 1e-6).astype(int), ny - 1)
        ix = np.minimum(np.floor((np.arange(out_x) + 0.5) * pixel_size / cell_size + 1e-6).astype(int), nx - 1)
        return image[..., iy[:, None], ix[None, :]]
    factor = integer_ratio(pixel_size / cell_size)
    if factor is not None:
        return area_average(image, factor)
    wy = overlap_matrix(ny, cell_size, out_y, pixel_size).astype(np.float32)
    wx = overlap_matrix(nx, cell_size, out_x, pixel_size).astype(np.float32)
    return apply_overlap(image, wy, wx)


def background_polynomial(coefficients, shape: tuple[int, int]) -> Float[Array, "ny nx"]:
    """Σ c_ij Xⁱ Yʲ over ``BACKGROUND_TERMS`` with X, Y ∈ [−1, 1] across the image (0 without terms)."""
    ny, nx = shape
    y = jnp.linspace(-1.0, 1.0, ny)[:, None]
    x = jnp.linspace(-1.0, 1.0, nx)[None, :]
    out = jnp.zeros(shape)
    for c, (i, j) in zip(coefficients, BACKGROUND_TERMS):
        out = out + c * x**i * y**j
    return out


def respond(x, saturation, asymmetry=0.0):
    """Detector response y = tanh(g x)/g + b y² (g → 0: linear; g = ∞: sign(x), a binarised image)."""
    g = jnp.asarray(saturation, jnp.float32)
    finite = jnp.isfinite(g)
    g_safe = jnp.where(finite & (g > 1e-6), g, 1.0)
    y = jnp.where(g > 1e-6, jnp.tanh(g_safe * x) / g_safe, x)
    y = jnp.where(finite, y, jnp.sign(x))
    return y + asymmetry * y**2


def quantise(image, bits):
    """2^bits grey levels 0 … 2^bits − 1 spanning [min, max] of the image (bits 0: unchanged;
    ``bits`` may be traced)."""
    if isinstance(bits, (int, np.integer)) and bits == 0:
        return image
    lo, hi = jnp.min(image), jnp.max(image)
    levels = 2.0 ** jnp.asarray(bits, jnp.float32) - 1.0
    q = jnp.round((image - lo) / jnp.maximum(hi - lo, 1e-30) * levels)
    return jnp.where(jnp.asarray(bits) > 0, q, image)


def signal(
    mz: Float[Array, "ny nx"], cell_size: float, instrument: Instrument = Instrument(), *, thickness: float = 4e-9
) -> Float[Array, "py px"]:
    """Stages 1–3 of ``record``: the physical signal at the detector pixels, before any scaling —
    m_z (ideal), H_z/Ms (probe) or (−1)ⁿ ∂ⁿ(H_z/Ms)/∂zⁿ [m⁻ⁿ] (mfm), blurred by the point spread."""
    cell_size = check_pixel_size(cell_size, "cell size")
    thickness = check_pixel_size(thickness, "film thickness")
    mz = jnp.asarray(mz, jnp.float32)
    if mz.ndim != 2:
        raise DomainfitError(f"an instrument records one m_z map [ny, nx], got shape {mz.shape}")
    pixel = cell_size if instrument.pixel_size is None else instrument.pixel_size
    field = mz
    if instrument.transfer != "ideal" or instrument.psf != "none":
        t = transfer_function(instrument, mz.shape, cell_size, thickness)
        field = jnp.fft.irfft2(jnp.fft.rfft2(mz) * t, s=mz.shape).astype(jnp.float32)
    return sample(field, cell_size, pixel, instrument.sampling)


def record(
    mz: Float[Array, "ny nx"],
    cell_size: float,
    instrument: Instrument = Instrument(),
    *,
    thickness: float = 4e-9,
    key: Key[Array, ""] | None = None,
) -> Float[Array, "py px"]:
    """The image ``instrument`` records of a periodic simulation m_z [ny, nx] with cells of
    ``cell_size`` [m] in a film of ``thickness`` [m] (module docstring). Pixel size: the
    instrument's, default the cell size. ``key`` drives the noise and scan-line offsets (needed when
    either is non-zero). Returns float32 grey levels (integers 0 … 2^bits − 1 when quantised)."""
    image = signal(mz, cell_size, instrument, thickness=thickness)
    image = (image - jnp.mean(image)) / jnp.maximum(jnp.std(image), 1e-12)
    image = respond(image, instrument.saturation, instrument.asymmetry)
    if len(instrument.background):
        image = image + background_polynomial(instrument.background, image.shape)
    stochastic = not (isinstance(instrument.noise, (int, float)) and instrument.noise == 0
                      and isinstance(instrument.line_noise, (int, float)) and instrument.line_noise == 0)  # fmt: skip
    if stochastic:
        if key is None:
            raise DomainfitError("an instrument with noise needs a random key: record(..., key=jax.random.key(0))")
        k_white, k_line = jax.random.split(key)
        image = image + instrument.line_noise * jax.random.normal(k_line, (image.shape[0], 1))
        image = image + instrument.noise * jax.random.normal(k_white, image.shape)
    return quantise(image, instrument.bits).astype(jnp.float32)
