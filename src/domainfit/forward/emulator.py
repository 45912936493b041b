"""A local emulator of a film's statistics, fitted to its simulations: mean, scatter and its own error.

Inputs z = (x, σ): x the reduced wall energy π σ_w/(μ0Ms²t) (``design.reduced_wall_energy``), σ the
anisotropy dispersion. The mean of each statistic of the image is a quadratic in z, fitted by least
squares to every (point, seed) simulation — to the statistics of its recorded images (mean over the
instrument draws, ``forward.instrument``) where the simulations carry them, else of the state. The
likelihood's covariance has three parts: the relaxation scatter Σ_r (the state statistics' residual
covariance, scaled by the simulated over the observed area when the simulations cover less: one
image is one draw of the relaxation over its own area), the instrument's Σ_i (the covariance of image
minus state statistics over states and draws: not scaled, an instrument does not average out) and
the emulator's own error (φ(z)ᵀ(ΦᵀΦ)⁻¹φ(z) + 1/n_seeds) Σ_f, Σ_f the fitted data's residual covariance:
the regression's error plus the seeds' common part that common random numbers leave in every point.

The film's uncertain constants act through x (exactly: it holds the whole period law's exponent) and
through the wall width Δ = √(A/K_eff), which sets the law's prefactor: at fixed x the lengths scale
with Δ, so ln P moves by + ln(Δ/Δ₀) and ln W by − ln(Δ/Δ₀); the peak's relative width not at all.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DomainfitError
from ..units import MU0
from .design import Simulations
from .statistics import STAT_NAMES

LENGTH_SCALING = {"log_period": 1.0, "log_wall_density": -1.0, "spectral_width": 0.0, "log_closed_density": 0.0}
"""d statistic / d ln Δ at fixed x (module docstring)."""


def features(x, sigma):
    """φ(z) = [1, x, σ, x², xσ, σ²] of a quadratic in (x, σ) (NumPy or JAX)."""
    from .design import array_module

    xp = array_module(x, sigma)
    return xp.stack([xp.ones_like(x), x, sigma, x * x, x * sigma, sigma * sigma], axis=-1)


@dataclasses.dataclass(frozen=True)
class FilmEmulator:
    """The fitted local emulator (arrays NumPy, SI inside the constants).

    Attributes:
        coef: (6, n_stats) quadratic coefficients; scatter: (n_stats, n_stats) relaxation scatter Σ_r of
        one image (area-scaled); instrument: the instrument's Σ_i; fit_scatter: Σ_f (module docstring);
        gram_inv: (ΦᵀΦ)⁻¹; n_seeds: seeds per point; x_range, sigma_range: the design's span;
        log_delta0: ln Δ at the film's central constants; area_ratio: simulated over observed area.
    """

    coef: np.ndarray
    scatter: np.ndarray
    gram_inv: np.ndarray
    n_seeds: int
    x_range: tuple[float, float]
    sigma_range: tuple[float, float]
    log_delta0: float
    area_ratio: float
    residual_sd: np.ndarray
    instrument: np.ndarray
    fit_scatter: np.ndarray

    def covariance(self, x, sigma):
        """Σ_r + Σ_i + e(x, σ) Σ_f: the likelihood's covariance at (x, σ) (NumPy or JAX)."""
        return self.scatter + self.instrument + self.emulator_variance_factor(x, sigma) * self.fit_scatter

    def mean(self, x, sigma, log_delta):
        """Mean statistics at (x, σ) for a film of wall width exp(log_delta) (NumPy or JAX)."""
        phi = features(x, sigma)
        shift = np.array([LENGTH_SCALING[n] for n in STAT_NAMES]) * (log_delta - self.log_delta0)
        return phi @ self.coef + shift

    def emulator_variance_factor(self, x, sigma):
        """φᵀ(ΦᵀΦ)⁻¹φ + 1/n_seeds: the emulator's own variance at (x, σ) in units of Σ_f."""
        phi = features(x, sigma)
        return phi @ self.gram_inv @ phi + 1.0 / self.n_seeds

    def inside(self, x, sigma, margin: float = 0.0) -> bool:
        """Whether (x, σ) lies in the design's span (widened by ``margin`` of it)."""
        (x0, x1), (s0, s1) = self.x_range, self.sigma_range
        dx, ds = margin * (x1 - x0), margin * (s1 - s0)
        return x0 - dx <= x <= x1 + dx and s0 - ds <= sigma <= s1 + ds


def log_wall_width(Ms, Ku, A):
    """ln Δ = ½ ln(A/K_eff) (NumPy or JAX)."""
    from .design import array_module

    xp = array_module(Ms, Ku, A)
    return 0.5 * (xp.log(A) - xp.log(Ku - 0.5 * MU0 * Ms**2))


def fit_emulator(sims: Simulations, observed_area: float) -> FilmEmulator:
    """Least squares of each statistic on φ(x, σ) over every simulated (point, seed) with finite
    statistics (module docstring): the images' where ``sims.images`` holds them, else the states'."""
    x = np.repeat(sims.x, len(sims.seeds))
    sigma = np.repeat(sims.points[:, 1], len(sims.seeds))
    k = len(STAT_NAMES)
    state = sims.stats.reshape(-1, k)
    images = None if sims.images is None else sims.images.reshape(len(state), -1, k)
    y = state if images is None else np.nanmean(images, axis=1) if np.isfinite(images).any() else state
    ok = np.all(np.isfinite(y), axis=1) & np.all(np.isfinite(state), axis=1)
    if ok.sum() < 10:
        raise DomainfitError(f"only {ok.sum()} of the film's {len(ok)} simulations show domain walls: the film's "
                             "constants give no maze at the image's scale (check them)")
    phi = features(x[ok], sigma[ok])
    gram_inv = np.linalg.pinv(phi.T @ phi)
    dof = max(ok.sum() - phi.shape[1], 1)

    def residual_cov(values):
        resid = values[ok] - phi @ (gram_inv @ phi.T @ values[ok])
        return resid.T @ resid / dof

    coef = gram_inv @ phi.T @ y[ok]
    relax = residual_cov(state)
    fit = residual_cov(y)
    instrument = np.zeros((k, k))
    if images is not None:
        delta = (images - state[:, None, :])[ok].reshape(-1, k)
        delta = delta[np.all(np.isfinite(delta), axis=1)]
        if len(delta) > k:
            instrument = np.cov(delta, rowvar=False)
    area = sims.grid.field_of_view**2
    ratio = min(1.0, area / observed_area) if observed_area > 0 else 1.0
    v = sims.film.values()
    return FilmEmulator(coef=coef, scatter=relax * ratio, gram_inv=gram_inv, n_seeds=len(sims.seeds),
                        x_range=(float(x.min()), float(x.max())), sigma_range=(float(sigma.min()), float(sigma.max())),
                        log_delta0=float(log_wall_width(v["Ms"], v["Ku"], v["A"])), area_ratio=ratio,
                        residual_sd=np.sqrt(np.diag(fit)), instrument=instrument, fit_scatter=fit)


def check_span(emulator: FilmEmulator, x: float, sigma: float) -> list[str]:
    """Plain words when (x, σ) lies outside the design (the emulator extrapolates there)."""
    if emulator.inside(x, sigma, margin=0.05):
        return []
    return [f"the posterior mode (x = {x:.3g}, σ = {sigma:.3g}) lies outside the simulated design (x "
            f"{emulator.x_range[0]:.3g}–{emulator.x_range[1]:.3g}, σ {emulator.sigma_range[0]:.3g}–"
            f"{emulator.sigma_range[1]:.3g}): the emulator extrapolates"]
