"""Energy minimisation: projected steepest descent with Barzilai–Borwein step sizes.

As in mumax3's ``Minimize`` (after Exl et al., J. Appl. Phys. 115, 17D118 (2014)): the descent
direction is the component of the reduced effective field perpendicular to m,
d = h − (m·h) m = −m × (m × h), the update is m ← normalise(m + τ d), and the step τ alternates
between the two Barzilai–Borwein rules τ₁ = (s·s)/(s·y) and τ₂ = (s·y)/(y·y), with s the change of m
and y = −(change of d). The field is the closed-form fast path of each term (``energy.FIELDS``, tested against the
autodiff gradient); the energy is evaluated only at the end. The loop stops when the largest torque |m × H|/Ms over cells falls below
``tol``, or after ``max_steps`` field evaluations.

``PBB`` (``minimiser=PBB()``) keeps these steps until the torque first falls below 0.5 and then
smooths the descent direction by 1/(1 + ℓ²k²) for the slow tail: same stopping rule, same relaxed
states in distribution, fewer steps (``benchmarks/relax.py``). It evaluates the field in k-space
(``spectral``: one FFT pair for exchange, DMI and demag) unless ``field="terms"``.

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
from .minimiser import AbstractMinimiser
from .spectral import laplacian_symbol, spectral_reduced_field
from .material import Material
from . import vec


class BB(AbstractMinimiser):
    """Barzilai–Borwein projected steepest descent (all fields static configuration).

    Attributes:
        step0: first step τ (dimensionless: m changes by τ·|d| with d in units of Ms).
        step_min, step_max: clamp on the BB step, guarding against s·y ≈ 0.
        field: "terms" (the sum of the closed-form term fields, ``energy.reduced_field``; the reference
            protocol of every dataset so far) or "spectral" (exchange, DMI and demag in one FFT pair,
            ``spectral``; the same field to float32 rounding, ~10 % cheaper per step at 512²).
    """

    step0: float = eqx.field(static=True, default=1e-2)
    step_min: float = eqx.field(static=True, default=1e-5)
    step_max: float = eqx.field(static=True, default=1e3)
    field: str = eqx.field(static=True, default="terms")

    def init(self, m0, material, grid, terms):
        return _bb_init(m0, material, grid, terms, self)

    def advance(self, state, material, grid, tol, max_steps, terms):
        def cond(s):
            return (s.max_torque >= tol) & (s.steps < max_steps)

        return jax.lax.while_loop(cond, lambda s: bb_step(s, material, grid, terms, self), state)

    def step(self, state, material, grid, terms):
        return bb_step(state, material, grid, terms, self)


class PBB(AbstractMinimiser):
    """Barzilai–Borwein descent that turns Fourier-preconditioned once the domain pattern is frozen.

    Two phases with the same stopping rule as ``BB`` (max |m × H|/Ms < tol):

    1. ``BB`` steps (with the same ``field``), bit for bit, until the largest torque first falls
       below ``switch``. In this phase the maze forms and its topology (the sign pattern of m_z) pins; its path is
       today's reference protocol.
    2. Preconditioned projected descent for the slow tail: the tangent descent direction
       d = h − (m·h) m is smoothed in k-space, p̂(k) = d̂(k)/(1 + ℓ² k̃²), with
       k̃² = (4/dx²)[sin²(k_x dx/2) + sin²(k_y dx/2)] the symbol of the 5-point Laplacian (``rfft2``
       over the 3 components), and re-projected on the tangent plane, p ← p − (m·p) m. The update is
       m ← normalise(m + τ p) with Barzilai–Borwein steps on the preconditioned directions,
       τ₁ = (s·s)/(s·y) and τ₂ = (s·y)/(y·y), s the change of m and y = −(change of p).

    P(k) = 1 + ℓ²k² is the symbol of (1 − ℓ²∇²), the operator of the exchange stiffness relative to a
    local (anisotropy) stiffness: long-wavelength modes, which steepest descent relaxes slowest, are
    left at full step while short-wavelength ones are damped, so the BB step can grow. Preconditioning
    from the first step lets the maze coarsen further before it pins
    (measured 1 Dec 2026 at 512²: wall density −5 % at ℓ = 8 nm, −20 % at 16 nm), hence the switch.
    Its level: BB reaches a torque of 0.5 after ~200 steps on co-pt, ~500 on low-ms, and 0.1 after
    ~300 and 2,100–3,600; the steps between 0.5 and 0.1 are coarsening that the preconditioned
    steps do faster and, measured seed by seed, into the same states (low-ms seeds 100, 102, 103:
    wall density equal to 3 digits for switch 0.5, 0.3 and 0.1; switch 1.0 turned one of them
    uniform).
    Measured at 512² cells, tol 1e-3 (``benchmarks/relax.py``, one CPU core, docs/performance.md): with
    the defaults (ℓ from the wall width, the spectral field) the relaxed states match BB's in
    distribution (wall density, period, |⟨m_z⟩|; 16 seeds each, p ≥ 0.71); switching at 0.5, co-pt
    3.03× and low-ms 3.16× fewer steps than BB, low-ms 2.69× less time (a phase-2 step costs ≈ 1.7
    phase-1 steps: one more rfft2/irfft2 pair).

    References: J. Barzilai, J. M. Borwein, IMA J. Numer. Anal. 8, 141 (1988); L. Exl et al.,
    J. Appl. Phys. 115, 17D118 (2014) (projected BB for micromagnetics, mumax3's ``Minimize``);
    M. Raydan, SIAM J. Optim. 7, 26 (1997) and F. Luengo, M. Raydan, SIAM J. Optim. 13, 1105 (2003)
    (preconditioned spectral gradient); Sobolev-gradient flows: J. W. Neuberger, *Sobolev Gradients
    and Differential Equations* (Springer 2010).

    The smoothing length follows the material: by default ℓ = ``wall_widths`` × Δ with Δ = √(A/K_eff)
    the wall-width parameter (K_eff = Ku − μ0Ms²/2, taken at least 0.1 Ku), since Δ is the length at
    which exchange and the local stiffness balance: co-pt (Δ = 12.9 nm) gets ℓ = 16.1 nm, low-ms at
    450 kA/m (Δ = 6.1 nm) 7.6 nm. Measured on low-ms at 512² (8 seeds): ℓ = 16 nm 4,773 median steps,
    8 nm 4,158, 5 nm ~4,400 (3 Dec 2026).

    Attributes:
        length: a fixed smoothing length ℓ [m] of the preconditioner (0 gives plain BB in phase 2 too);
            None (default): ``wall_widths`` × √(A/K_eff) of the material being relaxed.
        wall_widths: ℓ in units of Δ when ``length`` is None.
        switch: torque level (max |m × H|/Ms, dimensionless) below which phase 2 starts.
        step0, step_min, step_max: as in ``BB`` (the BB step carries over at the switch).
        field: as in ``BB``; "spectral" by default (both phases).
    """

    length: float | None = eqx.field(static=True, default=None)
    wall_widths: float = eqx.field(static=True, default=1.25)
    switch: float = eqx.field(static=True, default=0.5)
    step0: float = eqx.field(static=True, default=1e-2)
    step_min: float = eqx.field(static=True, default=1e-5)
    step_max: float = eqx.field(static=True, default=1e3)
    field: str = eqx.field(static=True, default="spectral")

    def init(self, m0, material, grid, terms):
        state = _bb_init(m0, material, grid, terms, self)
        return _enter_tail(PBBState(state.m, state.d, state.d, state.step_size, state.max_torque, state.steps,
                                    state.max_torque < self.switch), material, grid, self)

    def advance(self, state, material, grid, tol, max_steps, terms):
        return _pbb_advance(state, material, grid, tol, max_steps, terms, self)

    def step(self, state, material, grid, terms):
        def plain(s):
            return _enter_tail(_pbb_plain_step(s, material, grid, terms, self), material, grid, self)

        return jax.lax.cond(state.switched, lambda s: pbb_step(s, material, grid, terms, self), plain, state)


class PBBState(eqx.Module):
    """Loop state of ``PBB``: as ``RelaxState`` plus the preconditioned direction and the phase."""

    m: Magnetisation
    d: Magnetisation
    p: Magnetisation
    step_size: Scalar
    max_torque: Scalar
    steps: Int[Array, ""]
    switched: Bool[Array, ""]


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


def _field(minimiser):
    """The reduced-field function of ``minimiser.field``: "terms" (sum of the term fields) or "spectral"."""
    if minimiser.field == "spectral":
        return spectral_reduced_field
    if minimiser.field != "terms":
        raise DomainfitError(f"field {minimiser.field!r}: use 'terms' or 'spectral'")
    return reduced_field


def _descent(m, h):
    d = h - vec.dot(m, h)[None] * m
    return d, jnp.sqrt(jnp.max(vec.dot(d, d)))


Minimiser = AbstractMinimiser
"""The minimisers ``relax`` accepts (``minimiser=``): ``BB``, ``PBB``, or any ``AbstractMinimiser``."""


def _bb_init(m0: Magnetisation, material: Material, grid: Grid, terms, minimiser) -> RelaxState:
    m = vec.normalise(m0)
    d, torque = _descent(m, _field(minimiser)(m, material, grid, terms))
    return RelaxState(m, d, jnp.asarray(minimiser.step0, m.dtype), torque, jnp.asarray(0))


def init_state(m0: Magnetisation, material: Material, grid: Grid, terms, minimiser: Minimiser) -> RelaxState | PBBState:
    """Normalise ``m0`` and evaluate field and torque there (the loop state of ``minimiser``)."""
    return minimiser.init(m0, material, grid, terms)


def _bb_step_size(s, y, tau, steps, minimiser: Minimiser):
    """Next Barzilai–Borwein step from the change s of m and y = −(change of the direction): τ₁ = (s·s)/(s·y)
    on even steps, τ₂ = (s·y)/(y·y) on odd ones."""
    sy, ss, yy = jnp.sum(s * y), jnp.sum(s * s), jnp.sum(y * y)
    tau_bb = jnp.where(steps % 2 == 0, ss / sy, sy / yy)
    # s·y ≤ 0 means negative curvature along the step (leaving a saddle): BB has no answer there,
    # and a growing step leaves the saddle fastest; a quadratic bowl always has s·y > 0.
    ok = jnp.isfinite(tau_bb) & (sy > 0)
    tau_new = jnp.clip(jnp.where(ok, tau_bb, 2.0 * tau), minimiser.step_min, minimiser.step_max)
    return tau_new.astype(tau.dtype)


def bb_step(state: RelaxState, material: Material, grid: Grid, terms, minimiser: BB) -> RelaxState:
    """One projected steepest-descent step followed by the next Barzilai–Borwein step size."""
    tau = state.step_size
    m_new = vec.normalise(state.m + tau * state.d)
    d_new, torque = _descent(m_new, _field(minimiser)(m_new, material, grid, terms))
    tau_new = _bb_step_size(m_new - state.m, state.d - d_new, tau, state.steps, minimiser)
    return RelaxState(m_new, d_new, tau_new, torque, state.steps + 1)


def smoothing_length(material: Material, minimiser: PBB):
    """The preconditioner's ℓ [m]: ``minimiser.length``, or ``wall_widths`` × √(A/K_eff) (traced)."""
    if minimiser.length is not None:
        return minimiser.length
    k_eff = jnp.maximum(material.K_eff, 0.1 * material.Ku)
    return minimiser.wall_widths * jnp.sqrt(material.A / k_eff)


def _precondition(m: Magnetisation, d: Magnetisation, grid: Grid, length) -> Magnetisation:
    """The descent direction ``d`` smoothed by 1/(1 + ℓ²k̃²) and projected back on the tangent plane of ``m``."""
    if not (isinstance(length, (int, float)) and length <= 0):  # a fixed ℓ of 0: plain BB directions
        kernel = 1.0 / (1.0 + (jnp.asarray(length, d.dtype) ** 2) * jnp.asarray(laplacian_symbol(grid), d.dtype))
        d = jnp.fft.irfft2(kernel * jnp.fft.rfft2(d), s=grid.shape)
    return d - vec.dot(m, d)[None] * m


def _pbb_plain_step(state: PBBState, material, grid, terms, minimiser: PBB) -> PBBState:
    """Phase 1 of ``PBB``: exactly ``bb_step``; marks the switch once the torque falls below ``switch``."""
    new = bb_step(RelaxState(state.m, state.d, state.step_size, state.max_torque, state.steps), material, grid, terms, minimiser)
    return PBBState(new.m, new.d, new.d, new.step_size, new.max_torque, new.steps, new.max_torque < minimiser.switch)


def pbb_step(state: PBBState, material: Material, grid: Grid, terms, minimiser: PBB) -> PBBState:
    """Phase 2 of ``PBB``: one step along the preconditioned direction, then the next BB step size."""
    tau = state.step_size
    m_new = vec.normalise(state.m + tau * state.p)
    d_new, torque = _descent(m_new, _field(minimiser)(m_new, material, grid, terms))
    p_new = _precondition(m_new, d_new, grid, smoothing_length(material, minimiser))
    tau_new = _bb_step_size(m_new - state.m, state.p - p_new, tau, state.steps, minimiser)
    return PBBState(m_new, d_new, p_new, tau_new, torque, state.steps + 1, state.switched)


def _enter_tail(state: PBBState, material, grid, minimiser: PBB) -> PBBState:
    """Once switched, the direction of the next step is the preconditioned one."""
    p = jnp.where(state.switched, _precondition(state.m, state.d, grid, smoothing_length(material, minimiser)), state.p)
    return eqx.tree_at(lambda t: t.p, state, p)


def _pbb_advance(state: PBBState, material, grid, tol, max_steps, terms, minimiser: PBB) -> PBBState:
    # Two loops rather than one with a branch: under vmap a branch runs both sides, and phase 1
    # would pay for the preconditioner's FFTs at every step.
    def plain(s):
        return (~s.switched) & (s.max_torque >= tol) & (s.steps < max_steps)

    state = jax.lax.while_loop(plain, lambda s: _pbb_plain_step(s, material, grid, terms, minimiser), state)
    state = _enter_tail(state, material, grid, minimiser)  # or resuming it: then this recomputes the stored p exactly

    def tail(s):
        return s.switched & (s.max_torque >= tol) & (s.steps < max_steps)

    return jax.lax.while_loop(tail, lambda s: pbb_step(s, material, grid, terms, minimiser), state)


@partial(jax.jit, static_argnames=("grid", "terms", "minimiser"))
def advance(
    state: RelaxState,
    material: Material,
    grid: Grid,
    tol: Float[Array, ""] | float,
    max_steps: Int[Array, ""] | int,
    *,
    terms: tuple[str, ...] = ALL_TERMS,
    minimiser: Minimiser = BB(),
) -> RelaxState | PBBState:
    """Run minimiser steps from ``state`` until torque < ``tol`` or ``state.steps`` reaches ``max_steps``."""
    return minimiser.advance(state, material, grid, tol, max_steps, terms)


def _finish(state: RelaxState | PBBState, material, grid, terms, tol, implicit: bool) -> Relaxed:
    m = jax.lax.stop_gradient(state.m)
    if implicit:
        m = implicit_minimum(m, material, grid, terms, PBB())  # polished by PBB's preconditioned tail
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
    minimiser: Minimiser = BB(),
    implicit: bool = True,
    progress: bool = False,
) -> Relaxed:
    """Relax ``m0`` to a local energy minimum of ``material`` on ``grid``.

    Args:
        m0: initial magnetisation (3, ny, nx); normalised on entry.
        tol: stop when max |m × H|/Ms < tol (dimensionless; 1e-4 of Ms = 1.5 MA/m is 0.19 mT).
        max_steps: give up after this many steps (``converged`` is then False).
        terms: energy terms to include (names of ``energy.TERMS``).
        minimiser: ``BB()`` (default) or ``PBB(...)``, the same stopping rule either way.
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
    minimiser: Minimiser = BB(),
) -> Magnetisation:
    """Exactly ``n_steps`` minimiser steps as a ``lax.scan``, differentiable by unrolling.

    The reference for the implicit derivatives: forward or reverse mode through every step. Step
    sizes are treated as constants (``stop_gradient``), as the fixed point does not depend on them.
    """
    terms = check_terms(terms)
    state = init_state(m0, material, grid, terms, minimiser)

    def body(s, _):
        new = minimiser.step(s, material, grid, terms)
        return eqx.tree_at(lambda t: t.step_size, new, jax.lax.stop_gradient(new.step_size)), None

    state, _ = jax.lax.scan(body, state, None, length=n_steps)
    return state.m
