"""Surrogates of the forward model: the emulator of the statistics' mean and covariance over the prior
box, its likelihood, the wall-presence hurdle, the instrument terms and the CNN's estimates as learned
statistics (docs/inference.md)."""

from .emulator import Emulator as Emulator
from .fitting import emulator_from_dataset as emulator_from_dataset, fit_emulator as fit_emulator
from .instrument_terms import (
    InstrumentTerms as InstrumentTerms,
    fit_instrument_terms as fit_instrument_terms,
    terms_of as terms_of,
)
from .likelihood import EmulatorLikelihood as EmulatorLikelihood
from .presence import Presence as Presence, fit_presence as fit_presence
