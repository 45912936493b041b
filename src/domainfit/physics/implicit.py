"""Implicit differentiation of a relaxed state with respect to the material parameters.

At a minimum m*(θ) of E(m, θ) on the sphere bundle |m_i| = 1, write nearby states in tangent
coordinates, m(u) = normalise(m* + u₁ e₁ + u₂ e₂) with (e₁, e₂) an orthonormal basis of the tangent
plane of each cell. Then g(u, θ) = ∇_u E(m(u), θ) vanishes at u = 0 for every θ, and the implicit
function theorem gives du/dθ = −H⁻¹ ∂g/∂θ with H = ∂g/∂u the tangent-space Hessian (it includes the
curvature term of the constraint automatically, since E(m(u)) is differentiated as a whole).
For a reverse-mode cotangent m̄ we solve H λ = ū (ū_a = m̄ · e_a, as ∂m/∂u_a = e_a at u = 0) by
conjugate gradients on Hessian-vector products, and return θ̄ = −∂/∂θ [g(0, θ) · λ].

The energy is scaled by the constant μ0 Ms² V (held fixed) so the Hessian is O(1) in float32,
and the cotangent by its largest entry (a statistic in SI units, a period of 1e-7 m, has
cotangents of 1e-15 whose squares a CPU flushes to zero: the solve then returned ``nan``).

Three things make the derivative hold on the float32 mazes users relax (tol 1e-3; checked at 64²–256²):

* **Polish.** A state relaxed to a torque of 1e-3 is not yet at the minimum whose curvature H
  describes: its Hessian has slightly negative modes, and a statistic's cotangent taken there
  (at walls that are still moving) is not the one at the minimum. Under differentiation the forward
  pass therefore relaxes the state further from where it stopped (``relax.PBB``'s preconditioned tail) to
  ``POLISH_TOL`` (1e-6 of Ms, reached in float32 too; a few thousand steps), at the same material,
  and returns that state: the value of a statistic under ``jax.grad`` is that of the polished
  state, within the relaxation's tolerance of the plain call's.
* **Conjugate gradients with a residual that means something**: stop when ‖Hλ − ū‖₂ ≤ ``CG_RTOL``
  ‖ū‖₂ (lineax's CG asks it of every entry, which a cotangent that vanishes inside the domains never
  meets: it ran to its step limit and gave up), and stop at negative curvature pᵀHp ≤ 0.
* **Never silent**: the true residual is computed again after the solve; above ``ACCEPT`` × the
  tolerance, or at negative curvature, the derivative raises (``SOLVE_FAILED``) instead of
  returning ``nan`` or garbage.

Zero modes (free translation of walls in a film without disorder) leave H singular; a cotangent
of a translation-invariant statistic has no component along them and CG still converges.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Magnetisation
from ..units import MU0
from .energy import total_energy
from .grid import Grid
from .material import Material
from .minimiser import AbstractMinimiser, run
from . import vec

CG_RTOL = {"float32": 1e-5, "float64": 1e-9}
"""Relative 2-norm residual ‖Hλ − ū‖/‖ū‖ at which CG stops, by precision (float32 stalls near 1e-6)."""
ACCEPT = 10.0
"""A solve whose true residual is above ACCEPT × CG_RTOL raises."""
CG_MAX_STEPS = 20_000
REFINE = 2
"""Rounds of iterative refinement after the first CG solve (``conjugate_gradients``)."""
POLISH_TOL = {"float32": 1e-6, "float64": 1e-9}
"""Torque |m × H|/Ms to which a state is relaxed further before its Hessian is used."""
POLISH_MAX_STEPS = 50_000
SOLVE_FAILED = (
    "the implicit derivative of the relaxed state failed: conjugate gradients on the tangent Hessian reached a "
    "relative residual above the tolerance or met negative curvature (a state that is not a minimum: relax it "
    "further, or in float64; docs/physics.md, 'Implicit gradients')"
)
"""Message of the error a failed solve raises (docs/physics.md, "Implicit gradients")."""


def tangent_basis(m: Magnetisation) -> tuple[Magnetisation, Magnetisation]:
    """Orthonormal tangent vectors (e₁, e₂) per cell, e₁ ⟂ m, e₂ = m × e₁."""
    use_x = jnp.abs(m[0]) < 0.6
    ref = jnp.stack([use_x, ~use_x, jnp.zeros_like(use_x)]).astype(m.dtype)
    e1 = vec.normalise(ref - vec.dot(ref, m)[None] * m)
    e2 = vec.cross(m, e1)
    return e1, e2


def _tangent_gradient(u, m_star, basis, material, grid, terms, scale):
    def energy_u(u_):
        m = vec.normalise(m_star + u_[0] * basis[0] + u_[1] * basis[1])
        return total_energy(m, material, grid, terms) / scale

    return jax.grad(energy_u)(u)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def implicit_minimum(m_star: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...],
                     minimiser: AbstractMinimiser) -> Magnetisation:
    """Identity on a relaxed state ``m_star`` whose reverse-mode derivative w.r.t. ``material`` is implicit.

    ``m_star`` must be a (converged) minimum of ``material`` on ``grid``. Under differentiation it is
    first relaxed further to ``POLISH_TOL`` by ``minimiser`` (and that state returned); gradients are then as accurate
    as the CG solve (relative residual ``CG_RTOL``).
    """
    return m_star


def _fwd(m_star, material, grid, terms, minimiser):
    # Under differentiation the state is polished first, so that the statistic's cotangent and the
    # Hessian are taken at the same, true minimum (module docstring).
    m_star = polish(m_star, material, grid, terms, minimiser)
    return m_star, (m_star, material)


def _cg(hvp, b, rtol: float, max_steps: int):
    b_norm = jnp.sqrt(jnp.sum(b * b))

    def cond(c):
        x, r, p, rr, k, negative = c
        return (jnp.sqrt(rr) > rtol * b_norm) & (k < max_steps) & ~negative

    def body(c):
        x, r, p, rr, k, negative = c
        hp = hvp(p)
        php = jnp.sum(p * hp)
        negative = php <= 0
        alpha = jnp.where(negative, 0.0, rr / jnp.where(negative, 1.0, php))
        x, r = x + alpha * p, r - alpha * hp
        rr_new = jnp.sum(r * r)
        p = r + (rr_new / rr) * p
        return x, r, p, rr_new, k + 1, negative

    init = (jnp.zeros_like(b), b, b, b_norm**2, jnp.asarray(0), jnp.asarray(False))
    x, _, _, _, steps, negative = jax.lax.while_loop(cond, body, init)
    return x, negative, steps


def conjugate_gradients(hvp, b, rtol: float, max_steps: int, refine: int = REFINE):
    """Solve H x = b for a symmetric H given as ``hvp``: CG stopped at ‖r‖₂ ≤ rtol ‖b‖₂, after
    ``max_steps``, or at negative curvature pᵀHp ≤ 0; then ``refine`` rounds of iterative
    refinement (CG again on the true residual b − Hx: float32 CG's recursive residual drifts from
    the true one by ~ε‖H‖‖x‖). Returns (x, true relative residual ‖Hx − b‖/‖b‖, whether negative
    curvature was met, CG steps in all)."""
    b_norm = jnp.sqrt(jnp.sum(b * b))
    x, negative, steps = _cg(hvp, b, rtol, max_steps)
    for _ in range(refine):
        dx, neg, k = _cg(hvp, b - hvp(x), rtol, max_steps)
        x, negative, steps = x + dx, negative | neg, steps + k
    true_residual = jnp.sqrt(jnp.sum((hvp(x) - b) ** 2)) / b_norm
    return x, true_residual, negative, steps


def polish(m_star: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...],
           minimiser: AbstractMinimiser) -> Magnetisation:
    """``m_star`` relaxed further to ``POLISH_TOL`` (module docstring) by ``minimiser`` (``relax`` passes
    ``PBB()``: a relaxed state is past its switch, so that is the preconditioned tail, 3–5× fewer steps
    than ``BB``)."""
    tol = POLISH_TOL["float64" if m_star.dtype == jnp.float64 else "float32"]
    state = minimiser.init(m_star, material, grid, terms)
    return run(state, material, grid, tol, POLISH_MAX_STEPS, terms=terms, minimiser=minimiser).m


def _bwd(grid, terms, minimiser, residuals, m_bar):
    m_star, material = residuals
    basis = tangent_basis(m_star)
    scale = jax.lax.stop_gradient(MU0 * material.Ms**2 * grid.cell_volume)
    u0 = jnp.zeros((2,) + m_star.shape[1:], m_star.dtype)
    u_bar = jnp.stack([vec.dot(m_bar, basis[0]), vec.dot(m_bar, basis[1])])
    # A cotangent of a statistic in SI units (a period in metres) is ~1e-15: scale it to O(1).
    size = jnp.max(jnp.abs(u_bar))
    size = jnp.where(size > 0, size, 1.0)

    def grad_u(u):
        return _tangent_gradient(u, m_star, basis, material, grid, terms, scale)

    def hvp(v):
        return jax.jvp(grad_u, (u0,), (v,))[1]

    rtol = CG_RTOL["float64" if m_star.dtype == jnp.float64 else "float32"]
    lam, residual, negative, _ = conjugate_gradients(hvp, u_bar / size, rtol, CG_MAX_STEPS)
    # Never silent: a solve that did not converge (soft or negative modes of a state that is not a
    # minimum, a cotangent along a zero mode) stops the derivative with an error in words.
    failed = negative | ~(residual <= ACCEPT * rtol)
    lam = eqx.error_if(lam * size, failed, SOLVE_FAILED)

    def g_dot_lambda(mat):
        return jnp.sum(_tangent_gradient(u0, m_star, basis, mat, grid, terms, scale) * lam)

    material_bar = jax.grad(g_dot_lambda)(material)
    material_bar = jax.tree_util.tree_map(lambda x: -x, material_bar)
    return jnp.zeros_like(m_star), material_bar


implicit_minimum.defvjp(_fwd, _bwd)
