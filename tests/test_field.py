"""The effective field is minus the energy gradient: checked by finite differences and a closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.physics import ALL_TERMS, Grid, effective_field, make_material, random_state, total_energy
from domainfit.physics.simulate import with_disorder
from domainfit.units import MU0

GRID = Grid(nx=32, ny=40, cell_size=4e-9, thickness=4e-9)


def random_material(dmi="interfacial"):
    mat = make_material("co-pt", dtype=jnp.float64, D=1.2e-3, sigma=0.15, H_ext=(2e4, -1e4, 5e4), dmi=dmi)
    return with_disorder(mat, GRID, key=jax.random.key(4))


@pytest.mark.parametrize("terms", [ALL_TERMS] + [(t,) for t in ALL_TERMS])
@pytest.mark.parametrize("dmi", ["interfacial", "bulk"])
def test_field_matches_finite_difference_of_energy(x64, terms, dmi):
    """−μ0 Ms V H·δ = [E(m + εδ) − E(m − εδ)]/2ε for random perturbations δ (m unconstrained here)."""
    mat = random_material(dmi)
    m = random_state(GRID, key=jax.random.key(0), dtype=jnp.float64)
    h = effective_field(m, mat, GRID, terms)
    rng = np.random.default_rng(2)
    for _ in range(3):
        delta = jnp.asarray(rng.normal(size=m.shape))
        eps = 1e-6
        fd = (total_energy(m + eps * delta, mat, GRID, terms) - total_energy(m - eps * delta, mat, GRID, terms)) / (2 * eps)
        predicted = -MU0 * mat.Ms * GRID.cell_volume * jnp.sum(h * delta)
        np.testing.assert_allclose(predicted, fd, rtol=1e-6, atol=1e-9 * abs(float(fd)) + 1e-40)


def test_exchange_field_is_laplacian(x64):
    """Closed form: H_ex = (2A/(μ0 Ms)) ∇²m with the periodic 5-point Laplacian."""
    mat = random_material()
    m = random_state(GRID, key=jax.random.key(1), dtype=jnp.float64)
    lap = sum(jnp.roll(m, s, axis=a) for s in (1, -1) for a in (-1, -2)) - 4 * m
    expected = 2 * mat.A / (MU0 * mat.Ms) * lap / GRID.cell_size**2
    np.testing.assert_allclose(effective_field(m, mat, GRID, ("exchange",)), expected, rtol=1e-10, atol=1e-6)


def test_demag_field_of_uniform_perpendicular_state(x64):
    mat = random_material()
    m = jnp.zeros((3,) + GRID.shape).at[2].set(1.0)
    h = effective_field(m, mat, GRID, ("demag",))
    np.testing.assert_allclose(h[2], -mat.Ms, rtol=1e-12)
    np.testing.assert_allclose(h[:2], 0.0, atol=1e-6)


def test_zeeman_and_anisotropy_fields(x64):
    mat = random_material()
    m = random_state(GRID, key=jax.random.key(3), dtype=jnp.float64)
    np.testing.assert_allclose(
        effective_field(m, mat, GRID, ("zeeman",)), jnp.broadcast_to(mat.H_ext[:, None, None], m.shape), rtol=1e-12
    )
    h = effective_field(m, mat, GRID, ("anisotropy",))
    np.testing.assert_allclose(h[2], 2 * mat.Ku_map() * m[2] / (MU0 * mat.Ms), rtol=1e-10)


@pytest.mark.parametrize("shape", [(32, 40), (33, 27)])
@pytest.mark.parametrize("dmi", ["interfacial", "bulk"])
def test_closed_form_fields_match_autodiff(x64, shape, dmi):
    """The minimiser's fast path (closed-form term fields) equals −∂E/∂m/(μ0 Ms V) from jax.grad."""
    from domainfit.physics.energy import FIELDS, reduced_field

    grid = Grid(nx=shape[0], ny=shape[1], cell_size=4e-9, thickness=3e-9)
    mat = make_material("co-pt", dtype=jnp.float64, H_ext=(1e4, 2e4, 3e4), dmi=dmi, sigma=0.2)
    mat = with_disorder(mat, grid, key=jax.random.key(1))
    m = random_state(grid, key=jax.random.key(0), dtype=jnp.float64)
    for name, closed_form in FIELDS.items():
        auto = effective_field(m, mat, grid, (name,))
        np.testing.assert_allclose(closed_form(m, mat, grid), auto, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(auto))), err_msg=name)
    np.testing.assert_allclose(reduced_field(m, mat, grid) * mat.Ms, effective_field(m, mat, grid), rtol=1e-9, atol=1e-3)


@pytest.mark.parametrize("terms", [ALL_TERMS, ("exchange",), ("dmi",), ("demag",), ("anisotropy", "zeeman"), ("exchange", "dmi")])
@pytest.mark.parametrize("dmi", ["interfacial", "bulk"])
@pytest.mark.parametrize("shape", [(32, 40), (33, 27)])
def test_spectral_field_equals_the_term_fields(x64, terms, dmi, shape):
    """The k-space fast path (one FFT pair for exchange, DMI and demag) is the sum of the real-space
    term fields: the stencils' symbols are exact, so the two agree to float64 rounding, odd sizes too."""
    from domainfit.physics.energy import reduced_field
    from domainfit.physics.spectral import spectral_reduced_field

    grid = Grid(nx=shape[0], ny=shape[1], cell_size=4e-9, thickness=3e-9)
    mat = make_material("co-pt", dtype=jnp.float64, H_ext=(1e4, 2e4, 3e4), dmi=dmi, sigma=0.2, D=1.3e-3)
    mat = with_disorder(mat, grid, key=jax.random.key(1))
    m = random_state(grid, key=jax.random.key(0), dtype=jnp.float64)
    expected = reduced_field(m, mat, grid, terms)
    got = spectral_reduced_field(m, mat, grid, terms)
    assert got.shape == m.shape and got.dtype == m.dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * float(jnp.max(jnp.abs(expected))))


def test_spectral_field_in_float32_is_rounding_close():
    from domainfit.physics.energy import reduced_field
    from domainfit.physics.spectral import spectral_reduced_field

    grid = Grid(nx=64, ny=64, cell_size=4e-9, thickness=4e-9)
    mat = with_disorder(make_material("co-pt", D=0.8e-3), grid, key=jax.random.key(2))
    m = random_state(grid, key=jax.random.key(3))
    got, expected = spectral_reduced_field(m, mat, grid, ALL_TERMS), reduced_field(m, mat, grid)
    assert got.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(got - expected))) < 1e-6 * float(jnp.max(jnp.abs(expected)))
