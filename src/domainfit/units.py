"""Physical constants and unit conversions (SI inside, user units only at the edges).

Every conversion between the units a physicist types (mJ/m², kA/m, nm, mT, ...) and the SI
units used everywhere inside domainfit lives here, so that no other module multiplies by 1e-3.
Constants follow CODATA 2018 (the exact SI values where the 2019 redefinition made them exact).
"""

from __future__ import annotations

import math
import re

from .errors import DomainfitError
from .parameters import USER as PARAMETER_UNITS

MU0: float = 1.25663706212e-6
"""Vacuum permeability μ0 [T·m/A = N/A²] (CODATA 2018)."""

GAMMA_E: float = 1.76085963023e11
"""Electron gyromagnetic ratio |γ_e| [rad/(s·T)] (CODATA 2018)."""

GAMMA0: float = MU0 * GAMMA_E
"""Gyromagnetic ratio in field units γ0 = μ0|γ_e| [m/(A·s)], as used in the LLG equation with H in A/m."""

# Factors that turn a value in the named user unit into SI.
USER_UNITS: dict[str, tuple[str, float]] = {
    # quantity: (user unit, factor to SI); the parameters' own units are ``parameters.USER``
    "D": PARAMETER_UNITS["D"],
    "Ms": PARAMETER_UNITS["Ms"],
    "Ku": PARAMETER_UNITS["Ku"],
    "A": PARAMETER_UNITS["A"],
    "length": PARAMETER_UNITS["thickness"],
    "field": ("mT", 1e-3 / MU0),  # μ0H in mT → H in A/m
}



def user_unit(name: str) -> tuple[str, float]:
    """(user unit, factor SI per user unit) of a parameter (``PARAMETER_UNITS``); ("SI", 1) otherwise.
    A value in user units is the SI value divided by the factor."""
    return PARAMETER_UNITS.get(name, ("SI", 1.0))


def format_user(name: str, value: float) -> str:
    """An SI value of a parameter in its user unit, for messages: ``format_user("D", 1e-3)`` → "1 mJ/m^2"."""
    unit, si = PARAMETER_UNITS.get(name, ("", 1.0))
    return f"{value / si:.4g}" + ("" if unit in ("", "1") else f" {unit}")


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


# SI base unit of each parameter a user may fix (``parse_quantity``), written in the normalised spelling
# below: "J/m2" for J/m², "J/m3" for J/m³; "" for dimensionless.
QUANTITY_SI: dict[str, str] = {
    "D": "J/m2",
    "Ku": "J/m3",
    "A": "J/m",
    "Ms": "A/m",
    "sigma": "",
    "thickness": "m",
    "blur_fwhm": "m",
    "contrast": "",
    "offset": "",
    "length": "m",
    "field": "T",  # μ0H, e.g. a measured field "55mT"
}

_PREFIXES = {"": 1.0, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}


def _normalise_unit(unit: str) -> str:
    u = unit.strip().replace(" ", "").replace("^", "").replace("²", "2").replace("³", "3")
    return u.replace("µ", "u").replace("μ", "u")


def parse_quantity(name: str, text: str) -> float:
    """Parse ``"1.6MJ/m3"``, ``"0.8 mJ/m^2"``, ``"1500kA/m"``, ``"31pJ/m"``, ``"0.1"`` for parameter ``name``
    (a key of ``QUANTITY_SI``) into its SI value (J/m³, J/m², A/m, J/m, m, or dimensionless).

    A unit is required for dimensioned parameters (no silent guess between kA/m and A/m); a
    dimensionless one takes a bare number or "%". Raises ``DomainfitError`` with an example otherwise.
    """
    if name not in QUANTITY_SI:
        raise DomainfitError(f"unknown parameter {name!r}: use one of {', '.join(k for k in QUANTITY_SI if k != 'length')}")
    base = QUANTITY_SI[name]
    example = {"D": "D=0.8mJ/m2", "Ku": "Ku=1.6MJ/m3", "A": "A=31pJ/m", "Ms": "Ms=1500kA/m",
               "thickness": "thickness=4nm", "blur_fwhm": "blur_fwhm=20nm", "length": "15.6nm", "field": "28mT"}.get(name, f"{name}=0.1")
    match = re.fullmatch(r"\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(.*?)\s*", str(text))
    if not match:
        raise DomainfitError(f"cannot read {name} value {text!r}: write it as e.g. {example}")
    value, unit = float(match.group(1)), _normalise_unit(match.group(2))
    if not math.isfinite(value):
        raise DomainfitError(f"{name} value {text!r} is not finite")
    if not base:
        if unit in ("", "1"):
            return value
        if unit == "%":
            return value / 100.0
        raise DomainfitError(f"{name} is dimensionless: write it without a unit, e.g. {example} (got {unit!r})")
    if not unit:
        raise DomainfitError(f"{name} value {text!r} has no unit: write it as e.g. {example}")
    for prefix, factor in _PREFIXES.items():
        if prefix + base == unit:
            return value * factor
    raise DomainfitError(f"unknown unit {unit!r} for {name} (SI unit {base}): write it as e.g. {example}")


def parse_fix(spec: str, *, scoped: bool = False) -> tuple[str | None, str, float]:
    """One fixed value as typed on the command line → (model or None, parameter, SI value).

    ``"Ku=1.6MJ/m3"`` → (None, "Ku", 1.6e6); with ``scoped`` the model comes first:
    ``"fixed:sigma=0.1"`` → ("fixed", "sigma", 0.1). The value needs its unit (``parse_quantity``).
    """
    form, example = ("MODEL:NAME=VALUE", "fixed:sigma=0.1") if scoped else ("NAME=VALUE", "Ku=1.6MJ/m3")
    scope = None
    rest = str(spec)
    if scoped:
        scope, sep, rest = rest.partition(":")
        scope = scope.strip()
        if not sep or not scope:
            raise DomainfitError(f"--fix {spec!r}: write it as {form} with a unit, e.g. --fix {example}")
    name, sep, value = rest.partition("=")
    name = name.strip()
    if not sep or not name or not value.strip():
        raise DomainfitError(f"--fix {spec!r}: write it as {form} with a unit, e.g. --fix {example}")
    if name not in PARAMETER_UNITS:
        raise DomainfitError(f"--fix {spec!r}: unknown parameter {name!r} (parameters: {', '.join(PARAMETER_UNITS)})")
    return scope, name, parse_quantity(name, value)


MAX_SEED = 2**32 - 1
"""Largest seed: seeds become 32-bit keys (``jax.random.key``; the dataset's ``fmix32`` seeds)."""


def check_seed(value, what: str = "seed") -> int:
    """A random seed as an int in 0 … ``MAX_SEED`` (a string of digits is accepted, as typed)."""
    try:
        seed = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        seed = None
    if seed is None or not 0 <= seed <= MAX_SEED:
        raise DomainfitError(f"{what} {value!r}: need an integer from 0 to {MAX_SEED}")
    return seed


def seed_arg(text: str) -> int:
    """argparse ``type`` of ``--seed`` (``check_seed``): argparse reports its message as one line."""
    import argparse

    try:
        return check_seed(text, "seed")
    except DomainfitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
