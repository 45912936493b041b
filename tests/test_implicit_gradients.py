"""Derivatives of relaxed states: implicit differentiation against unrolling and finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.physics import Grid, make_material, random_state, relax, relax_unrolled
from domainfit.physics.simulate import with_disorder

GRID = Grid(nx=48, ny=48, cell_size=4e-9, thickness=4e-9)


def statistic(m):
    """A smooth statistic of the pattern: ⟨m_z²⟩ (falls with wall density) plus ⟨m_z⟩."""
    return jnp.mean(m[2] ** 2) + jnp.mean(m[2])


@pytest.fixture(scope="module")
def problem():
    with jax.enable_x64(True):
        mat = make_material("co-pt", dtype=jnp.float64, D=1.5e-3, sigma=0.1)
        mat = with_disorder(mat, GRID, key=jax.random.key(3))
        m_star = relax(random_state(GRID, key=jax.random.key(0), dtype=jnp.float64), mat, GRID, tol=1e-9, max_steps=50_000)
        assert bool(m_star.converged)
        yield mat, m_star.m


def with_params(mat, D, sigma):
    return eqx.tree_at(lambda t: (t.D, t.sigma), mat, (D, sigma))


def test_implicit_matches_unrolled_and_finite_differences(x64, problem):
    mat, m_star = problem

    def relaxed_statistic(D, sigma):
        # Warm start from the relaxed state: the finite differences then stay in the same minimum.
        return statistic(relax(m_star, with_params(mat, D, sigma), GRID, tol=1e-10, max_steps=50_000).m)

    implicit = jax.grad(relaxed_statistic, argnums=(0, 1))(mat.D, mat.sigma)

    def unrolled(D, sigma):
        return statistic(relax_unrolled(m_star, with_params(mat, D, sigma), GRID, 1500))

    unrolled_D = jax.jvp(lambda D: unrolled(D, mat.sigma), (mat.D,), (jnp.ones_like(mat.D),))[1]
    unrolled_s = jax.jvp(lambda s: unrolled(mat.D, s), (mat.sigma,), (jnp.ones_like(mat.sigma),))[1]

    hD, hs = 1e-3 * float(mat.D), 1e-3
    fd_D = (relaxed_statistic(mat.D + hD, mat.sigma) - relaxed_statistic(mat.D - hD, mat.sigma)) / (2 * hD)
    fd_s = (relaxed_statistic(mat.D, mat.sigma + hs) - relaxed_statistic(mat.D, mat.sigma - hs)) / (2 * hs)

    assert abs(float(fd_D)) > 1.0 and abs(float(fd_s)) > 1e-3  # the statistic does depend on both
    np.testing.assert_allclose(implicit[0], fd_D, rtol=0.05)
    np.testing.assert_allclose(implicit[1], fd_s, rtol=0.05)
    np.testing.assert_allclose(implicit[0], unrolled_D, rtol=0.05)
    np.testing.assert_allclose(implicit[1], unrolled_s, rtol=0.05)


def test_gradient_with_respect_to_Ms_Ku_A(x64, problem):
    """Every material leaf gets an implicit derivative; checked by finite differences."""
    mat, m_star = problem

    def relaxed_statistic(mat_):
        return statistic(relax(m_star, mat_, GRID, tol=1e-10, max_steps=50_000).m)

    grads = jax.grad(relaxed_statistic)(mat)
    for name, rel_step in (("Ms", 1e-4), ("Ku", 1e-4), ("A", 1e-3)):
        value = getattr(mat, name)
        h = rel_step * float(value)
        plus = relaxed_statistic(eqx.tree_at(lambda t: getattr(t, name), mat, value + h))
        minus = relaxed_statistic(eqx.tree_at(lambda t: getattr(t, name), mat, value - h))
        np.testing.assert_allclose(getattr(grads, name), (plus - minus) / (2 * h), rtol=0.05, err_msg=name)


def test_energy_gradient_is_envelope_theorem(x64, problem):
    """dE*/dθ at a minimum equals ∂E/∂θ at fixed m: checked against finite differences of E*."""
    mat, m_star = problem

    def relaxed_energy(D):
        return relax(m_star, with_params(mat, D, mat.sigma), GRID, tol=1e-10, max_steps=50_000).energy

    h = 1e-3 * float(mat.D)
    fd = (relaxed_energy(mat.D + h) - relaxed_energy(mat.D - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(relaxed_energy)(mat.D), fd, rtol=1e-4)


def test_a_failed_solve_raises_instead_of_returning_nan(x64, problem, monkeypatch):
    # CG on the tangent Hessian gave up silently (throw=False): the README's own jax.grad example printed
    # nan at 128² and 256². A solve that does not converge now stops with an error in words.
    import domainfit.physics.implicit as implicit

    mat, m_star = problem

    def relaxed_statistic(D):
        return statistic(relax(m_star, with_params(mat, D, mat.sigma), GRID, tol=1e-10, max_steps=50_000).m)

    monkeypatch.setattr(implicit, "CG_MAX_STEPS", 3)  # and no polish: a few steps leave a large residual
    with pytest.raises(Exception, match="implicit derivative of the relaxed state failed"):
        jax.block_until_ready(jax.grad(relaxed_statistic)(mat.D))
    monkeypatch.undo()
    assert np.isfinite(float(jax.grad(relaxed_statistic)(mat.D)))  # the same call converges with the default

