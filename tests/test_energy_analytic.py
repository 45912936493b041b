"""Energies of every term on states whose energy is known in closed form."""

import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.physics import Grid, make_material, total_energy
from domainfit.physics import anisotropy, demag, dmi, exchange, zeeman
from domainfit.units import MU0

GRID = Grid(nx=64, ny=48, cell_size=3e-9, thickness=2e-9)
VOLUME = GRID.cell_volume * GRID.n_cells


def uniform(direction, grid=GRID):
    d = jnp.asarray(direction, dtype=jnp.float64)
    d = d / jnp.linalg.norm(d)
    return jnp.broadcast_to(d[:, None, None], (3, grid.ny, grid.nx))


def spiral(q, kind, grid=GRID):
    """Spin spiral along x with wave number q [rad/m]: Néel (x–z plane) or Bloch (y–z plane)."""
    x = jnp.arange(grid.nx) * grid.cell_size
    s = jnp.broadcast_to(jnp.sin(q * x)[None, :], (grid.ny, grid.nx))
    c = jnp.broadcast_to(jnp.cos(q * x)[None, :], (grid.ny, grid.nx))
    zero = jnp.zeros_like(s)
    return jnp.stack([s, zero, c]) if kind == "neel" else jnp.stack([zero, s, c])


def material(**kw):
    base = dict(Ms=8e5, A=1.5e-11, Ku=9e5, D=2e-3, sigma=0.0, H_ext=(1e4, -2e4, 3e4))
    base.update(kw)
    return make_material(None, dtype=jnp.float64, **base)


@pytest.mark.parametrize("direction", [(0, 0, 1), (0, 0, -1), (1, 0, 0), (1, 2, 2)])
def test_uniform_state_energies(x64, direction):
    mat = material()
    m = uniform(direction)
    mz = float(m[2, 0, 0])
    mhat = np.asarray(m[:, 0, 0])
    np.testing.assert_allclose(exchange.energy(m, mat, GRID), 0.0, atol=1e-30)
    np.testing.assert_allclose(dmi.energy(m, mat, GRID), 0.0, atol=1e-30)
    np.testing.assert_allclose(anisotropy.energy(m, mat, GRID), -9e5 * mz**2 * VOLUME, rtol=1e-12)
    # Thin-film demag of a uniform state: μ0 Ms² m_z²/2 per volume (in-plane part has no k = 0 field).
    np.testing.assert_allclose(demag.energy(m, mat, GRID), 0.5 * MU0 * 8e5**2 * mz**2 * VOLUME, rtol=1e-12)
    h = np.array([1e4, -2e4, 3e4])
    np.testing.assert_allclose(zeeman.energy(m, mat, GRID), -MU0 * 8e5 * VOLUME * mhat @ h, rtol=1e-12)


def test_perpendicular_demag_is_thin_film_limit(x64):
    """The headline check of the kernel: e_demag = μ0 Ms²/2 for a uniform perpendicular film."""
    for Ms in (2e5, 1.5e6):
        e = demag.energy(uniform((0, 0, 1)), material(Ms=Ms), GRID) / VOLUME
        np.testing.assert_allclose(e, MU0 * Ms**2 / 2, rtol=1e-12)


def test_anisotropy_with_grain_dispersion(x64):
    xi = jnp.asarray(np.random.default_rng(0).normal(size=GRID.shape))
    mat = make_material(None, dtype=jnp.float64, Ms=1e6, A=1e-11, Ku=1e6, D=0.0, sigma=0.2, xi=xi)
    m = uniform((1, 0, 1))
    expected = -GRID.cell_volume * np.sum(1e6 * (1 + 0.2 * np.asarray(xi)) * 0.5)
    np.testing.assert_allclose(anisotropy.energy(m, mat, GRID), expected, rtol=1e-12)


@pytest.mark.parametrize("n_periods", [1, 3, 8])
def test_spiral_exchange(x64, n_periods):
    q = 2 * np.pi * n_periods / (GRID.nx * GRID.cell_size)
    mat = material()
    e = exchange.energy(spiral(q, "neel"), mat, GRID) / VOLUME
    dx = GRID.cell_size
    # Exact on the lattice: A (2 − 2 cos q dx)/dx²; continuum limit A q².
    np.testing.assert_allclose(e, 1.5e-11 * (2 - 2 * np.cos(q * dx)) / dx**2, rtol=1e-10)
    np.testing.assert_allclose(e, 1.5e-11 * q**2, rtol=(q * dx) ** 2 / 12 * 1.1 + 1e-12)


@pytest.mark.parametrize("n_periods", [1, -3, 8])
def test_spiral_dmi(x64, n_periods):
    """Interfacial DMI favours Néel spirals (e = D q), bulk DMI favours Bloch spirals; each ignores the other."""
    q = 2 * np.pi * n_periods / (GRID.nx * GRID.cell_size)
    dx = GRID.cell_size
    lattice = 2e-3 * np.sin(q * dx) / dx  # exact bond sum; continuum D q
    inter = material(D=2e-3)
    bulk = make_material(None, dtype=jnp.float64, Ms=8e5, A=1.5e-11, Ku=0.0, D=2e-3, sigma=0.0, dmi="bulk")
    np.testing.assert_allclose(dmi.energy(spiral(q, "neel"), inter, GRID) / VOLUME, lattice, rtol=1e-10)
    np.testing.assert_allclose(dmi.energy(spiral(q, "bloch"), inter, GRID) / VOLUME, 0.0, atol=1e-12 * abs(lattice))
    np.testing.assert_allclose(dmi.energy(spiral(q, "bloch"), bulk, GRID) / VOLUME, lattice, rtol=1e-10)
    np.testing.assert_allclose(dmi.energy(spiral(q, "neel"), bulk, GRID) / VOLUME, 0.0, atol=1e-12 * abs(lattice))
    np.testing.assert_allclose(lattice, 2e-3 * q, rtol=(q * dx) ** 2 / 6 * 1.1)


@pytest.mark.parametrize("n_periods", [1, 4, 16])
def test_spiral_demag(x64, n_periods):
    """Thin-film kernel f(kt) = (1 − e^{−kt})/(kt) on a single Fourier mode.

    Néel spiral: surface charges μ0Ms²/4 f(qt), volume charges μ0Ms²/4 (1 − f(qt)); sum μ0Ms²/4.
    Bloch spiral: only the surface part, μ0Ms²/4 f(qt).
    """
    q = 2 * np.pi * n_periods / (GRID.nx * GRID.cell_size)
    f = (1 - np.exp(-q * GRID.thickness)) / (q * GRID.thickness)
    Ms = 8e5
    mat = material(Ms=Ms)
    scale = MU0 * Ms**2 / 4
    np.testing.assert_allclose(demag.energy(spiral(q, "neel"), mat, GRID) / VOLUME, scale, rtol=1e-10)
    np.testing.assert_allclose(demag.energy(spiral(q, "bloch"), mat, GRID) / VOLUME, scale * f, rtol=1e-10)


def test_spiral_demag_along_y(x64):
    """The in-plane projector k̂(k̂·m) along y, and on a diagonal, not just along x."""
    grid = Grid(nx=48, ny=48, cell_size=3e-9, thickness=2e-9)
    n = 3
    L = 48 * 3e-9
    yy, xx = np.meshgrid(np.arange(48) * 3e-9, np.arange(48) * 3e-9, indexing="ij")
    kvec = 2 * np.pi * n / L * np.array([1.0, 1.0])
    phase = kvec[0] * xx + kvec[1] * yy
    khat = kvec / np.linalg.norm(kvec)
    # Néel spiral along the diagonal: in-plane component along k̂.
    m = jnp.asarray(np.stack([khat[0] * np.sin(phase), khat[1] * np.sin(phase), np.cos(phase)]))
    mat = material(Ms=5e5)
    np.testing.assert_allclose(demag.energy(m, mat, grid) / (grid.cell_volume * grid.n_cells), MU0 * 5e5**2 / 4, rtol=1e-10)


def test_total_energy_is_sum_of_terms(x64):
    rng = np.random.default_rng(1)
    m = jnp.asarray(rng.normal(size=(3, GRID.ny, GRID.nx)))
    m = m / jnp.linalg.norm(m, axis=0)
    mat = material()
    parts = sum(term.energy(m, mat, GRID) for term in (exchange, anisotropy, dmi, demag, zeeman))
    np.testing.assert_allclose(total_energy(m, mat, GRID), parts, rtol=1e-12)
