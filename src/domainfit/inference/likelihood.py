"""Synthetic Gaussian likelihood of the observed summary statistics (see docs/inference.md).

A maze is one random realisation, so the image is compared through its summary statistics s:

    s_obs ~ N(μ(θ), Σ_eff(θ)),   Σ_eff = Σ̂(θ) · (a_sim/a_obs + 1/R) + ε I,

with μ̂, Σ̂ the mean and (shrunk) covariance of R replicas simulated at θ with **fixed keys**
(common random numbers: log p is then a smooth deterministic function of θ and has a gradient).
The factor a_sim/a_obs rescales the replica covariance, measured on simulations of area a_sim, to the
observed field of view a_obs (the variance of an area average falls as 1/area); the 1/R term is the
Monte-Carlo error of μ̂ itself, Var(s_obs − μ̂) = Σ_obs + Σ_sim/R. With few replicas the sample
covariance is rank-deficient, so it is shrunk towards its diagonal (Ledoit–Wolf-style, fixed λ) and
floored by ε.

``simulator_forward`` builds the replicas from physics → imaging → statistics; ``surrogate.EmulatorLikelihood``
uses a fitted emulator of μ(θ), Σ(θ) instead (the CPU default).
"""

from __future__ import annotations


from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ..parameters import MATERIAL

Theta = Mapping[str, Float[Array, ""] | float]
"""Parameters by name, SI units (see ``priors.PARAMETERS``)."""

MATERIAL_LEAVES = MATERIAL


def gaussian_log_density(
    s: Float[Array, " n"], mean: Float[Array, " n"], cov: Float[Array, "n n"]
) -> Float[Array, ""]:
    """log N(s; mean, cov) by Cholesky factorisation."""
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, s - mean, lower=True)
    n = s.shape[-1]
    return -0.5 * jnp.sum(z**2) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * n * jnp.log(2 * jnp.pi)


def replica_moments(
    samples: Float[Array, "R n"], *, shrinkage: float = 0.5
) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    """Mean and shrunk covariance of R replica summary vectors.

    Σ̂ = (1 − λ) S + λ diag(S), S the unbiased sample covariance (ddof = 1), λ = ``shrinkage``.
    """
    R = samples.shape[0]
    if R < 2:
        raise DomainfitError(f"{R} replica: a covariance needs at least 2 replicas per θ")
    mean = jnp.mean(samples, axis=0)
    d = samples - mean
    S = d.T @ d / (R - 1)
    return mean, (1.0 - shrinkage) * S + shrinkage * jnp.diag(jnp.diag(S))


class SyntheticLikelihood(eqx.Module):
    """log p(s_obs | θ) from R replicas simulated at θ with fixed keys.

    Attributes:
        simulate_summaries: θ (dict, SI) → summary vectors of R replicas ``[R, n_stats]``; must use
            the same keys at every θ (``simulator_forward`` does).
        s_obs: observed summary vector ``[n_stats]``.
        area_ratio: a_sim / a_obs, simulated over observed field-of-view area (dimensionless).
        shrinkage: λ of the covariance shrinkage towards its diagonal (0 … 1).
        floor: ε, added to the diagonal of Σ_eff (variance in the units of the statistics).
    """

    simulate_summaries: Callable[[Theta], Float[Array, "R n"]] = eqx.field(static=True)
    s_obs: Float[Array, " n"]
    area_ratio: float = eqx.field(static=True, default=1.0)
    shrinkage: float = eqx.field(static=True, default=0.5)
    floor: float = eqx.field(static=True, default=1e-8)

    def __check_init__(self):
        if not (self.area_ratio > 0):
            raise DomainfitError(f"area ratio {self.area_ratio}: need simulated and observed areas > 0")
        if not (0.0 <= self.shrinkage <= 1.0):
            raise DomainfitError(f"shrinkage {self.shrinkage}: must lie in [0, 1]")

    def moments(self, theta: Theta) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
        """μ̂(θ) and Σ_eff(θ) of the observation (see module docstring)."""
        samples = self.simulate_summaries(theta)
        if samples.ndim != 2 or samples.shape[1] != self.s_obs.shape[0]:
            raise DomainfitError(
                f"simulated summaries have shape {samples.shape}, observed {self.s_obs.shape}: "
                "use the same statistics for both"
            )
        R = samples.shape[0]
        mean, cov = replica_moments(samples, shrinkage=self.shrinkage)
        cov = cov * (self.area_ratio + 1.0 / R) + self.floor * jnp.eye(cov.shape[0], dtype=cov.dtype)
        return mean, cov

    def __call__(self, theta: Theta) -> Float[Array, ""]:
        mean, cov = self.moments(theta)
        return gaussian_log_density(self.s_obs, mean, cov)


def _default_summary_fn():
    from ..features import statistics as stats

    fn = getattr(stats, "summary_vector", None)
    if fn is None:
        raise DomainfitError("domainfit.features.statistics.summary_vector is not available: pass summary_fn=")
    return fn


def _default_render_fn():
    try:
        from ..imaging import render
    except ImportError:
        return None
    return render


def simulator_forward(
    material,
    grid,
    *,
    keys: Key[Array, " R"],
    summary_fn: Callable | None = None,
    render_fn: Callable | None = None,
    pixel_size: float | None = None,
    field_of_view: float | tuple[float, float] | None = None,
    init_states: Float[Array, "R 3 ny nx"] | None = None,
    tol: float = 1e-5,
    max_steps: int = 20_000,
) -> Callable[[Theta], Float[Array, "R n"]]:
    """θ → summaries of R replicas: ``physics.simulate`` → ``imaging.render`` → ``summary_fn``.

    Args:
        material: base ``Material``; the material leaves present in θ (D, Ms, sigma, Ku, A, SI)
            replace its values.
        grid: simulation ``Grid``. Its thickness is static: a free thickness needs the emulator.
        keys: one key per replica (common random numbers: same initial states and grains at every θ).
        summary_fn: ``(image, pixel_size) -> [n_stats]``; default ``stats.summary_vector``.
        render_fn: ``imaging.render``-like; default ``imaging.render`` when available, else m_z
            times contrast plus offset. θ's blur_fwhm [m], contrast, offset are passed to it.
        pixel_size: pixel side of the observation [m], passed to ``render_fn``.
        field_of_view: field of view of the observation [m], passed to ``render_fn``.
        init_states: optional relaxed states ``[R, 3, ny, nx]`` to start from instead of random ones
            (local refinement near a known θ: every replica stays in the same basin, so finite
            differences and gradients agree).
        tol: relaxation stopping torque (see ``physics.relax``).
        max_steps: relaxation step limit.

    The gradient of the result with respect to θ goes through the relaxed states by implicit
    differentiation (``physics.implicit``).
    """
    from ..physics import relax, simulate
    from ..physics.simulate import with_disorder

    summary_fn = summary_fn or _default_summary_fn()
    render_fn = render_fn if render_fn is not None else _default_render_fn()
    image_pixel = pixel_size or grid.cell_size
    dtype = material.Ms.dtype

    def one(theta, key, m0):
        if "thickness" in theta:
            t = theta["thickness"]
            if not isinstance(t, (int, float)):
                raise DomainfitError("thickness is free, but the simulator's grid fixes it: use the emulator or fix it")
            if abs(float(t) - grid.thickness) > 1e-6 * grid.thickness:
                raise DomainfitError(f"thickness {t} m differs from the grid's {grid.thickness} m")
        leaves = [n for n in MATERIAL_LEAVES if n in theta]
        mat = eqx.tree_at(
            lambda m: [getattr(m, n) for n in leaves], material, [jnp.asarray(theta[n], dtype) for n in leaves]
        )
        if m0 is None:
            m = simulate(mat, grid, key=key, tol=tol, max_steps=max_steps).m
        else:
            mat = with_disorder(mat, grid, key=jax.random.split(key)[1])
            m = relax(m0, mat, grid, tol=tol, max_steps=max_steps).m
        mz = m[2]
        blur = theta.get("blur_fwhm", 0.0)
        contrast = theta.get("contrast", 1.0)
        offset = theta.get("offset", 0.0)
        if render_fn is None:
            image = contrast * mz + offset
        else:
            image = render_fn(
                mz, grid.cell_size, pixel_size=pixel_size, field_of_view=field_of_view,
                blur_fwhm=blur, contrast=contrast, offset=offset,
            )
        return summary_fn(image, image_pixel)

    def forward(theta: Theta) -> Float[Array, "R n"]:
        if init_states is None:
            return jax.vmap(lambda k: one(theta, k, None))(keys)
        return jax.vmap(lambda k, m0: one(theta, k, m0))(keys, init_states)

    return forward


def simulator_predictive(material, grid, **forward_options) -> Callable[[Theta, Key[Array, ""]], Float[Array, " n"]]:
    """(θ, key) → statistics of one *fresh* simulation (new initial state and grains from ``key``).

    For the posterior-predictive check by simulation (``posterior_predictive(..., simulate=...)``);
    ``forward_options`` are those of ``simulator_forward`` (summary_fn, render_fn, pixel_size,
    field_of_view, tol, max_steps) and should match the observation's imaging.
    """

    def simulate_one(theta: Theta, key: Key[Array, ""]) -> Float[Array, " n"]:
        return simulator_forward(material, grid, keys=key[None], **forward_options)(theta)[0]

    return simulate_one
