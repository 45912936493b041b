"""Physical constants and unit conversions (SI inside, user units only at the edges).

Every conversion between the units a physicist types (mJ/m², kA/m, nm, mT, ...) and the SI
units used everywhere inside domainfit lives here, so that no other module multiplies by 1e-3.
Constants follow CODATA 2018 (the exact SI values where the 2019 redefinition made them exact).
"""

from __future__ import annotations

import math
import re

from .errors import DomainfitError

MU0: float = 1.25663706212e-6
"""Vacuum permeability μ0 [T·m/A = N/A²] (CODATA 2018)."""

GAMMA_E: float = 1.76085963023e11
"""Electron gyromagnetic ratio |γ_e| [rad/(s·T)] (CODATA 2018)."""

GAMMA0: float = MU0 * GAMMA_E
"""Gyromagnetic ratio in field units γ0 = μ0|γ_e| [m/(A·s)], as used in the LLG equation with H in A/m."""

# Factors that turn a value in the named user unit into SI.
USER_UNITS: dict[str, tuple[str, float]] = {
    # quantity: (user unit, factor to SI)
    "D": ("mJ/m^2", 1e-3),  # → J/m²
    "Ms": ("kA/m", 1e3),  # → A/m
    "Ku": ("MJ/m^3", 1e6),  # → J/m³
    "A": ("pJ/m", 1e-12),  # → J/m
    "length": ("nm", 1e-9),  # → m
    "field": ("mT", 1e-3 / MU0),  # μ0H in mT → H in A/m
}

_LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "nm": 1e-9, "pm": 1e-12, "a": 1e-10, "å": 1e-10}


def to_si(quantity: str, value: float) -> float:
    """Convert ``value`` given in the user unit of ``quantity`` (see ``USER_UNITS``) to SI."""
    return float(value) * USER_UNITS[quantity][1]


def from_si(quantity: str, value: float) -> float:
    """Convert an SI ``value`` of ``quantity`` to its user unit (see ``USER_UNITS``)."""
    return float(value) / USER_UNITS[quantity][1]


def parse_length(text: str, *, default_unit: str | None = None) -> float:
    """Parse a length such as ``"15.6nm"``, ``"0.0156 um"`` or ``"4e-9m"`` into metres.

    A bare number is accepted only when ``default_unit`` is given. Raises ``DomainfitError`` for an
    unknown unit, a missing unit, or a value that is not a finite positive number.
    """
    match = re.fullmatch(r"\s*([-+0-9.eE]+)\s*([A-Za-zµμÅå]*)\s*", str(text))
    if not match:
        raise DomainfitError(f"cannot read length {text!r}: write it as e.g. 15.6nm or 0.0156um")
    number, unit = match.groups()
    try:
        value = float(number)
    except ValueError:
        raise DomainfitError(f"cannot read length {text!r}: {number!r} is not a number") from None
    unit = unit.lower() if unit not in ("µm", "μm") else unit
    if not unit:
        if default_unit is None:
            raise DomainfitError(f"length {text!r} has no unit: write it as e.g. 15.6nm or 0.0156um")
        unit = default_unit
    if unit not in _LENGTH_UNITS:
        raise DomainfitError(f"unknown length unit {unit!r} in {text!r}: use one of nm, um, mm, m")
    if not math.isfinite(value) or value <= 0:
        raise DomainfitError(f"length {text!r} must be a finite positive number")
    return value * _LENGTH_UNITS[unit]
