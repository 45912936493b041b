"""Domain walls against their closed forms (local thin-film model: Ku → K_eff, no demag term).

The textbook results hold for the film with the demag energy replaced by its local limit, shape
anisotropy −μ0Ms²/2 folded into K_eff = Ku − μ0Ms²/2: width Δ = √(A/K_eff), energy per area
σ_w = 4√(A K_eff) − π|D| for a Néel wall with interfacial DMI, critical D_c = 4√(A K_eff)/π.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.physics import Grid, make_material, relax, total_energy
from domainfit.units import MU0

LOCAL = ("exchange", "anisotropy", "dmi")
MS, A, KU = 1.5e6, 31e-12, 1.6e6
K_EFF = KU - 0.5 * MU0 * MS**2
DELTA = np.sqrt(A / K_EFF)
SIGMA0 = 4 * np.sqrt(A * K_EFF)
D_C = SIGMA0 / np.pi


def two_wall_state(grid: Grid, D: float):
    """A Néel cycloid with two walls at L/4 and 3L/4, of the chirality that D favours."""
    x = (np.arange(grid.nx) + 0.5) * grid.cell_size
    L = grid.nx * grid.cell_size
    theta = 2 * np.arctan(np.exp((x - L / 4) / DELTA)) + 2 * np.arctan(np.exp((x - 3 * L / 4) / DELTA))
    theta = -np.sign(D or 1.0) * theta
    m = np.stack([np.sin(theta), np.zeros_like(theta), np.cos(theta)])
    return jnp.asarray(np.broadcast_to(m[:, None, :], (3, grid.ny, grid.nx)).copy())


@pytest.mark.parametrize("D", [0.0, 1.0e-3, 2.0e-3, -2.0e-3])
def test_neel_wall_width_and_energy(x64, D):
    grid = Grid(nx=320, ny=8, cell_size=1e-9, thickness=1e-9)
    mat = make_material(None, dtype=jnp.float64, Ms=MS, A=A, Ku=K_EFF, D=D, sigma=0.0)
    result = relax(two_wall_state(grid, D), mat, grid, tol=1e-7, terms=LOCAL, max_steps=50_000)
    assert bool(result.converged)
    mz = np.asarray(result.m[2])
    # ∫ (1 − m_z²) dx = ∫ sech²(x/Δ) dx = 2Δ per wall.
    width = np.mean(np.sum(1 - mz**2, axis=1)) * grid.cell_size / 4
    up = jnp.zeros_like(result.m).at[2].set(1.0)
    wall_area = grid.ny * grid.cell_size * grid.thickness
    sigma_w = float(result.energy - total_energy(up, mat, grid, LOCAL)) / (2 * wall_area)
    np.testing.assert_allclose(width, DELTA, rtol=0.03)
    np.testing.assert_allclose(sigma_w, SIGMA0 - np.pi * abs(D), rtol=0.03)
    # Néel: the wall magnetisation stays in the x–z plane, perpendicular to the wall.
    assert np.max(np.abs(np.asarray(result.m[1]))) < 1e-6
    assert np.max(np.abs(np.asarray(result.m[0]))) > 0.99


def test_wall_energy_changes_sign_at_critical_dmi(x64):
    grid = Grid(nx=320, ny=8, cell_size=1e-9, thickness=1e-9)
    up = None
    for factor, sign in ((0.9, 1), (1.1, -1)):
        D = factor * D_C
        mat = make_material(None, dtype=jnp.float64, Ms=MS, A=A, Ku=K_EFF, D=D, sigma=0.0)
        result = relax(two_wall_state(grid, D), mat, grid, tol=1e-7, terms=LOCAL, max_steps=50_000)
        up = jnp.zeros_like(result.m).at[2].set(1.0)
        sigma_w = float(result.energy - total_energy(up, mat, grid, LOCAL)) / (2 * grid.ny * grid.cell_size * grid.thickness)
        assert np.sign(sigma_w) == sign
        np.testing.assert_allclose(sigma_w, SIGMA0 - np.pi * D, atol=0.03 * SIGMA0)


def wall_length(m, grid):
    """Wall length [m] from ∫(1 − m_z²) dA = 2Δ × length."""
    return float(jnp.sum(1 - m[2] ** 2)) * grid.cell_size**2 / (2 * DELTA)


def modulated_stripe(grid, amplitude):
    L = grid.nx * grid.cell_size
    x = (np.arange(grid.nx) + 0.5) * grid.cell_size
    y = (np.arange(grid.ny) + 0.5) * grid.cell_size
    shift = amplitude * np.sin(2 * np.pi * y / L)[:, None]
    theta = 2 * np.arctan(np.exp((x[None, :] - L / 4 - shift) / DELTA)) + 2 * np.arctan(
        np.exp((x[None, :] - 3 * L / 4 - shift) / DELTA)
    )
    theta = -theta
    return jnp.asarray(np.stack([np.sin(theta), np.zeros_like(theta), np.cos(theta)]))


def wall_positions(m, grid):
    """x [m] of the up→down crossing of m_z in each row (linear interpolation), first wall only."""
    mz = np.asarray(m[2])
    out = []
    for row in mz:
        i = np.nonzero((row[:-1] > 0) & (row[1:] <= 0))[0][0]
        out.append((i + row[i] / (row[i] - row[i + 1]) + 0.5) * grid.cell_size)
    return np.array(out)


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_walls_straighten_below_and_proliferate_above_critical_dmi(factor):
    """Below D_c a bent stripe straightens (positive wall tension); above, walls lengthen into a maze."""
    grid = Grid(nx=96, ny=96, cell_size=3e-9, thickness=3e-9)
    mat = make_material(None, Ms=MS, A=A, Ku=K_EFF, D=factor * D_C, sigma=0.0)
    m0 = modulated_stripe(grid, amplitude=30e-9)
    result = relax(m0, mat, grid, tol=1e-4, terms=LOCAL, max_steps=30_000)
    straight = 2 * grid.ny * grid.cell_size
    if factor < 1:
        bend_before = np.ptp(wall_positions(m0, grid))
        bend_after = np.ptp(wall_positions(result.m, grid))
        assert bend_before > 50e-9
        assert bend_after < 0.05 * bend_before
        np.testing.assert_allclose(wall_length(result.m, grid), straight, rtol=0.03)
    else:
        assert wall_length(result.m, grid) > 1.5 * straight


def _full_film_wall_energy(D: float, dmi: str) -> float:
    """Energy per wall area [J/m²] of two straight walls in the co-pt model film with every term
    (full thin-film demag, 4 nm cells, 4 nm thick), minimised over the wall's in-plane angle."""
    grid = Grid(nx=256, ny=8, cell_size=4e-9, thickness=4e-9)
    x = (np.arange(grid.nx) + 0.5) * grid.cell_size
    L = grid.nx * grid.cell_size
    delta = np.sqrt(31e-12 / (1.6e6 - 0.5 * MU0 * 1.5e6**2))
    theta = 2 * np.arctan(np.exp((x - L / 4) / delta)) + 2 * np.arctan(np.exp((x - 3 * L / 4) / delta))
    mat = make_material("co-pt", dtype=jnp.float64, D=D, sigma=0.0, dmi=dmi)
    best = np.inf
    for psi in (np.pi / 4, 5 * np.pi / 4):  # between Néel and Bloch, both chiralities
        m = np.stack([np.sin(theta) * np.cos(psi), np.sin(theta) * np.sin(psi), np.cos(theta)])
        m0 = jnp.asarray(np.broadcast_to(m[:, None, :], (3, grid.ny, grid.nx)).copy())
        result = relax(m0, mat, grid, tol=1e-6, max_steps=100_000)
        assert bool(result.converged)
        best = min(best, float(result.energy) / (2 * grid.ny * grid.cell_size * grid.thickness))
    return best


def test_co_pt_preset_walls_gain_the_full_dmi_energy(x64):
    """Why the co-pt preset uses bulk DMI: in the 4 nm model film (full demag) a bulk-DMI Bloch wall
    lowers its energy by πD, as a Néel wall does in the real sub-nanometre film; an interfacial-DMI
    wall turns only partly Néel below D_N = 1.33 mJ/m² (Néel costs shape anisotropy
    K_D = μ0Ms² t ln2/(2πΔ); the test below measures D_N) and gains only ≈ (πD)²/(8Δ K_D),
    quadratic in D (Thiaville et al., EPL 100, 57002 (2012))."""
    assert make_material("co-pt").dmi == "bulk"
    gain = {}
    for dmi in ("bulk", "interfacial"):
        e0 = _full_film_wall_energy(0.0, dmi)
        gain[dmi] = [e0 - _full_film_wall_energy(D, dmi) for D in (0.5e-3, 1.0e-3)]
    np.testing.assert_allclose(gain["bulk"], [np.pi * 0.5e-3, np.pi * 1.0e-3], rtol=0.03)
    delta = np.sqrt(31e-12 / (1.6e6 - 0.5 * MU0 * 1.5e6**2))
    k_d = MU0 * 1.5e6**2 * 4e-9 * np.log(2) / (2 * np.pi * delta)
    quadratic = (np.pi * 0.5e-3) ** 2 / (8 * delta * k_d)
    assert 0.7 * quadratic < gain["interfacial"][0] < 1.5 * quadratic
    assert gain["interfacial"][0] < 0.25 * np.pi * 0.5e-3
    assert gain["interfacial"][1] / gain["interfacial"][0] > 3.0  # ∝ D², not ∝ D


def _interfacial_wall_angle(D: float) -> tuple[float, float]:
    """(|cos ψ| at the wall centres, wall width ∫(1 − m_z²)dx / 2 [m]) of two relaxed straight walls in
    the co-pt film with interfacial DMI and every term (full thin-film demag, 128 × 8 cells of 4 nm);
    ψ is the in-plane angle of the wall magnetisation from the wall normal (0: Néel, π/2: Bloch)."""
    grid = Grid(nx=128, ny=8, cell_size=4e-9, thickness=4e-9)
    x = (np.arange(grid.nx) + 0.5) * grid.cell_size
    L = grid.nx * grid.cell_size
    theta = 2 * np.arctan(np.exp((x - L / 4) / 10e-9)) + 2 * np.arctan(np.exp((x - 3 * L / 4) / 10e-9))
    psi = np.pi / 4  # start between Bloch and Néel
    m = np.stack([np.sin(theta) * np.cos(psi), np.sin(theta) * np.sin(psi), np.cos(theta)])
    m0 = jnp.asarray(np.broadcast_to(m[:, None, :], (3, grid.ny, grid.nx)).copy())
    mat = make_material("co-pt", dtype=jnp.float64, D=D, sigma=0.0, dmi="interfacial")
    result = relax(m0, mat, grid, tol=1e-6, max_steps=100_000)
    assert bool(result.converged)
    row = np.asarray(result.m)[:, 0, :]
    cos = []
    for c in (grid.nx // 4, 3 * grid.nx // 4):
        i = c - 3 + int(np.argmin(np.abs(row[2, c - 3 : c + 3])))
        cos.append(abs(row[0, i]) / np.hypot(row[0, i], row[1, i]))
    return float(np.mean(cos)), float(np.sum(1 - row[2] ** 2) * grid.cell_size / 4)


def test_interfacial_walls_of_the_co_pt_film_turn_neel_at_1_33_mj_per_m2(x64):
    # The wall angle follows cos ψ = D / D_N (Thiaville et al. 2012: σ(ψ) = σ0 + 2ΔK_D cos²ψ − πD cos ψ)
    # and is fully Néel above D_N. With every term the wall is 9.1 nm wide, not Δ = √(A/K_eff) = 12.9 nm,
    # and D_N = 1.33 mJ/m² (measured independently at 4 and 2 nm cells: 1.32), not the t ≪ Δ formula's
    # 4ΔK_D/π = 2μ0Ms² t ln2/π² = 1.59 mJ/m², which the docs quoted before.
    d_n = {}
    for D in (0.5e-3, 1.0e-3):
        cos, width = _interfacial_wall_angle(D)
        d_n[D] = D / cos
        assert 8.6e-9 < width < 9.6e-9
    assert d_n[0.5e-3] == pytest.approx(d_n[1.0e-3], rel=0.02)  # linear in D
    assert 1.28e-3 < d_n[1.0e-3] < 1.38e-3
    formula = 2 * MU0 * MS**2 * 4e-9 * np.log(2) / np.pi**2
    assert formula == pytest.approx(1.59e-3, rel=0.01) and d_n[1.0e-3] < 0.87 * formula
    assert _interfacial_wall_angle(1.5e-3)[0] > 0.999  # fully Néel above D_N
