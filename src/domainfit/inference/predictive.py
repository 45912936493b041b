"""Posterior-predictive check: do statistics simulated at posterior draws look like the observed ones?

For each of ``n_draws`` posterior draws θ_j a statistic vector s_j is drawn — from the Gaussian of the
likelihood, N(μ(θ_j), Σ_eff(θ_j)) (emulator or replicas), or from a fresh simulation with a new key when
``simulate`` is given. The check reports per statistic the standardised residual
z = (s_obs − mean_j s_j)/sd_j s_j with its two-sided tail probability, and a joint p-value: the fraction
of draws whose Mahalanobis distance to the predictive mean is at least that of s_obs. A p-value below
0.01 says the model (or the emulator) cannot reproduce the image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from .._types import Array, Float, Key
from ..errors import DomainfitError


def posterior_draws(problem, idata, n_draws: int, *, key: Key[Array, ""]) -> list[dict[str, float]]:
    """``n_draws`` θ dicts (SI, free and fixed parameters) picked at random from the posterior."""
    post = idata.posterior
    base = {k: float(v) for k, v in problem.prior.theta(jnp.zeros(problem.prior.dim)).items()}
    names = [n for n in post.data_vars if n in base]
    if not names or post.sizes.get("draw", 0) == 0:
        raise DomainfitError("the posterior has no draws of the model's parameters")
    flat = {n: np.asarray(post[n]).reshape(-1) for n in names}
    total = len(flat[names[0]])
    pick = np.asarray(jax.random.choice(key, total, (n_draws,), replace=total < n_draws))
    return [{**base, **{n: float(flat[n][i]) for n in names}} for i in pick]


@eqx.filter_jit
def _draw(likelihood, stacked: dict, keys):
    """One statistic vector s ~ N(μ(θ), Σ(θ)) per θ; compiled once per kind of likelihood."""
    def one(theta, k):
        mean, cov = likelihood.moments(theta)
        return jax.random.multivariate_normal(k, mean, cov, method="svd")

    return jax.vmap(one)(stacked, keys)


def posterior_predictive(
    problem,
    idata,
    *,
    key: Key[Array, ""],
    n_draws: int = 200,
    simulate: Callable[[Mapping[str, float], Array], Float[Array, " n"]] | None = None,
) -> dict:
    """Posterior-predictive statistics and p-values (see module docstring).

    Args:
        problem: the ``problem.Problem`` (its likelihood must have ``moments(θ)`` unless ``simulate`` is given).
        idata: the NUTS ``InferenceData``.
        simulate: optional (θ, key) → s, a fresh simulation rendered at the observation's field of view.

    Returns a dict with ``samples`` [n_draws, n_stats], ``s_obs``, ``z``, ``p_marginal``, ``p_joint``.
    """
    if problem.s_obs is None:
        raise DomainfitError("posterior-predictive check needs the observed statistics (Problem(s_obs=...))")
    k_draw, k_sim = jax.random.split(key)
    thetas = posterior_draws(problem, idata, n_draws, key=k_draw)
    keys = jax.random.split(k_sim, n_draws)
    if simulate is None:
        moments = getattr(problem.likelihood, "moments", None)
        if moments is None:
            raise DomainfitError("this likelihood has no moments(θ): pass simulate= for the predictive check")
        stacked = {n: jnp.asarray([t[n] for t in thetas]) for n in thetas[0]}
        samples = np.asarray(_draw(problem.likelihood, stacked, keys))
    else:
        samples = [np.asarray(simulate(theta, k)) for theta, k in zip(thetas, keys)]
    samples = np.asarray(samples, np.float64)
    s_obs = np.asarray(problem.s_obs, np.float64)
    mean, sd = samples.mean(0), samples.std(0, ddof=1)
    z = (s_obs - mean) / np.where(sd > 0, sd, np.inf)
    cov = np.cov(samples, rowvar=False).reshape(len(s_obs), len(s_obs)) + 1e-12 * np.eye(len(s_obs))
    prec = np.linalg.pinv(cov)
    d_obs = (s_obs - mean) @ prec @ (s_obs - mean)
    d_sim = np.einsum("ij,jk,ik->i", samples - mean, prec, samples - mean)
    return dict(
        samples=samples, s_obs=s_obs, z=z, p_marginal=2 * norm.sf(np.abs(z)),
        p_joint=float(np.mean(d_sim >= d_obs)), stat_names=problem.stat_names,
    )
