"""An emulator's provenance is one typed record, parsed once (surrogate.provenance)."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.errors import DomainfitError
from domainfit.surrogate.emulator import Emulator, fields_of
from domainfit.surrogate.likelihood import EmulatorLikelihood
from domainfit.surrogate.provenance import provenance_of


def _shipped() -> Emulator:
    from domainfit.nn import emulator_path, load_default

    return Emulator.load(emulator_path(load_default().path))


def test_typed_fields_are_the_record_as_written():
    emu = _shipped()
    raw = json.loads(emu.report)  # the file's own text, read independently
    p = emu.provenance
    assert p.surrogate_error == raw["surrogate_error"] and p.n_train == raw["n_train"]
    assert p.mean_error_over_sd == tuple(raw["mean_error_over_sd"])
    assert dict(p.constants) == raw["constants"] and p.component == raw["component"]
    assert p.learned_model_sha256 == raw["learned_model_sha256"]
    assert dict(p.instrument_terms) == raw["instrument_terms"]
    assert emu.error_report == raw and emu.constants == raw["constants"]
    assert provenance_of(emu.report) is p  # parsed once per text, not per property read
    with pytest.raises(TypeError):
        p.constants["Ms"] = 1.0  # read-only: a reader cannot change what the next one sees


@pytest.mark.parametrize("report, words", [("not json", "not JSON"), ("[1, 2]", "not a JSON object"),
                                           ('{"constants": [1, 2]}', "malformed")])
def test_a_broken_record_is_refused_in_one_line(report, words):
    emu = Emulator(**{**fields_of(_shipped()), "report": report})
    with pytest.raises(DomainfitError, match=words):
        _ = emu.surrogate_error


def test_a_non_finite_mean_error_adds_no_model_error():
    emu = _shipped()
    record = json.loads(emu.report)
    record["mean_error_over_sd"] = [math.nan] * len(emu.stat_names)
    broken = Emulator(**{**fields_of(emu), "report": json.dumps(record)})
    theta = {"D": 0.5e-3, "sigma": 0.1}
    s = jnp.zeros(len(emu.stat_names))
    _, cov_nan = EmulatorLikelihood(broken, s, instrument_term=False).moments(theta)
    _, cov_none = EmulatorLikelihood(emu, s, model_error=False, instrument_term=False).moments(theta)
    _, cov_with = EmulatorLikelihood(emu, s, instrument_term=False).moments(theta)
    np.testing.assert_allclose(np.asarray(cov_nan), np.asarray(cov_none), rtol=1e-6)
    assert np.all(np.diag(np.asarray(cov_with)) > np.diag(np.asarray(cov_none)))
