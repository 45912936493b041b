"""Energy minimisation: projected steepest descent with Barzilai–Borwein step sizes.

As in mumax3's ``Minimize`` (after Exl et al., J. Appl. Phys. 115, 17D118 (2014)): the descent
direction is the component of the reduced effective field perpendicular to m,
d = h − (m·h) m = −m × (m × h), the update is m ← normalise(m + τ d), and the step τ alternates
between the two Barzilai–Borwein rules τ₁ = (s·s)/(s·y) and τ₂ = (s·y)/(y·y), with s the change of m
and y = −(change of d). The field is the closed-form fast path of each term (``energy.FIELDS``, tested against the
autodiff gradient); the energy is evaluated only at the end. The loop stops when the largest torque |m × H|/Ms over cells falls below
``tol``, or after ``max_steps`` field evaluations.

``relax`` is pure, ``jit``-able and ``vmap``-able (a batch runs until every member has converged;
finished members are frozen by JAX's batching of ``while_loop``). Its result is differentiable
with respect to the material by implicit differentiation at the minimum (see ``implicit``).
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Bool, Float, Int, Magnetisation, Scalar
from ..errors import DomainfitError
from .energy import ALL_TERMS, check_terms, reduced_field, total_energy
from .grid import Grid
from .implicit import implicit_minimum
from .material import Material
from . import vec


class BB(eqx.Module):
    """Barzilai–Borwein projected steepest descent (all fields static configuration).

    Attributes:
        step0: first step τ (dimensionless: m changes by τ·|d| with d in units of Ms).
        step_min, step_max: clamp on the BB step, guarding against s·y ≈ 0.
    """

    step0: float = eqx.field(static=True, default=1e-2)
    step_min: float = eqx.field(static=True, default=1e-5)
    step_max: float = eqx.field(static=True, default=1e3)


class RelaxState(eqx.Module):
    """Loop state of the minimiser (also what ``relax`` returns, as ``Relaxed``)."""

    m: Magnetisation
    d: Magnetisation
    step_size: Scalar
    max_torque: Scalar
    steps: Int[Array, ""]


class Relaxed(eqx.Module):
    """A relaxed state and how it was reached.

    Attributes:
        m: relaxed unit magnetisation (3, ny, nx); differentiable w.r.t. the material (implicit).
        energy: total energy [J] at ``m``.
        max_torque: largest |m × H|/Ms at ``m`` (dimensionless).
        steps: number of minimiser steps (field evaluations after the first).
        converged: whether ``max_torque`` < ``tol``.
    """

    m: Magnetisation
    energy: Scalar
    max_torque: Scalar
    steps: Int[Array, ""]
    converged: Bool[Array, ""]


def _descent(m, h):
    d = h - vec.dot(m, h)[None] * m
    return d, jnp.sqrt(jnp.max(vec.dot(d, d)))


def init_state(m0: Magnetisation, material: Material, grid: Grid, terms, minimiser: BB) -> RelaxState:
    """Normalise ``m0`` and evaluate energy, field and torque there."""
    m = vec.normalise(m0)
    d, torque = _descent(m, reduced_field(m, material, grid, terms))
    return RelaxState(m, d, jnp.asarray(minimiser.step0, m.dtype), torque, jnp.asarray(0))


def bb_step(state: RelaxState, material: Material, grid: Grid, terms, minimiser: BB) -> RelaxState:
    """One projected steepest-descent step followed by the next Barzilai–Borwein step size."""
    tau = state.step_size
    m_new = vec.normalise(state.m + tau * state.d)
    d_new, torque = _descent(m_new, reduced_field(m_new, material, grid, terms))
    s = m_new - state.m
    y = state.d - d_new
    sy, ss, yy = jnp.sum(s * y), jnp.sum(s * s), jnp.sum(y * y)
    tau_bb = jnp.where(state.steps % 2 == 0, ss / sy, sy / yy)
    # s·y ≤ 0 means negative curvature along the step (leaving a saddle): BB has no answer there,
    # and a growing step leaves the saddle fastest; a quadratic bowl always has s·y > 0.
    ok = jnp.isfinite(tau_bb) & (sy > 0)
    tau_new = jnp.clip(jnp.where(ok, tau_bb, 2.0 * tau), minimiser.step_min, minimiser.step_max)
    return RelaxState(m_new, d_new, tau_new.astype(tau.dtype), torque, state.steps + 1)


@partial(jax.jit, static_argnames=("grid", "terms", "minimiser"))
def advance(
    state: RelaxState,
    material: Material,
    grid: Grid,
    tol: Float[Array, ""] | float,
    max_steps: Int[Array, ""] | int,
    *,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: BB = BB(),
) -> RelaxState:
    """Run minimiser steps from ``state`` until torque < ``tol`` or ``state.steps`` reaches ``max_steps``."""

    def cond(s):
        return (s.max_torque >= tol) & (s.steps < max_steps)

    return jax.lax.while_loop(cond, lambda s: bb_step(s, material, grid, terms, minimiser), state)


def _finish(state: RelaxState, material, grid, terms, tol, implicit: bool) -> Relaxed:
    m = jax.lax.stop_gradient(state.m)
    if implicit:
        m = implicit_minimum(m, material, grid, terms)
    # With implicit gradients this carries dE*/dθ = ∂E/∂θ (envelope theorem at the minimum).
    energy = total_energy(m, material, grid, terms)
    return Relaxed(m, energy, state.max_torque, state.steps, state.max_torque < tol)


def relax(
    m0: Magnetisation,
    material: Material,
    grid: Grid,
    *,
    tol: float = 1e-4,
    max_steps: int = 20_000,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: BB = BB(),
    implicit: bool = True,
    progress: bool = False,
) -> Relaxed:
    """Relax ``m0`` to a local energy minimum of ``material`` on ``grid``.

    Args:
        m0: initial magnetisation (3, ny, nx); normalised on entry.
        tol: stop when max |m × H|/Ms < tol (dimensionless; 1e-4 of Ms = 1.5 MA/m is 0.19 mT).
        max_steps: give up after this many steps (``converged`` is then False).
        terms: energy terms to include (names of ``energy.TERMS``).
        implicit: attach implicit-differentiation gradients to the result (``implicit``).
        progress: show a progress bar (runs in chunks from Python, so not inside ``jit``/``vmap``).

    Returns:
        ``Relaxed`` with the state, energy [J], torque, step count and convergence flag.
    """
    terms = check_terms(terms)
    if not (tol > 0):
        raise DomainfitError(f"tolerance {tol}: must be positive")
    if m0.shape != (3, grid.ny, grid.nx):
        raise DomainfitError(f"magnetisation shape {m0.shape} does not match the grid (3, {grid.ny}, {grid.nx})")
    state = init_state(m0, material, grid, terms, minimiser)
    if not progress:
        state = advance(state, material, grid, tol, max_steps, terms=terms, minimiser=minimiser)
    else:
        state = _advance_with_progress(state, material, grid, tol, max_steps, terms, minimiser)
    return _finish(state, material, grid, terms, tol, implicit)


def _advance_with_progress(state, material, grid, tol, max_steps, terms, minimiser, chunk: int = 100):
    import math

    from tqdm.auto import tqdm

    start = float(state.max_torque)
    span = max(math.log10(start / tol), 1e-9) if start > tol else 1e-9
    with tqdm(total=100, desc="relax", unit="%", bar_format="{l_bar}{bar}| {postfix}", leave=False) as bar:
        while True:
            target = min(int(state.steps) + chunk, max_steps)
            state = advance(state, material, grid, tol, target, terms=terms, minimiser=minimiser)
            torque = float(state.max_torque)
            done = torque < tol or int(state.steps) >= max_steps
            frac = min(max(math.log10(start / max(torque, 1e-30)) / span, 0.0), 1.0) if start > tol else 1.0
            bar.n = round(100 * frac)
            bar.set_postfix_str(f"step {int(state.steps)}, torque {torque:.2e}")
            if done:
                break
    return state


def relax_unrolled(
    m0: Magnetisation,
    material: Material,
    grid: Grid,
    n_steps: int,
    *,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: BB = BB(),
) -> Magnetisation:
    """Exactly ``n_steps`` minimiser steps as a ``lax.scan``, differentiable by unrolling.

    The reference for the implicit derivatives: forward or reverse mode through every step. Step
    sizes are treated as constants (``stop_gradient``), as the fixed point does not depend on them.
    """
    terms = check_terms(terms)
    state = init_state(m0, material, grid, terms, minimiser)

    def body(s, _):
        new = bb_step(s, material, grid, terms, minimiser)
        return eqx.tree_at(lambda t: t.step_size, new, jax.lax.stop_gradient(new.step_size)), None

    state, _ = jax.lax.scan(body, state, None, length=n_steps)
    return state.m
