"""Implicit derivatives of float32 mazes relaxed as users relax them (tol 1e-3), against finite differences.

Apart from test_implicit_gradients.py, whose module-scoped float64 fixture would run this in x64."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from domainfit.physics import Grid, make_material, random_state, relax
from domainfit.physics.simulate import with_disorder


def with_params(mat, D, sigma):
    return eqx.tree_at(lambda t: (t.D, t.sigma), mat, (D, sigma))


def test_float32_maze_relaxed_as_users_do_has_derivatives_that_match_finite_differences():
    # The README's case at a test size: a float32 maze relaxed to tol 1e-3, then jax.grad of the wall
    # density and of the period (a statistic in metres, whose cotangents of ~1e-15 underflowed: the solve
    # returned nan) with respect to D and σ. Before the polish, the 2-norm CG and the cotangent scaling
    # this raised (lineax CG never met its per-entry tolerance) or disagreed with finite differences by
    # 40 %. Finite differences: continuation from the polished state, relaxed to the float32 floor.
    from domainfit.features import statistics as stats

    grid = Grid(nx=64, ny=64, cell_size=4e-9, thickness=4e-9)
    mat = with_disorder(make_material("co-pt", D=1.0e-3, sigma=0.1), grid, key=jax.random.key(1))
    m_user = relax(random_state(grid, key=jax.random.key(0)), mat, grid, tol=1e-3, max_steps=20_000).m
    m_tight = relax(m_user, mat, grid, tol=1e-6, max_steps=50_000, implicit=False).m
    stats_ = {"wall density": lambda m: stats.wall_density_smooth(m[2], grid.cell_size),
              "period": lambda m: stats.domain_period_smooth(m[2], grid.cell_size)}  # fmt: skip

    def relaxed(D, sigma, fn, start, tol):
        return fn(relax(start, with_params(mat, D, sigma), grid, tol=tol, max_steps=50_000).m)

    for name, fn in stats_.items():
        implicit = jax.grad(relaxed, argnums=(0, 1))(mat.D, mat.sigma, fn, m_user, 1e-3)
        for k, h in ((0, 5e-6), (1, 5e-4)):  # small steps: at 2 % of D a wall can depin (a jump, not a slope)
            step = [jnp.zeros(()), jnp.zeros(())]
            step[k] = jnp.asarray(h, jnp.float32)
            plus = relaxed(mat.D + step[0], mat.sigma + step[1], fn, m_tight, 1e-6)
            minus = relaxed(mat.D - step[0], mat.sigma - step[1], fn, m_tight, 1e-6)
            fd = float(plus - minus) / (2 * h)
            assert np.isfinite(float(implicit[k])) and abs(fd) > 0, name
            np.testing.assert_allclose(float(implicit[k]), fd, rtol=0.1, err_msg=f"{name}, parameter {k}")
