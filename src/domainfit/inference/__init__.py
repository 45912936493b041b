"""Bayesian refinement against the measured image (issue 5): priors, synthetic likelihood, emulator,
MAP and NUTS, evidence and Bayes factors, reports. See docs/inference.md.

Typical use (CPU, emulator likelihood)::

    from domainfit import inference as inf
    emu = inf.Emulator.load("emulator.npz")
    lik = inf.EmulatorLikelihood(emu, s_obs, area_ratio=emu.area / observed_area)
    problem = inf.Problem(inf.default_priors("co-pt"), lik, s_obs=s_obs)
    map_result, idata = inf.fit_posterior(problem, cnn_seed, key=jax.random.key(0))
    summary = inf.summarize(idata)
"""

from .emulator import Emulator as Emulator, emulator_from_dataset as emulator_from_dataset, fit_emulator as fit_emulator
from .evidence import (
    EvidenceResult as EvidenceResult,
    bayes_factor as bayes_factor,
    compare_models as compare_models,
    log_evidence as log_evidence,
)
from .fit import (
    MapResult as MapResult,
    Problem as Problem,
    check_budget as check_budget,
    find_map as find_map,
    fit_posterior as fit_posterior,
    run_nuts as run_nuts,
)
from .instrument_terms import (
    InstrumentTerms as InstrumentTerms,
    fit_instrument_terms as fit_instrument_terms,
    terms_of as terms_of,
)
from .likelihood import (
    EmulatorLikelihood as EmulatorLikelihood,
    SyntheticLikelihood as SyntheticLikelihood,
    gaussian_log_density as gaussian_log_density,
    replica_moments as replica_moments,
    simulator_forward as simulator_forward,
    simulator_predictive as simulator_predictive,
)
from .measurements import (
    JointLikelihood as JointLikelihood,
    Measurement as Measurement,
    dmi_field_of as dmi_field_of,
    parse_measurement as parse_measurement,
)
from .pipeline import (
    PosteriorResult as PosteriorResult,
    posterior_from_image as posterior_from_image,
    posterior_from_images as posterior_from_images,
)
from .predictive import posterior_predictive as posterior_predictive
from .presence import Presence as Presence, fit_presence as fit_presence, shows_walls as shows_walls
from .priors import PARAMETERS as PARAMETERS, Prior as Prior, PriorModel as PriorModel, default_priors as default_priors
from .report import save_json as save_json, save_netcdf as save_netcdf, summarize as summarize
from .sbc import coverage as coverage, rank_uniformity as rank_uniformity, sbc_rank as sbc_rank
