"""Generic Bayes over the film parameters θ, with no network inside: priors, likelihoods (the synthetic
one from simulated replicas), the posterior problem, MAP and NUTS, evidence and Bayes factors,
posterior-predictive checks and InferenceData. See docs/inference.md.

Typical use (CPU, emulator likelihood; the emulator is in ``domainfit.surrogate``)::

    from domainfit import inference as inf, surrogate
    emu = surrogate.Emulator.load("emulator.npz")
    lik = surrogate.EmulatorLikelihood(emu, s_obs, area_ratio=emu.area / observed_area)
    problem = inf.Problem(inf.default_priors("co-pt"), lik, s_obs=s_obs)
    map_result, idata = inf.fit_posterior(problem, cnn_seed, key=jax.random.key(0))
"""

from .evidence import (
    EvidenceResult as EvidenceResult,
    bayes_factor as bayes_factor,
    compare_models as compare_models,
    log_evidence as log_evidence,
    with_extra_errors as with_extra_errors,
)
from .fit import (
    MapResult as MapResult,
    check_budget as check_budget,
    find_map as find_map,
    fit_posterior as fit_posterior,
    run_nuts as run_nuts,
)
from .likelihood import (
    SyntheticLikelihood as SyntheticLikelihood,
    gaussian_log_density as gaussian_log_density,
    replica_moments as replica_moments,
    simulator_forward as simulator_forward,
    simulator_predictive as simulator_predictive,
)
from .predictive import posterior_predictive as posterior_predictive
from .problem import LogDensity as LogDensity, Problem as Problem
from .priors import PARAMETERS as PARAMETERS, Prior as Prior, PriorModel as PriorModel, default_priors as default_priors
