"""Implicit differentiation of a relaxed state with respect to the material parameters.

At a minimum m*(θ) of E(m, θ) on the sphere bundle |m_i| = 1, write nearby states in tangent
coordinates, m(u) = normalise(m* + u₁ e₁ + u₂ e₂) with (e₁, e₂) an orthonormal basis of the tangent
plane of each cell. Then g(u, θ) = ∇_u E(m(u), θ) vanishes at u = 0 for every θ, and the implicit
function theorem gives du/dθ = −H⁻¹ ∂g/∂θ with H = ∂g/∂u the tangent-space Hessian (it includes the
curvature term of the constraint automatically, since E(m(u)) is differentiated as a whole).
For a reverse-mode cotangent m̄ we solve H λ = ū (ū_a = m̄ · e_a, as ∂m/∂u_a = e_a at u = 0) by
conjugate gradients on Hessian-vector products, and return θ̄ = −∂/∂θ [g(0, θ) · λ].

The energy is scaled by the constant μ0 Ms² V (held fixed) so the Hessian is O(1) in float32.
Zero modes (free translation of walls in a film without disorder) leave H singular; a cotangent
of a translation-invariant statistic has no component along them and CG still converges. A solve
that does not converge raises (``SOLVE_FAILED``) instead of returning a silent ``nan`` or garbage.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from .._types import Magnetisation
from ..units import MU0
from .energy import total_energy
from .grid import Grid
from .material import Material
from . import vec

CG_RTOL = 1e-6
CG_MAX_STEPS = 5_000
SOLVE_FAILED = (
    "the implicit derivative of the relaxed state failed: conjugate gradients on the tangent Hessian did not "
    "converge to rtol {rtol:g} in {steps} steps (soft or negative modes: relax to a tighter tolerance, in "
    "float64, or differentiate a statistic that does not move the walls along free directions)"
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


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def implicit_minimum(m_star: Magnetisation, material: Material, grid: Grid, terms: tuple[str, ...]) -> Magnetisation:
    """Identity on a relaxed state ``m_star`` whose reverse-mode derivative w.r.t. ``material`` is implicit.

    ``m_star`` must be a (converged) minimum of ``material`` on ``grid``; gradients are as accurate as
    the minimum is (tolerance) and the CG solve (relative tolerance ``CG_RTOL``).
    """
    return m_star


def _fwd(m_star, material, grid, terms):
    return m_star, (m_star, material)


def _bwd(grid, terms, residuals, m_bar):
    m_star, material = residuals
    basis = tangent_basis(m_star)
    scale = jax.lax.stop_gradient(MU0 * material.Ms**2 * grid.cell_volume)
    u0 = jnp.zeros((2,) + m_star.shape[1:], m_star.dtype)
    u_bar = jnp.stack([vec.dot(m_bar, basis[0]), vec.dot(m_bar, basis[1])])

    def grad_u(u):
        return _tangent_gradient(u, m_star, basis, material, grid, terms, scale)

    def hvp(v):
        return jax.jvp(grad_u, (u0,), (v,))[1]

    operator = lx.FunctionLinearOperator(hvp, jax.eval_shape(lambda: u0), tags=lx.positive_semidefinite_tag)
    solver = lx.CG(rtol=CG_RTOL, atol=CG_RTOL * 1e-3, max_steps=CG_MAX_STEPS)
    solution = lx.linear_solve(operator, u_bar, solver, throw=False)
    # Never silent: a solve that did not converge (soft or negative modes of an unconverged or
    # float32 maze, a cotangent along a zero mode) stops the derivative with an error in words.
    failed = solution.result != lx.RESULTS.successful
    lam = eqx.error_if(solution.value, failed, SOLVE_FAILED.format(rtol=CG_RTOL, steps=CG_MAX_STEPS))

    def g_dot_lambda(mat):
        return jnp.sum(_tangent_gradient(u0, m_star, basis, mat, grid, terms, scale) * lam)

    material_bar = jax.grad(g_dot_lambda)(material)
    material_bar = jax.tree_util.tree_map(lambda x: -x, material_bar)
    return jnp.zeros_like(m_star), material_bar


implicit_minimum.defvjp(_fwd, _bwd)
