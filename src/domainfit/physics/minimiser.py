"""The minimiser as a strategy: what ``relax`` and the implicit derivative's polish need of one.

A minimiser (``relax.BB``, ``relax.PBB``) is an immutable Module of static settings that knows how to
start its loop state at a magnetisation (``init``), run steps until the torque falls below a tolerance
or a step budget is spent (``advance``), and take one step in whichever phase its state is (``step``,
for unrolled differentiation). ``relax`` and ``implicit.implicit_minimum`` take one by keyword, as
diffrax takes a solver, and never ask which kind it is.
"""

from __future__ import annotations

import abc
from functools import partial

import equinox as eqx
import jax


class AbstractMinimiser(eqx.Module):
    """Interface of the energy minimisers (all fields static configuration)."""

    @abc.abstractmethod
    def init(self, m0, material, grid, terms):
        """The loop state at ``m0`` (normalised on entry): field and torque evaluated there."""

    @abc.abstractmethod
    def advance(self, state, material, grid, tol, max_steps, terms):
        """Steps from ``state`` until max |m × H|/Ms < ``tol`` or ``state.steps`` reaches ``max_steps``."""

    @abc.abstractmethod
    def step(self, state, material, grid, terms):
        """One step in whichever phase ``state`` is."""


@partial(jax.jit, static_argnames=("grid", "terms", "minimiser"))
def run(state, material, grid, tol, max_steps, *, terms: tuple[str, ...], minimiser: AbstractMinimiser):
    """``minimiser.advance`` compiled once per grid, term set and minimiser (``relax.advance`` with no default)."""
    return minimiser.advance(state, material, grid, tol, max_steps, terms)
