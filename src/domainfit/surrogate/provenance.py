"""Where an emulator comes from and how well it predicts held-out data: its provenance, typed.

An emulator file keeps this record as one JSON text (``Emulator.report``, written by ``fitting``,
``instrument_terms.attach`` and ``Emulator.refine``); code reads it through ``Provenance`` — parsed
once per text, with a named, typed field for each entry that code acts on — instead of parsing the
text again and picking dict keys. Entries no code reads (fold counts, pooled z², …) stay in ``raw``
for reports.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..errors import DomainfitError


@dataclasses.dataclass(frozen=True)
class Provenance:
    """An emulator's provenance and cross-validation (module docstring).

    Attributes:
        surrogate_error: held-out RMS error of the mean, in training-noise sd (nan: never measured).
        mean_error_over_sd: per statistic, the held-out mean error beyond the emulator's own V_μ in
            training-noise sd (None: not measured); the likelihood adds its square to the variance.
        n_train: training views the emulator was fitted to (0: not recorded).
        mean_var_factor: per statistic, the design effect that multiplies V_μ — its training views are
            several views of each state (``fitting.state_level``; None: not measured, 1).
        between_state_share: per statistic, the share ρ of a training view's noise variance that is the
            state's and averages over a larger field of view; the rest (instrument draw, reading) does not
            (None: not measured — all of it is scaled by the area, as before the measurement).
        constants: parameters its training set held at one value {name: SI}; a prior must fix them there.
        component: the prior component of a mixed training set it was fitted to (None: the whole set).
        learned_model_sha256: the CNN whose estimates are among its statistics (None: no learned statistic).
        instrument_terms: the instrument families' bias and scatter (``instrument_terms.InstrumentTerms``
            as JSON; None: none measured).
        raw: the whole record as written, for reports.
    """

    surrogate_error: float
    mean_error_over_sd: tuple[float, ...] | None
    n_train: int
    mean_var_factor: tuple[float, ...] | None
    between_state_share: tuple[float, ...] | None
    constants: Mapping[str, float]
    component: str | None
    learned_model_sha256: str | None
    instrument_terms: Mapping[str, Any] | None
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "Provenance":
        try:
            errors = record.get("mean_error_over_sd")
            errors = None if errors is None else tuple(float(e) for e in errors)
            if errors is not None and not all(math.isfinite(e) for e in errors):
                errors = None  # an unmeasured statistic: the error is not added at all (as before)
            return cls(
                surrogate_error=float(record.get("surrogate_error", math.nan)),
                mean_error_over_sd=errors,
                n_train=int(record.get("n_train", 0)),
                mean_var_factor=_floats(record.get("mean_var_factor"), 1.0),
                between_state_share=_floats(record.get("between_state_share"), 0.0, 1.0),
                constants=MappingProxyType({str(k): float(v) for k, v in (record.get("constants") or {}).items()}),
                component=record.get("component"),
                learned_model_sha256=record.get("learned_model_sha256"),
                instrument_terms=record.get("instrument_terms") or None,
                raw=MappingProxyType(dict(record)),
            )
        except (TypeError, ValueError, AttributeError) as err:
            raise DomainfitError(f"the emulator's provenance record is malformed ({err}): refit it with "
                                 "`domainfit emulator`") from None

    def to_dict(self) -> dict[str, Any]:
        """The whole record as a new dict (to extend and write back, or to report)."""
        return json.loads(json.dumps(dict(self.raw)))


def _floats(values, lo: float, hi: float = math.inf) -> tuple[float, ...] | None:
    """A per-statistic list as a tuple of floats within [lo, hi], or None when absent."""
    if values is None:
        return None
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and lo <= v <= hi for v in out):
        raise ValueError(f"values {list(out)} outside [{lo}, {hi}]")
    return out


@functools.lru_cache(maxsize=64)
def provenance_of(report: str) -> Provenance:
    """The ``Provenance`` of an emulator's JSON record, parsed once per distinct text."""
    try:
        record = json.loads(report)
    except json.JSONDecodeError as err:
        raise DomainfitError(f"the emulator's provenance record is not JSON ({err}): refit it with "
                             "`domainfit emulator`") from None
    if not isinstance(record, dict):
        raise DomainfitError("the emulator's provenance record is not a JSON object: refit it with `domainfit emulator`")
    return Provenance.from_dict(record)
