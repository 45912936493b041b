"""A local emulator of a film's statistics, fitted to its simulations: mean, scatter and its own error.

Inputs z = (x, σ): x the reduced wall energy π σ_w/(μ0Ms²t) (``design.reduced_wall_energy``), σ the
anisotropy dispersion. The mean of each statistic of the image is a quadratic in z plus a Gaussian
process on the quadratic's residuals (squared-exponential kernel, its amplitude and length scales in
x and σ by maximum marginal likelihood), fitted to the design points' means over seeds of the
statistics of the recorded images (mean over the instrument draws, ``forward.instrument``) where the
simulations carry them, else of the states. A quadratic alone cannot follow a statistic that turns
over inside the design — the CNN's readings do where the film leaves the range it was trained on (on
the co-pt example its misfit, 0.31 in the CNN's units, was three times the seeds' scatter).

The likelihood's covariance has three parts: the relaxation scatter Σ_r (the covariance of the state
statistics between seeds at one design point — independent relaxations of the same film — scaled by
the simulated over the observed area when the simulations cover less: one image is one draw of the
relaxation over its own area), the instrument's Σ_i (the covariance of image minus state statistics
over states and draws: not scaled, an instrument does not average out) and the emulator's own error,
diagonal: the process's posterior variance at z plus the seeds' variance over their number (common
random numbers leave the seeds' common part in every point, where the process cannot see it); and,
unless the film is known to be quenched, the state's history (``forward.history``).

The film's uncertain constants act through x (exactly: it holds the whole period law's exponent) and
through the wall width Δ = √(A/K_eff), which sets the law's prefactor: at fixed x the lengths scale
with Δ, so ln P moves by + ln(Δ/Δ₀) and ln W by − ln(Δ/Δ₀); the peak's relative width and the
closed domains per period² not at all; the CNN's readings by their slope in the length scale, measured
on the image itself (``statistics.learned_length_slope``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import DomainfitError
from ..units import MU0
from .design import Simulations
from .statistics import LEARNED_NAMES, STAT_NAMES

LENGTH_SCALING = {"log_period": 1.0, "log_wall_density": -1.0, "spectral_width": 0.0, "log_closed_density": 0.0}
"""d statistic / d ln Δ at fixed x of the geometry (module docstring); the learned statistics' are measured."""

LENGTH_BOUNDS = ((0.25, 20.0), (0.03, 3.0))
"""Bounds of the process's length scales in x and σ (the design steps are 0.5 and 0.09)."""


def features(x, sigma):
    """φ(z) = [1, x, σ, x², xσ, σ²] of a quadratic in (x, σ) (NumPy or JAX)."""
    from .design import array_module

    xp = array_module(x, sigma)
    return xp.stack([xp.ones_like(x), x, sigma, x * x, x * sigma, sigma * sigma], axis=-1)


@dataclasses.dataclass(frozen=True)
class FilmEmulator:
    """The fitted local emulator (arrays NumPy, SI inside the constants).

    Attributes:
        coef: (6, k) quadratic coefficients; design: (n, 2) the design points' z; alpha: (n, k) the
        process's weights K⁻¹r; k_inv: (k, n, n); lengths: (k, 2) length scales in x and σ; amp2: (k,)
        the process's variance; seed_var: (k,) the seeds' variance over their number; scatter: (k, k)
        relaxation scatter Σ_r of one image (area-scaled); instrument: the instrument's Σ_i; n_seeds;
        x_range, sigma_range: the design's span; log_delta0: ln Δ at the film's central constants;
        area_ratio: simulated over observed area; residual_sd: (k,) the seeds' sd at one point;
        names: the statistics emulated (of ``STAT_NAMES``, in order); length_slope: d statistic / d ln Δ.
    """

    coef: np.ndarray
    design: np.ndarray
    alpha: np.ndarray
    k_inv: np.ndarray
    lengths: np.ndarray
    amp2: np.ndarray
    seed_var: np.ndarray
    scatter: np.ndarray
    instrument: np.ndarray
    n_seeds: int
    x_range: tuple[float, float]
    sigma_range: tuple[float, float]
    log_delta0: float
    area_ratio: float
    residual_sd: np.ndarray
    names: tuple[str, ...]
    length_slope: np.ndarray
    history: str = "unknown"

    def _kernel(self, x, sigma):
        """(n, k) k(z, z_i) of each statistic's process (NumPy or JAX)."""
        from .design import array_module

        xp = array_module(x, sigma)
        dx = (x - self.design[:, 0])[:, None] / self.lengths[:, 0]
        ds = (sigma - self.design[:, 1])[:, None] / self.lengths[:, 1]
        return self.amp2 * xp.exp(-0.5 * (dx * dx + ds * ds))

    def mean(self, x, sigma, log_delta):
        """Mean statistics at (x, σ) for a film of wall width exp(log_delta) (NumPy or JAX; scalars)."""
        from .design import array_module

        xp = array_module(x, sigma, log_delta)
        gp = xp.sum(self._kernel(x, sigma) * self.alpha, axis=0)
        return features(x, sigma) @ self.coef + gp + self.length_slope * (log_delta - self.log_delta0)

    def emulator_variance(self, x, sigma):
        """(k,) the emulator's own variance at (x, σ): the process's posterior variance + the seeds'."""
        from .design import array_module

        xp = array_module(x, sigma)
        kz = self._kernel(x, sigma)
        reduce = xp.einsum("nk,knm,mk->k", kz, self.k_inv, kz)
        return xp.maximum(self.amp2 - reduce, 0.0) + self.seed_var

    def history_variance(self, sigma):
        """(k,) the state's history as a model error at σ (``forward.history``; zeros for "random")."""
        from .history import history_sd

        return history_sd(self.names, sigma, self.history) ** 2

    def covariance(self, x, sigma):
        """Σ_r + Σ_i + diag(emulator variance + history): the likelihood's covariance at (x, σ) (NumPy or JAX)."""
        from .design import array_module

        xp = array_module(x, sigma)
        return self.scatter + self.instrument + xp.diag(self.emulator_variance(x, sigma) + self.history_variance(sigma))

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


def _fit_process(z: np.ndarray, r: np.ndarray, noise: float):
    """Squared-exponential process on residuals ``r`` (n,) at ``z`` (n, 2) with noise variance ``noise``:
    (amplitude², length scales (2,), K⁻¹ (n, n), K⁻¹r) by maximum marginal likelihood (a few starts)."""
    from scipy.optimize import minimize

    scale = float(np.var(r)) + 1e-12
    diff2 = (z[:, None, :] - z[None, :, :]) ** 2
    noise = max(noise, 1e-8 * scale)

    def matrix(p):
        a2, lx, ls = np.exp(p)
        return a2 * np.exp(-0.5 * (diff2[..., 0] / lx**2 + diff2[..., 1] / ls**2)) + noise * np.eye(len(r))

    def nll(p):
        try:
            c = np.linalg.cholesky(matrix(p))
        except np.linalg.LinAlgError:
            return 1e10
        w = np.linalg.solve(c, r)
        return 0.5 * w @ w + np.log(np.diag(c)).sum()

    bounds = [(math.log(1e-6 * scale), math.log(100 * scale)), *(tuple(map(math.log, b)) for b in LENGTH_BOUNDS)]
    best = None
    for lx, ls in ((1.0, 0.1), (3.0, 0.3), (0.5, 0.05)):
        res = minimize(nll, np.array([math.log(scale), math.log(lx), math.log(ls)]), bounds=bounds, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    k_inv = np.linalg.inv(matrix(best.x))
    a2, lx, ls = np.exp(best.x)
    return float(a2), np.array([lx, ls]), k_inv, k_inv @ r


def fit_emulator(sims: Simulations, observed_area: float, names: tuple[str, ...] | None = None,
                 learned_slope=None, history: str = "unknown") -> FilmEmulator:
    """The emulator of ``sims`` (module docstring) for the statistics ``names`` (default all
    ``STAT_NAMES``), fitted to the recorded images' statistics where ``sims.images`` holds them, else the
    states'; ``learned_slope``: d/d ln Δ of ``LEARNED_NAMES`` (``statistics.learned_length_slope``;
    default 0); ``history``: "unknown" carries the field-cycled states' shift as a model error
    (``forward.history``), "random" not. Design points whose statistics are not all finite for some seed
    drop that seed."""
    from .history import HISTORIES

    if history not in HISTORIES:
        raise DomainfitError(f"history {history!r}: use one of {', '.join(HISTORIES)}")
    names = tuple(STAT_NAMES if names is None else names)
    cols = [STAT_NAMES.index(n) for n in names]
    n, n_seeds = sims.stats.shape[:2]
    k = len(cols)
    state = sims.stats[..., cols]  # (n, S, k)
    images = None if sims.images is None else sims.images[..., cols]  # (n, S, R, k)
    y = state if images is None or not np.isfinite(images).any() else np.nanmean(images, axis=2)
    ok = np.all(np.isfinite(y), axis=-1) & np.all(np.isfinite(state), axis=-1)  # (n, S)
    if ok.sum() < 10:
        raise DomainfitError(f"only {ok.sum()} of the film's {ok.size} simulations show domain walls: the film's "
                             "constants give no maze at the image's scale (check them)")
    z_all = np.stack([sims.x, sims.points[:, 1]], axis=1)
    use = ok.any(axis=1)
    count = ok.sum(axis=1)[use]
    masked = lambda a: np.where(ok[..., None], a, 0.0)
    y_mean = masked(y).sum(axis=1)[use] / count[:, None]
    s_mean = masked(state).sum(axis=1)[use] / count[:, None]
    z = z_all[use]
    # the seeds' scatter at one point: the relaxation's (states) and the fitted values' (images)
    rep = count > 1
    dof = int((count[rep] - 1).sum())

    def within(values, means):
        dev = (masked(values)[use] - means[:, None, :]) * ok[use][..., None]
        dev = dev[rep].reshape(-1, k)
        return dev.T @ dev / dof

    phi = features(z[:, 0], z[:, 1])
    gram_inv = np.linalg.pinv(phi.T @ phi)
    coef = gram_inv @ phi.T @ y_mean
    resid = y_mean - phi @ coef
    if dof >= k:
        relax, seeds = within(state, s_mean), np.diag(within(y, y_mean))
    else:  # one seed: the quadratic's residuals stand for the scatter
        relax = (s_mean - phi @ (gram_inv @ phi.T @ s_mean)).T @ (s_mean - phi @ (gram_inv @ phi.T @ s_mean)) / max(len(z) - 6, 1)
        seeds = np.diag(resid.T @ resid / max(len(z) - 6, 1))
    seed_var = seeds / n_seeds
    noise = seeds / np.maximum(count.mean(), 1)
    amp2, lengths, k_inv, alpha = [], [], [], []
    for j in range(k):
        a2, ell, kinv, al = _fit_process(z, resid[:, j], float(noise[j]))
        amp2.append(a2), lengths.append(ell), k_inv.append(kinv), alpha.append(al)
    instrument = np.zeros((k, k))
    if images is not None:
        delta = (images - state[:, :, None, :])[ok].reshape(-1, k)
        delta = delta[np.all(np.isfinite(delta), axis=1)]
        if len(delta) > k:
            instrument = np.cov(delta, rowvar=False)
    area = sims.grid.field_of_view**2
    ratio = min(1.0, area / observed_area) if observed_area > 0 else 1.0
    v = sims.film.values()
    learned = dict(zip(LEARNED_NAMES, np.zeros(len(LEARNED_NAMES)) if learned_slope is None
                       else np.asarray(learned_slope, np.float64)))
    length_slope = np.array([LENGTH_SCALING[m] if m in LENGTH_SCALING else learned[m] for m in names])
    return FilmEmulator(coef=coef, design=z, alpha=np.stack(alpha, axis=1), k_inv=np.stack(k_inv),
                        lengths=np.stack(lengths), amp2=np.array(amp2), seed_var=seed_var, scatter=relax * ratio,
                        instrument=instrument, n_seeds=n_seeds,
                        x_range=(float(z[:, 0].min()), float(z[:, 0].max())),
                        sigma_range=(float(z[:, 1].min()), float(z[:, 1].max())),
                        log_delta0=float(log_wall_width(v["Ms"], v["Ku"], v["A"])), area_ratio=ratio,
                        residual_sd=np.sqrt(seeds), names=names, length_slope=length_slope, history=history)


def check_span(emulator: FilmEmulator, x: float, sigma: float) -> list[str]:
    """Plain words when (x, σ) lies outside the design (the emulator extrapolates there)."""
    if emulator.inside(x, sigma, margin=0.05):
        return []
    return [f"the posterior mode (x = {x:.3g}, σ = {sigma:.3g}) lies outside the simulated design (x "
            f"{emulator.x_range[0]:.3g}–{emulator.x_range[1]:.3g}, σ {emulator.sigma_range[0]:.3g}–"
            f"{emulator.sigma_range[1]:.3g}): the emulator extrapolates"]
