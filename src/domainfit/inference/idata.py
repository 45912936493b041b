"""The full ArviZ ``InferenceData`` of a posterior run, in user units.

``run_nuts`` keeps what the sampler gives (θ in SI, sample statistics, the observation). For users
``inference_data`` completes it so that ``az.summary``, ``az.plot_pair``, ``az.plot_ppc``, ``az.loo``
and ``az.compare`` work:

- ``posterior`` and ``prior``: the sampled parameters in user units (D mJ/m², Ms kA/m, σ 1), each
  variable's unit in its ``units`` attribute;
- ``observed_data``: the image's statistics ``s`` [statistic];
- ``posterior_predictive``: one statistic vector per posterior draw, s ~ N(μ(θ), Σ(θ)) of the likelihood;
- ``log_likelihood``: log p(s_obs | θ) per draw, split over the statistics by the chain rule,
  log p(s) = Σ_i log p(s_i | s_<i) (Cholesky of Σ(θ), statistics in the emulator's order): the
  terms sum exactly to the joint log-likelihood of the statistics the sampler used, so LOO/WAIC
  values and ``az.compare`` weigh the same likelihood, with "leave one statistic out" meaning the
  i-th conditional. The factor log p_w(θ) that the film keeps walls (``surrogate.presence``) is in
  the sampler's target but is no statistic, so it is not among the terms. An image without walls
  has no statistics: its InferenceData holds posterior, prior and sample_stats only.
"""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ..units import user_unit

OBSERVED = "s"
"""Name of the statistic vector in observed_data, posterior_predictive and log_likelihood."""


def pointwise_log_likelihood(
    s: Float[Array, " n"], mean: Float[Array, " n"], cov: Float[Array, "n n"]
) -> Float[Array, " n"]:
    """log p(s_i | s_<i) for i = 1…n under N(mean, cov); their sum is log N(s; mean, cov)."""
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, s - mean, lower=True)
    return -0.5 * z**2 - jnp.log(jnp.diag(chol)) - 0.5 * jnp.log(2 * jnp.pi)


def _to_user(draws: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    values, unit_of = {}, {}
    for name, v in draws.items():
        unit, factor = user_unit(name)
        values[name] = np.asarray(v, np.float64) / factor
        unit_of[name] = unit
    return values, unit_of


@eqx.filter_jit
def _per_draw(likelihood, s_obs: Float[Array, " n"], theta: dict, keys):
    """Pointwise log-likelihood and one predictive draw of the statistics per posterior draw; compiled
    once per kind of likelihood (the likelihood is an argument, not a closure)."""
    def one(t, k):
        mean, cov = likelihood.moments(t)
        cov = cov.astype(s_obs.dtype)
        mean = mean.astype(s_obs.dtype)
        return (pointwise_log_likelihood(s_obs, mean, cov),
                jax.random.multivariate_normal(k, mean, cov, method="svd"))

    return jax.vmap(one)(theta, keys)


def inference_data(problem, sampled, *, key: Key[Array, ""], prior_draws: int = 1000):
    """The full ``InferenceData`` (module docstring) of ``sampled``, the SI ``InferenceData`` that
    ``run_nuts`` / ``fit_posterior`` returned for ``problem``.

    ``problem.likelihood`` must have ``moments(θ)`` (emulator and synthetic likelihoods do) and
    ``problem.s_obs`` must be set, unless the image shows no walls (``surrogate.presence``): then
    only posterior, prior and sample_stats.
    """
    import arviz as az

    moments = getattr(problem.likelihood, "moments", None)
    wall_free = problem.s_obs is None and not getattr(problem.likelihood, "walls", True)
    if not wall_free and (moments is None or problem.s_obs is None):
        raise DomainfitError("the full InferenceData needs a likelihood with moments(θ) and the observed statistics")
    post = sampled.posterior
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    base = {k: float(v) for k, v in problem.prior.theta(jnp.zeros(problem.prior.dim)).items()}
    names = [n for n in post.data_vars if n in base]
    k_pp, k_prior = jax.random.split(key)
    attrs = dict(sampled.attrs)
    groups = {}
    if wall_free:
        attrs["walls"] = "none: the likelihood is only that the film kept no walls (domainfit.surrogate.presence)"
    else:
        theta = {n: jnp.full((chains * draws,), v) for n, v in base.items()}
        theta.update({n: jnp.asarray(np.asarray(post[n], np.float64).reshape(-1)) for n in names})
        s_obs = jnp.asarray(problem.s_obs)
        loglik, predictive = _per_draw(problem.likelihood, s_obs, theta, jax.random.split(k_pp, chains * draws))
        n_stat = s_obs.shape[0]
        stat_names = list(problem.stat_names) if problem.stat_names else [f"s{i}" for i in range(n_stat)]
        groups = dict(
            observed_data={OBSERVED: np.asarray(s_obs)},
            posterior_predictive={OBSERVED: np.asarray(predictive, np.float64).reshape(chains, draws, n_stat)},
            log_likelihood={OBSERVED: np.asarray(loglik, np.float64).reshape(chains, draws, n_stat)},
            dims={OBSERVED: ["statistic"]}, coords={"statistic": stat_names},
        )
        attrs["log_likelihood"] = "chain rule over the statistics: log p(s_i | s_<i) (domainfit.inference.idata)"
    u = problem.prior.sample_u(prior_draws, key=k_prior)
    prior_theta = jax.vmap(problem.prior.theta)(u)
    posterior, unit_of = _to_user({n: np.asarray(post[n]) for n in names})
    prior, _ = _to_user({n: np.asarray(prior_theta[n]).reshape(1, -1) for n in names})
    sample_stats = {k: np.asarray(sampled.sample_stats[k]) for k in sampled.sample_stats.data_vars}
    attrs["units"] = json.dumps(unit_of)
    idata = az.from_dict(posterior=posterior, prior=prior, sample_stats=sample_stats, attrs=attrs, **groups)
    for group in ("posterior", "prior"):
        for name in names:
            idata[group][name].attrs["units"] = unit_of[name]
    return idata
