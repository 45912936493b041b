"""One joint model over a series of images of films that differ along a coordinate (e.g. a wedge).

Each image i at position x_i has its own likelihood L_i(θ_i) (an ``EmulatorLikelihood`` from
``estimate(..., posterior=True)``: ``result.posterior.problem.likelihood``), and its parameters
θ_i = (D_i, σ_i, …) follow a *trend* along x, one per parameter:

- ``"constant"``: p_i = p for every image (one parameter, ``p``);
- ``"linear"``: p_i = p_start + (p_end − p_start)(x_i − x_min)/(x_max − x_min), with p_start and p_end
  the values at the smallest and largest position (two parameters; ``p_slope`` per unit of x is
  derived);
- ``"free"``: every p_i its own (n parameters ``p_0`` … ``p_{n−1}``).

Priors are uniform over the box [lo, hi] of each parameter, for p, p_start, p_end and every p_i alike,
so every p_i of every trend stays inside the box the likelihood was made for (a straight line between
two points of the box stays in it). The linear trend's slope prior is then triangular about zero,
and "constant" is nested in "linear" (p_start = p_end).

The images are independent given θ, so log L = Σ_i log L_i(θ_i). ``compare_trends`` compares trend
models by their evidence (``evidence.log_evidence``, tempered SMC with an error bar from independent
runs); ``series_posterior`` samples one model with NUTS, seeded by the images' own estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

from ..errors import DomainfitError
from ..inference.problem import Problem
from ..inference.priors import PARAMETERS, PriorModel

TRENDS = ("constant", "linear", "free")
"""The trends a parameter can follow along the series (module docstring)."""


def _check(positions, box: Mapping[str, tuple[float, float]], trends: Mapping[str, str]) -> np.ndarray:
    x = np.asarray(positions, np.float64)
    if x.ndim != 1 or len(x) < 2:
        raise DomainfitError(f"a series needs at least two positions, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DomainfitError("series positions must be finite numbers")
    if x.max() == x.min():
        raise DomainfitError("all positions of the series coincide: a linear trend is undefined")
    for name, trend in trends.items():
        if trend not in TRENDS:
            raise DomainfitError(f"trend {trend!r} for {name}: use one of {', '.join(TRENDS)}")
        if name not in box:
            raise DomainfitError(f"no box (lo, hi) for {name}: give its prior range")
        lo, hi = box[name]
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise DomainfitError(f"box of {name}: ({lo}, {hi}) is not a range")
    return x


def trend_prior(positions: Sequence[float], box: Mapping[str, tuple[float, float]],
                trends: Mapping[str, str]) -> PriorModel:
    """The prior of a trend model: uniform over ``box`` per sampled value (module docstring).

    ``theta(u)`` returns, besides the sampled sites, ``{p}_{i}`` for every parameter and image, and
    ``{p}_slope`` (per unit of position) for a linear trend.
    """
    x = _check(positions, box, trends)
    n = len(x)
    frac = (x - x.min()) / (x.max() - x.min())

    def fn():
        out = {}
        for name, trend in trends.items():
            lo, hi = (float(v) for v in box[name])
            u = dist.Uniform(lo, hi)
            if trend == "constant":
                p = numpyro.sample(name, u)
                values = [p] * n
                out[name] = p
            elif trend == "linear":
                a = numpyro.sample(f"{name}_start", u)
                b = numpyro.sample(f"{name}_end", u)
                values = [a + (b - a) * float(f) for f in frac]
                out.update({f"{name}_start": a, f"{name}_end": b, f"{name}_slope": (b - a) / float(x.max() - x.min())})
            else:
                values = [numpyro.sample(f"{name}_{i}", u) for i in range(n)]
            out.update({f"{name}_{i}": v for i, v in enumerate(values)})
        return out

    units = {}
    for name in trends:
        unit = PARAMETERS.get(name, ("1", ""))[0]
        units.update({f"{name}_{i}": unit for i in range(n)})
        units.update({name: unit, f"{name}_start": unit, f"{name}_end": unit, f"{name}_slope": f"{unit} per unit of x"})
    return PriorModel.from_function(fn, units=units)


def series_likelihood(likelihoods: Sequence[Callable], names: Sequence[str]) -> Callable:
    """log L(θ) = Σ_i L_i({p: θ[f"{p}_{i}"] for p in names}): independent images, parameters per image."""
    likelihoods = list(likelihoods)
    names = tuple(names)

    def log_likelihood(theta):
        return sum(lik({p: theta[f"{p}_{i}"] for p in names}) for i, lik in enumerate(likelihoods))

    return log_likelihood


def series_problem(likelihoods: Sequence[Callable], positions: Sequence[float],
                   box: Mapping[str, tuple[float, float]], trends: Mapping[str, str]) -> Problem:
    """The joint ``Problem`` of a series under one trend per parameter."""
    if len(likelihoods) != len(positions):
        raise DomainfitError(f"{len(likelihoods)} likelihoods for {len(positions)} positions")
    prior = trend_prior(positions, box, trends)
    return Problem(prior, series_likelihood(likelihoods, tuple(trends)))


def compare_trends(likelihoods: Sequence[Callable], positions: Sequence[float], box: Mapping[str, tuple[float, float]],
                   models: Mapping[str, Mapping[str, str]], *, key, **evidence_options) -> dict:
    """Evidence of each named trend model and Bayes factors against the best (``evidence.compare_models``).

    ``models`` maps a name to its trends, e.g. ``{"D constant": {"D": "constant", "sigma": "free"},
    "D linear": {"D": "linear", "sigma": "free"}}``; ``evidence_options`` go to ``log_evidence``.
    """
    from ..inference.evidence import compare_models

    problems = {name: series_problem(likelihoods, positions, box, trends) for name, trends in models.items()}
    return compare_models(problems, key=key, **evidence_options)


def seed_from_estimates(estimates: Sequence[Mapping[str, float]], positions: Sequence[float],
                        box: Mapping[str, tuple[float, float]], trends: Mapping[str, str]) -> dict[str, float]:
    """A starting θ for the trend model from per-image estimates (SI): a constant is their mean, a
    linear trend their least-squares line at the smallest and largest position, free values themselves;
    every value moved inside its box."""
    x = _check(positions, box, trends)
    seed = {}
    for name, trend in trends.items():
        lo, hi = box[name]
        pad = 1e-3 * (hi - lo)
        clip = lambda v: float(np.clip(v, lo + pad, hi - pad))  # noqa: E731
        v = np.array([float(e[name]) for e in estimates])
        if trend == "constant":
            seed[name] = clip(v.mean())
        elif trend == "linear":
            slope, icept = np.polyfit(x, v, 1)
            seed[f"{name}_start"], seed[f"{name}_end"] = clip(icept + slope * x.min()), clip(icept + slope * x.max())
        else:
            seed.update({f"{name}_{i}": clip(vi) for i, vi in enumerate(v)})
    return seed


def series_posterior(problem: Problem, seed: Mapping[str, float], *, key, **nuts_options):
    """MAP from ``seed`` then NUTS (``fit.fit_posterior``): (MapResult, InferenceData) with every
    derived value (``p_i``, ``p_slope``) among the posterior variables."""
    from ..inference.fit import fit_posterior

    return fit_posterior(problem, seed, key=key if not isinstance(key, int) else jax.random.key(key), **nuts_options)


def likelihood_from_report(report: Mapping) -> Callable:
    """The emulator likelihood of one image rebuilt from its ``estimate(..., posterior=True)`` report
    (``EstimateResult.report`` or its JSON): the emulator file, the observed statistics and the area
    ratio it was sampled with. Equal to ``result.posterior.problem.likelihood``."""
    import jax.numpy as jnp

    from ..surrogate.emulator import Emulator
    from ..surrogate.likelihood import EmulatorLikelihood

    try:
        path, obs = report["emulator"]["path"], report["observation"]
    except (KeyError, TypeError):
        raise DomainfitError("the report has no posterior (emulator and observation): estimate with "
                             "posterior=True / --posterior") from None
    emulator = Emulator.load(path)
    return EmulatorLikelihood(emulator, jnp.asarray(obs["statistics"], jnp.result_type(float)),
                              area_ratio=float(obs["area_ratio"]))


def hdi(draws, prob: float = 0.9) -> tuple[float, float]:
    """Highest-density interval of 1-D ``draws`` (the shortest interval holding ``prob`` of them)."""
    x = np.sort(np.asarray(draws, np.float64).ravel())
    n = len(x)
    k = int(np.ceil(prob * n))
    if k < 2 or k > n:
        raise DomainfitError(f"{n} draws are too few for a {prob:.0%} interval")
    widths = x[k - 1:] - x[: n - k + 1]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + k - 1])


__all__ = ["TRENDS", "trend_prior", "series_likelihood", "series_problem", "compare_trends", "seed_from_estimates",
           "series_posterior", "likelihood_from_report", "hdi"]
