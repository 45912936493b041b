"""The posterior p(θ | s_obs) ∝ L(θ) p(θ): MAP by optax from the CNN seed, then NUTS by numpyro.

Both work in the normalised unconstrained space u of ``priors.PriorModel`` (every coordinate O(1)),
on the log density log p(u) + log L(θ(u)). The NUTS draws are mapped back to θ in SI and returned as
an ``arviz.InferenceData`` (groups posterior, sample_stats, observed_data; attrs with units and timing).
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax

from .._types import Array, Float, Key
from ..errors import DomainfitError
from .priors import Prior, PriorModel

MIN_DRAWS = 100
"""Fewer posterior draws than this (chains × samples) cannot give an interval: refuse the budget."""


def check_prior_inputs(sampled, inputs) -> None:
    """Refuse a prior that samples a material parameter the likelihood does not depend on: the image
    cannot inform it and its "posterior" would be its prior."""
    from .priors import PARAMETERS

    idle = [n for n in sampled if n in PARAMETERS and n not in inputs]
    if idle:
        raise DomainfitError(
            f"the prior samples {', '.join(idle)}, which the likelihood does not depend on (its inputs: "
            f"{', '.join(inputs)}): the image cannot inform {'it' if len(idle) == 1 else 'them'} and the "
            "'posterior' would be the prior. Fix it at a value (Prior.fix) or use an emulator that takes it"
        )


class Problem:
    """A Bayesian inverse problem: a prior over θ and a log-likelihood function of θ (dict, SI).

    Args:
        prior: a ``PriorModel``, or ``Prior`` specs (dict or list) to build one.
        likelihood: θ → log p(s_obs | θ), JAX-traceable (``SyntheticLikelihood``,
            ``EmulatorLikelihood`` or any function).
        s_obs: the observed statistics (stored in the InferenceData; optional).
        stat_names: names of the statistics.
        surrogate_error: emulator error to report (None for a direct simulator likelihood).
    """

    def __init__(
        self,
        prior: PriorModel | Mapping[str, Prior] | Sequence[Prior],
        likelihood: Callable[[Mapping[str, Array]], Float[Array, ""]],
        *,
        s_obs: Float[Array, " n"] | None = None,
        stat_names: Sequence[str] | None = None,
        surrogate_error: float | None = None,
    ):
        self.prior = prior if isinstance(prior, PriorModel) else PriorModel(prior)
        self.likelihood = likelihood
        inputs = getattr(likelihood, "inputs", None)
        if inputs is not None:
            check_prior_inputs(self.prior.names, inputs)
            constants = getattr(likelihood, "constants", {})
            theta0 = self.prior.theta(jnp.zeros(self.prior.dim))
            for name, held in constants.items():
                if name in theta0 and name not in self.prior.names and not np.isclose(float(theta0[name]), held, rtol=1e-6):
                    raise DomainfitError(
                        f"{name} is fixed at {float(theta0[name]):.4g} SI, but the likelihood's emulator was trained "
                        f"with {name} = {held:.4g} and does not take it: the value would be ignored. Fix it at "
                        f"{held:.4g} or use an emulator trained on data where {name} varies")
        self.s_obs = None if s_obs is None else np.asarray(s_obs)
        self.stat_names = tuple(stat_names) if stat_names is not None else None
        self.surrogate_error = surrogate_error

    @property
    def names(self) -> tuple[str, ...]:
        return self.prior.names

    def theta(self, u: Float[Array, " d"]) -> dict[str, Array]:
        return self.prior.theta(u)

    def log_prior(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        return self.prior.log_prior(u)

    def log_likelihood(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        return self.likelihood(self.prior.theta(u))

    def log_density(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        """Unnormalised log posterior in u: log p(u) + log L(θ(u))."""
        return self.log_prior(u) + self.log_likelihood(u)

    def model(self):
        """The numpyro model: the prior's sample sites plus a ``factor`` carrying log L(θ).

        Usable with any numpyro inference (``NUTS(problem.model)``); ``run_nuts`` samples the same
        density in the normalised space instead.
        """
        theta = self.prior.fn()
        numpyro.factor("log_likelihood", self.likelihood(theta))
        return theta


@dataclasses.dataclass
class MapResult:
    """Maximum a posteriori point.

    Attributes:
        theta: every parameter in SI at the MAP.
        u: its normalised unconstrained coordinates.
        log_density: log posterior (unnormalised) there.
        steps: optimiser steps taken; converged: whether |∇ log p| fell below the tolerance.
        history: log density per step.
    """

    theta: dict[str, float]
    u: np.ndarray
    log_density: float
    steps: int
    converged: bool
    history: np.ndarray


def find_map(
    problem: Problem,
    seed: Mapping[str, float],
    *,
    steps: int = 500,
    learning_rate: float = 0.05,
    gtol: float = 1e-4,
    progress: bool = False,
) -> MapResult:
    """Maximise the posterior from ``seed`` (θ dict, SI; e.g. the CNN estimate) with optax Adam in u.

    Raises ``DomainfitError`` if the prior has no support at the seed or the density is not finite there.
    """
    u = problem.prior.to_u(seed)
    value_and_grad = jax.jit(jax.value_and_grad(lambda v: -problem.log_density(v)))
    loss, grad = value_and_grad(u)
    if not bool(jnp.isfinite(loss)):
        raise DomainfitError(
            "the posterior density is not finite at the starting estimate: the likelihood fails there "
            "(simulation not converged, or statistics outside the emulator's range)"
        )
    opt = optax.adam(learning_rate)
    state = opt.init(u)

    @jax.jit
    def update(u, state, grad):
        upd, state = opt.update(grad, state, u)
        return optax.apply_updates(u, upd), state

    history, converged, best = [float(-loss)], False, (float(loss), u)
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="MAP", leave=False)
    step = 0
    for step in iterator:
        u_new, state = update(u, state, grad)
        loss_new, grad_new = value_and_grad(u_new)
        if not bool(jnp.isfinite(loss_new)):
            break  # stepped off the density's domain: keep the best point so far
        u, loss, grad = u_new, loss_new, grad_new
        history.append(float(-loss))
        if float(loss) < best[0]:
            best = (float(loss), u)
        if float(jnp.max(jnp.abs(grad))) < gtol:
            converged = True
            break
    loss, u = best
    theta = {k: float(v) for k, v in problem.theta(u).items()}
    return MapResult(theta, np.asarray(u), -loss, step + 1, converged, np.asarray(history))


def check_budget(num_chains: int, num_warmup: int, num_samples: int) -> None:
    """Refuse sampling budgets that cannot give a usable posterior, saying what to change."""
    if num_chains < 1 or num_warmup < 0 or num_samples < 1:
        raise DomainfitError(f"sampling budget chains={num_chains}, warmup={num_warmup}, samples={num_samples}: "
                             "need at least one chain and one sample")
    if num_chains * num_samples < MIN_DRAWS:
        raise DomainfitError(
            f"budget too small: {num_chains} chains × {num_samples} samples = {num_chains * num_samples} draws; "
            f"need at least {MIN_DRAWS} (400 or more for reliable 90 % intervals)"
        )
    if num_warmup < 50:
        raise DomainfitError(f"budget too small: {num_warmup} warm-up steps; NUTS needs at least 50 to adapt its step")


def run_nuts(
    problem: Problem,
    init: MapResult | Float[Array, " d"] | Mapping[str, float],
    *,
    key: Key[Array, ""],
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 1000,
    chain_method: str = "sequential",
    init_spread: float = 0.1,
    target_accept: float = 0.8,
    dense_mass: bool = True,
    progress: bool = True,
):
    """Sample the posterior with NUTS from ``init`` (MAP result, u, or a θ dict in SI).

    Chains start at init + ``init_spread``·N(0, I) in u (so R-hat can see a chain stuck elsewhere).
    A dense mass matrix is adapted by default: D, σ and Ms are correlated through the domain period,
    and in 3–5 dimensions the dense matrix costs nothing.
    Returns an ``arviz.InferenceData``: posterior θ in SI (free parameters), sample_stats (diverging,
    lp, energy, n_steps, step_size, tree_depth), observed_data (s_obs) and attrs (units, timing, JSON).
    """
    import arviz as az

    check_budget(num_chains, num_warmup, num_samples)
    if isinstance(init, MapResult):
        u0 = jnp.asarray(init.u)
    elif isinstance(init, Mapping):
        u0 = problem.prior.to_u(init)
    else:
        u0 = jnp.asarray(init)
    key_init, key_run = jax.random.split(key)
    inits = u0 + init_spread * jax.random.normal(key_init, (num_chains,) + u0.shape, u0.dtype)
    potential = lambda v: -problem.log_density(v)  # noqa: E731
    kernel = numpyro.infer.NUTS(potential_fn=potential, target_accept_prob=target_accept, dense_mass=dense_mass)
    mcmc = numpyro.infer.MCMC(
        kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
        chain_method=chain_method, progress_bar=progress,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*There are not enough devices.*")
        mcmc.run(key_run, init_params=inits if num_chains > 1 else inits[0],
                 extra_fields=("diverging", "num_steps", "energy", "potential_energy", "adapt_state.step_size"))
    wall = time.perf_counter() - start
    u = np.asarray(mcmc.get_samples(group_by_chain=True))  # [chains, draws, d]
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return _to_inference_data(problem, u, extra, wall, az)


def _to_inference_data(problem: Problem, u: np.ndarray, extra: dict, wall: float, az):
    c, n, d = u.shape
    flat = jnp.asarray(u.reshape(c * n, d))
    theta = jax.vmap(lambda v: {k: jnp.asarray(val) for k, val in problem.theta(v).items()})(flat)
    posterior = {}
    for name, val in theta.items():
        val = np.asarray(val, np.float64).reshape(c, n)
        if name in problem.names or np.ptp(val) > 0:
            posterior[name] = val
    n_steps = np.asarray(extra["num_steps"])
    sample_stats = dict(
        diverging=np.asarray(extra["diverging"], bool),
        lp=-np.asarray(extra["potential_energy"], np.float64),
        energy=np.asarray(extra["energy"], np.float64),
        n_steps=n_steps,
        tree_depth=np.floor(np.log2(np.maximum(n_steps, 1))).astype(int) + 1,
        step_size=np.asarray(extra["adapt_state.step_size"], np.float64),
    )
    observed = None
    dims = None
    if problem.s_obs is not None:
        observed = {"s_obs": problem.s_obs}
        dims = {"s_obs": ["statistic"]}
    coords = {"statistic": list(problem.stat_names)} if problem.stat_names and observed else None
    units = {k: problem.prior.units.get(k, "?") for k in posterior}
    idata = az.from_dict(
        posterior=posterior, sample_stats=sample_stats, observed_data=observed, dims=dims, coords=coords,
        attrs={"units": json.dumps(units), "wall_time_s": wall, "sampler": "numpyro NUTS",
               "surrogate_error": -1.0 if problem.surrogate_error is None else float(problem.surrogate_error)},
    )
    return idata


def fit_posterior(
    problem: Problem,
    seed: Mapping[str, float],
    *,
    key: Key[Array, ""],
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 1000,
    chain_method: str = "sequential",
    map_steps: int = 500,
    progress: bool = True,
):
    """MAP from ``seed`` (θ dict, SI) then NUTS from the MAP; returns (MapResult, InferenceData).

    The wall time of both stages is stored in ``idata.attrs["wall_time_s"]``.
    """
    check_budget(num_chains, num_warmup, num_samples)
    start = time.perf_counter()
    result = find_map(problem, seed, steps=map_steps, progress=progress)
    idata = run_nuts(problem, result, key=key, num_chains=num_chains, num_warmup=num_warmup,
                     num_samples=num_samples, chain_method=chain_method, progress=progress)
    idata.attrs["wall_time_s"] = time.perf_counter() - start
    idata.attrs["map"] = json.dumps(result.theta)
    return result, idata
