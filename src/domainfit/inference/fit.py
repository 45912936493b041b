"""The posterior p(θ | s_obs) ∝ L(θ) p(θ): MAP by optax from the CNN seed, then NUTS by numpyro.

Both work in the normalised unconstrained space u of ``priors.PriorModel`` (every coordinate O(1)),
on the log density log p(u) + log L(θ(u)). The NUTS draws are mapped back to θ in SI and returned as
an ``arviz.InferenceData`` (groups posterior, sample_stats, observed_data; attrs with units and timing).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax

from .._types import Array, Float, Key
from ..errors import DomainfitError
from .problem import LogDensity, Problem

MIN_DRAWS = 100
"""Fewer posterior draws than this (chains × samples) cannot give an interval: refuse the budget."""


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
    value_and_grad = functools.partial(_loss_and_grad, problem.density)
    loss, grad = value_and_grad(u)
    if not bool(jnp.isfinite(loss)):
        raise DomainfitError(
            "the posterior density is not finite at the starting estimate: the likelihood fails there "
            "(simulation not converged, or statistics outside the emulator's range)"
        )
    state = _adam(learning_rate).init(u)
    update = functools.partial(_adam_update, learning_rate=learning_rate)
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


@eqx.filter_jit
def _loss_and_grad(density: LogDensity, u: Float[Array, " d"]):
    """−log p(u) and its gradient, compiled once per kind of problem (not per image)."""
    return jax.value_and_grad(lambda v: -density.log_density(v))(u)


@functools.lru_cache(maxsize=16)
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


@functools.partial(jax.jit, static_argnames="learning_rate")
def _adam_update(u, state, grad, *, learning_rate: float):
    upd, state = _adam(learning_rate).update(grad, state, u)
    return optax.apply_updates(u, upd), state


MAX_CHAINS = 64
MAX_SAMPLES = 200_000
MAX_STEPS = 2_000_000
"""Upper bounds of a sampling budget: beyond them a run only exhausts memory or time."""


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
    for what, n, most, why in (("chains", num_chains, MAX_CHAINS, "R-hat needs a few; more add only time"),
                               ("samples per chain", num_samples, MAX_SAMPLES, "1000 give an ESS above 400"),
                               ("warm-up steps", num_warmup, MAX_SAMPLES, "500 adapt the step and mass matrix")):
        if n > most:
            raise DomainfitError(f"{n} {what}: at most {most} ({why})")
    if num_chains * (num_samples + num_warmup) > MAX_STEPS:
        raise DomainfitError(f"budget too large: {num_chains} chains × ({num_warmup} + {num_samples}) steps; at most "
                             f"{MAX_STEPS:,} in all (the default 4 × (500 + 1000) gives 90 % intervals)")


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
    starts: str = "dispersed",
    target_accept: float = 0.8,
    dense_mass: bool = True,
    progress: bool = True,
):
    """Sample the posterior with NUTS from ``init`` (MAP result, u, or a θ dict in SI).

    ``starts="dispersed"`` (default): the first chain starts at init + ``init_spread``·N(0, I) in u, every
    other chain at a draw of the prior (one where the log density is finite; else beside init), so that
    chains that end in different modes show in R-hat — chains that all start beside one mode cannot
    see a second. ``starts="map"``: every chain at init + ``init_spread``·N(0, I).
    A dense mass matrix is adapted by default: D, σ and Ms are correlated through the domain period,
    and in 3–5 dimensions the dense matrix costs nothing. Each chain (warm-up and draws) is one
    compiled program of the problem's log density (``_run_chain``), compiled for the first problem of
    its kind and budget and reused by every later one; chains run one after another ("sequential" and
    "parallel") or in lockstep ("vectorized"), with a progress bar over the chains.
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
    if starts == "dispersed" and num_chains > 1:
        drawn = problem.prior.sample_u(num_chains - 1, key=jax.random.fold_in(key_init, 1)).astype(u0.dtype)
        finite = jnp.isfinite(jax.vmap(problem.density.log_density)(drawn))
        inits = inits.at[1:].set(jnp.where(finite[:, None], drawn, inits[1:]))
    elif starts not in ("dispersed", "map"):
        raise DomainfitError(f"starts {starts!r}: choose dispersed (chains from the prior) or map")
    settings = (int(num_warmup), int(num_samples), float(target_accept), bool(dense_mass))
    if chain_method not in ("sequential", "parallel", "vectorized"):
        raise DomainfitError(f"chain_method {chain_method!r}: choose sequential, parallel or vectorized")
    # numpyro's multi-chain keys: one split of the run key per chain (a single chain uses it whole)
    keys = jax.random.split(key_run, num_chains) if num_chains > 1 else key_run[None]
    start = time.perf_counter()
    chains = range(num_chains)
    if progress:
        from tqdm.auto import tqdm

        chains = tqdm(chains, desc="NUTS", unit="chain", leave=False)
    if chain_method == "vectorized":
        out = [_run_chains(settings, problem.density, keys, inits)]
    else:  # sequential (and parallel, which one CPU device runs one chain after another too)
        out = [jax.tree.map(lambda x: x[None], _run_chain(settings, problem.density, keys[c], inits[c])) for c in chains]
    u, extra = jax.tree.map(lambda *x: np.concatenate(x), *out)  # [chains, draws, d], {field: [chains, draws]}
    wall = time.perf_counter() - start
    return _to_inference_data(problem, u, extra, wall, az)


U_SITE = "u"
"""The one sample site of ``posterior_model``: the normalised unconstrained vector u."""

EXTRA_FIELDS = ("diverging", "num_steps", "energy", "potential_energy", "adapt_state.step_size")
"""What NUTS records per draw beside u."""


def posterior_model(density: LogDensity) -> None:
    """The posterior in u as a numpyro model: a flat improper site u and a ``factor`` with
    log p(u) + log L(θ(u)); the density (``Problem.density``) is the model's argument."""
    u = numpyro.sample(U_SITE, dist.ImproperUniform(dist.constraints.real_vector, (), (density.prior.dim,)))
    with numpyro.handlers.block():  # the prior's own sites (inside log_prior) are not this model's
        log_density = density.log_density(u)
    numpyro.factor("log_density", log_density)


def _one_chain(settings: tuple, density: LogDensity, key: Key[Array, ""], init: Float[Array, " d"]):
    num_warmup, num_samples, target_accept, dense_mass = settings
    arrays, rest = eqx.partition(density, eqx.is_array)  # numpyro passes model arguments through jax.jit

    def model(arrays):
        posterior_model(eqx.combine(arrays, rest))

    kernel = numpyro.infer.NUTS(model, target_accept_prob=target_accept, dense_mass=dense_mass)
    mcmc = numpyro.infer.MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=1,
                              progress_bar=False, jit_model_args=True)
    mcmc.run(key, arrays, init_params={U_SITE: init}, extra_fields=EXTRA_FIELDS)
    return mcmc.get_samples()[U_SITE], mcmc.get_extra_fields()


_run_chain = eqx.filter_jit(_one_chain)
"""One NUTS chain (warm-up, then draws) as one compiled program of (problem, key, init): compiled once
per budget and kind of problem, so a process that refines image after image does not compile again
(numpyro compiles its loop anew for every new model otherwise)."""

_run_chains = eqx.filter_jit(jax.vmap(_one_chain, in_axes=(None, None, 0, 0)))
"""Several chains in lockstep (``chain_method="vectorized"``)."""


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
