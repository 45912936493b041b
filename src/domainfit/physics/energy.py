"""Total energy as the sum of the pure energy terms, and the effective field from its gradient."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from .._types import Field, Magnetisation, Scalar
from ..errors import DomainfitError
from ..units import MU0
from . import anisotropy, demag, dmi, exchange, zeeman
from .grid import Grid
from .material import Material
from . import vec

EnergyTerm = Callable[[Magnetisation, Material, Grid], Scalar]

TERMS: dict[str, EnergyTerm] = {
    "exchange": exchange.energy,
    "anisotropy": anisotropy.energy,
    "dmi": dmi.energy,
    "demag": demag.energy,
    "zeeman": zeeman.energy,
}
"""Every energy term by name; each is a pure function ``energy(m, material, grid) -> J``."""

ALL_TERMS: tuple[str, ...] = tuple(TERMS)


def check_terms(terms: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [t for t in terms if t not in TERMS]
    if unknown:
        raise DomainfitError(f"unknown energy term(s) {unknown}: choose from {', '.join(TERMS)}")
    return tuple(terms)


def total_energy(m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...] = ALL_TERMS) -> Scalar:
    """Total micromagnetic energy [J], the sum of the named terms."""
    return sum(TERMS[name](m, material, grid) for name in check_terms(terms))


def energy_density(m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...] = ALL_TERMS) -> Scalar:
    """Mean energy density [J/m³]: total energy over film volume."""
    return total_energy(m, material, grid, terms) / (grid.cell_volume * grid.n_cells)


def effective_field(m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...] = ALL_TERMS) -> Field:
    """Effective field H_eff = −(1/(μ0 Ms V)) ∂E/∂m [A/m], by automatic differentiation."""
    grad = jax.grad(total_energy)(m, material, grid, terms)
    return -grad / (MU0 * material.Ms * grid.cell_volume)


FIELDS: dict[str, Callable[[Magnetisation, Material, Grid], Field]] = {
    "exchange": exchange.field,
    "anisotropy": anisotropy.field,
    "dmi": dmi.field,
    "demag": demag.field,
    "zeeman": zeeman.field,
}
"""Closed-form fields of each term [A/m], the minimiser's fast path; tested against ``effective_field``."""


def reduced_field(m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...] = ALL_TERMS) -> Field:
    """Reduced effective field h = H_eff/Ms from the closed-form term fields (fast path, no energy)."""
    return sum(FIELDS[name](m, material, grid) for name in check_terms(terms)) / material.Ms


def energy_and_reduced_field(
    m: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...] = ALL_TERMS
) -> tuple[Scalar, Field]:
    """Energy [J] and reduced effective field h = H_eff/Ms (dimensionless), one pass."""
    e, grad = jax.value_and_grad(total_energy)(m, material, grid, terms)
    return e, -grad / (MU0 * material.Ms**2 * grid.cell_volume)


def max_torque(m: Magnetisation, h: Field) -> Scalar:
    """Largest |m × h| over cells; with h = H/Ms this is the stopping criterion |m × H|/Ms."""
    t = vec.cross(m, h)
    return jnp.sqrt(jnp.max(vec.dot(t, t)))
