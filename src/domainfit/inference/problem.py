"""The Bayesian inverse problem: a prior over θ and a likelihood, and its log density in the
normalised space u of ``priors.PriorModel`` (what the compiled MAP, NUTS and SMC functions take)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import numpyro

from .._types import Array, Float
from ..errors import DomainfitError
from .priors import Prior, PriorModel


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


class LogDensity(eqx.Module):
    """log p(u) + log L(θ(u)) and nothing else: what the compiled MAP, NUTS and SMC functions take.

    The prior is static (compared by value) and the likelihood's arrays are leaves, so the compiled
    programs depend on the kind of problem only, not on the image, its size or what a report says of it.
    """

    prior: PriorModel = eqx.field(static=True)
    likelihood: Callable[[Mapping[str, Array]], Float[Array, ""]]

    def theta(self, u: Float[Array, " d"]) -> dict[str, Array]:
        return self.prior.theta(u)

    def log_prior(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        return self.prior.log_prior(u)

    def log_likelihood(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        return self.likelihood(self.prior.theta(u))

    def log_density(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        """Unnormalised log posterior in u: log p(u) + log L(θ(u))."""
        return self.log_prior(u) + self.log_likelihood(u)


class Problem(LogDensity):
    """A Bayesian inverse problem: a prior over θ and a log-likelihood function of θ (dict, SI).

    A ``LogDensity`` (theta, log_prior, log_likelihood, log_density) with what reports need beside it.
    The compiled MAP, NUTS and SMC functions take its ``density`` alone, so the observation and the
    report fields (which differ from image to image) never enter a compiled program's identity.

    Args:
        prior: a ``PriorModel``, or ``Prior`` specs (dict or list) to build one.
        likelihood: θ → log p(s_obs | θ), JAX-traceable (``SyntheticLikelihood``,
            ``EmulatorLikelihood`` or any function).
        s_obs: the observed statistics (stored in the InferenceData; optional).
        stat_names: names of the statistics.
        surrogate_error: emulator error to report (None for a direct simulator likelihood).
    """

    s_obs: np.ndarray | None
    stat_names: tuple[str, ...] | None = eqx.field(static=True)
    surrogate_error: float | None = eqx.field(static=True)

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

    @property
    def density(self) -> LogDensity:
        """The log density alone (without the observation and report fields), for compiled functions."""
        return LogDensity(self.prior, self.likelihood)

    def model(self):
        """The numpyro model: the prior's sample sites plus a ``factor`` carrying log L(θ).

        Usable with any numpyro inference (``NUTS(problem.model)``); ``run_nuts`` samples the same
        density in the normalised space instead.
        """
        theta = self.prior.fn()
        numpyro.factor("log_likelihood", self.likelihood(theta))
        return theta
