"""Minimiser and LLG: convergence, determinism, batching, damped dynamics against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.physics import Grid, make_material, random_state, relax, simulate, simulate_batch, total_energy
from domainfit.physics.llg import llg, relax_llg
from domainfit.physics.relax import BB, PBB
from domainfit.errors import DomainfitError
from domainfit.physics.simulate import with_disorder
from domainfit.units import GAMMA0, MU0

GRID = Grid(nx=64, ny=64, cell_size=4e-9, thickness=4e-9)


def test_relax_converges_and_lowers_energy():
    mat = with_disorder(make_material("co-pt", D=1.5e-3, sigma=0.1), GRID, key=jax.random.key(2))
    m0 = random_state(GRID, key=jax.random.key(0))
    result = relax(m0, mat, GRID, tol=1e-4)
    assert bool(result.converged) and float(result.max_torque) < 1e-4
    assert float(result.energy) < float(total_energy(m0, mat, GRID))
    np.testing.assert_allclose(jnp.linalg.norm(result.m, axis=0), 1.0, rtol=1e-5)


def test_same_seed_same_result_and_batch_equals_single():
    mat = make_material("co-pt", D=1.5e-3, sigma=0.1)
    keys = jax.random.split(jax.random.key(7), 3)
    a = simulate(mat, GRID, key=keys[1])
    b = simulate(mat, GRID, key=keys[1])
    assert np.array_equal(np.asarray(a.m), np.asarray(b.m))
    assert int(a.steps) == int(b.steps)
    batch = simulate_batch(mat, GRID, keys=keys)
    again = simulate_batch(mat, GRID, keys=keys)
    assert np.array_equal(np.asarray(batch.m), np.asarray(again.m))
    assert batch.m.shape == (3, 3, 64, 64) and bool(jnp.all(batch.converged))
    assert float(jnp.max(batch.max_torque)) < 1e-4
    # A batch member computes the same function as the single call: vmapped float32 arithmetic rounds
    # differently, and from a random start the minimiser amplifies that rounding (~10× per 10 steps,
    # so whole runs may end in different metastable states), hence compare a few steps.
    few = simulate_batch(mat, GRID, keys=keys, max_steps=10)
    single = simulate(mat, GRID, key=keys[1], max_steps=10)
    assert float(jnp.max(jnp.abs(few.m[1] - single.m))) < 1e-4
    np.testing.assert_allclose(few.energy[1], single.energy, rtol=1e-5)
    c = simulate(mat, GRID, key=keys[2])
    assert not np.allclose(np.asarray(a.m), np.asarray(c.m))


def test_batch_over_parameters():
    """Each member of a batch over D is the single simulation with its own D (checked over the first
    steps, before rounding differences grow; see above), and the converged batch ranks the energies as
    the wall energy σ_w = 4√(A K_eff) − π|D| does: more DMI, lower energy."""
    import equinox as eqx

    Ds = (1.0e-3, 2.0e-3)
    mats = eqx.tree_at(lambda t: t.D, make_material("co-pt", sigma=0.1), jnp.array(Ds))
    keys = jnp.stack([jax.random.key(0)] * 2)
    few = simulate_batch(mats, GRID, keys=keys, max_steps=10)
    for k, D in enumerate(Ds):
        single = simulate(make_material("co-pt", sigma=0.1, D=D), GRID, key=jax.random.key(0), max_steps=10)
        assert float(jnp.max(jnp.abs(few.m[k] - single.m))) < 1e-4
        np.testing.assert_allclose(few.energy[k], single.energy, rtol=1e-5)
    # The members really differ (a batch that ignored D, or swapped members, fails the loop above).
    assert abs(float(few.energy[0] - few.energy[1])) > 1e-2 * abs(float(few.energy[1]))
    out = simulate_batch(mats, GRID, keys=keys)
    assert bool(jnp.all(out.converged)) and float(jnp.max(out.max_torque)) < 1e-4
    assert float(out.energy[1]) < float(out.energy[0])


def test_llg_macrospin_precession_matches_closed_form(x64):
    """Uniform state in a field along z: tan(θ/2) decays as exp(−αγ0Ht/(1+α²)), φ turns at γ0H/(1+α²)."""
    grid = Grid(nx=8, ny=8, cell_size=4e-9, thickness=4e-9)
    H, alpha, theta0 = 2e5, 0.1, np.deg2rad(60)
    mat = make_material(None, dtype=jnp.float64, Ms=8e5, A=1e-11, Ku=0.0, D=0.0, sigma=0.0, H_ext=(0, 0, H))
    m0 = jnp.broadcast_to(jnp.array([np.sin(theta0), 0.0, np.cos(theta0)])[:, None, None], (3, 8, 8))
    ts = jnp.linspace(0, 2e-10, 9)[1:]
    sol = llg(m0, mat, grid, ts, alpha=alpha, terms=("zeeman",), rtol=1e-9, atol=1e-11)
    rate = GAMMA0 * H / (1 + alpha**2)
    theta = 2 * np.arctan(np.tan(theta0 / 2) * np.exp(-alpha * rate * np.asarray(ts)))
    phi = rate * np.asarray(ts)
    m = np.asarray(sol.ms[:, :, 0, 0])
    np.testing.assert_allclose(sol.ts, ts, rtol=1e-12)
    np.testing.assert_allclose(np.arccos(m[:, 2]), theta, rtol=1e-6)
    np.testing.assert_allclose(np.unwrap(np.arctan2(m[:, 1], m[:, 0])), phi, rtol=1e-6)


def test_energy_never_rises_under_damped_llg():
    mat = with_disorder(make_material("co-pt", D=1.5e-3, sigma=0.1), GRID, key=jax.random.key(2))
    m0 = random_state(GRID, key=jax.random.key(1))
    ts = jnp.linspace(0, 2e-11, 21)[1:]
    sol = llg(m0, mat, GRID, ts, alpha=0.5)
    energies = np.array([float(total_energy(m, mat, GRID)) for m in sol.ms])
    assert np.all(np.diff(energies) <= 1e-6 * abs(energies[0]))
    assert energies[-1] < float(total_energy(m0, mat, GRID))


def test_llg_relaxation_reaches_the_minimiser_minimum():
    """Started near a minimum, damped LLG and Barzilai–Borwein descent settle in the same state."""
    mat = with_disorder(make_material("co-pt", D=1.5e-3, sigma=0.1), GRID, key=jax.random.key(2))
    ref = relax(random_state(GRID, key=jax.random.key(0)), mat, GRID, tol=1e-5)
    noise = 0.05 * jax.random.normal(jax.random.key(9), ref.m.shape)
    start = ref.m + noise
    a = relax(start, mat, GRID, tol=1e-5)
    b = relax_llg(start / jnp.linalg.norm(start, axis=0), mat, GRID, tol=1e-4)
    assert bool(a.converged) and bool(b.converged)
    np.testing.assert_allclose(float(a.energy), float(ref.energy), rtol=1e-4)
    np.testing.assert_allclose(float(b.energy), float(ref.energy), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(b.m), np.asarray(ref.m), atol=0.02)


def test_maze_from_random_state_co_pt_256():
    """Acceptance: co-pt, D = 1.0 mJ/m², σ = 0.1 on 256² cells relaxes to a converged maze."""
    grid = Grid(nx=256, ny=256, cell_size=4e-9, thickness=4e-9)
    mat = make_material("co-pt", D=1.0e-3, sigma=0.1)
    result = simulate(mat, grid, key=jax.random.key(0), tol=1e-4)
    assert bool(result.converged) and float(result.max_torque) < 1e-4
    assert abs(float(jnp.mean(result.m[2]))) < 0.3
    # A maze: most of the film is in up or down domains, both present.
    mz = np.asarray(result.m[2])
    assert np.mean(np.abs(mz) > 0.9) > 0.6
    assert 0.2 < np.mean(mz > 0) < 0.8


# --- PBB: Barzilai–Borwein with a Fourier-preconditioned tail ---------------------------------------

SMALL = Grid(nx=32, ny=32, cell_size=4e-9, thickness=4e-9)


@pytest.mark.parametrize("minimiser", [PBB(switch=1e9), PBB(switch=1e-1, length=16e-9)])
def test_pbb_finds_the_tilted_uniform_minimum(x64, minimiser):
    """In-plane field on a perpendicular film: the unique minimum (per sign of m_z) is uniform with
    sin θ = μ0 Ms H / (2 K_eff); PBB reaches it, with BB's energy, from a noisy start."""
    Ms, Ku, H = 1.0e6, 1.0e6, 2.0e5
    mat = make_material(None, dtype=jnp.float64, Ms=Ms, A=1e-11, Ku=Ku, D=0.0, sigma=0.0, H_ext=(H, 0.0, 0.0))
    k_eff = Ku - 0.5 * MU0 * Ms**2
    sin_theta = MU0 * Ms * H / (2 * k_eff)
    noise = 0.4 * jax.random.normal(jax.random.key(3), (3, 32, 32), dtype=jnp.float64)
    m0 = noise.at[2].add(1.0)
    old = relax(m0, mat, SMALL, tol=1e-8, minimiser=BB())
    new = relax(m0, mat, SMALL, tol=1e-8, minimiser=minimiser)
    assert bool(new.converged) and float(new.max_torque) < 1e-8
    np.testing.assert_allclose(np.asarray(new.m[0]), sin_theta, atol=1e-7)
    np.testing.assert_allclose(np.asarray(new.m[2]), np.sqrt(1 - sin_theta**2), atol=1e-7)
    np.testing.assert_allclose(float(new.energy), float(old.energy), rtol=1e-10)


def test_pbb_relaxes_a_wall_pair_to_the_analytic_wall_energy(x64):
    """Local thin-film model (test_domain_wall): σ_w = 4√(A K_eff) − π|D|; PBB's energy equals BB's."""
    from test_domain_wall import K_EFF, LOCAL, SIGMA0, two_wall_state

    grid = Grid(nx=160, ny=8, cell_size=1e-9, thickness=1e-9)
    D = 1.0e-3
    mat = make_material(None, dtype=jnp.float64, Ms=1.5e6, A=31e-12, Ku=K_EFF, D=D, sigma=0.0)
    # a rough start: the profile with walls twice too narrow, plus noise
    m0 = two_wall_state(grid, D)[:, :, :] + 0.05 * jax.random.normal(jax.random.key(1), (3, 8, 160), dtype=jnp.float64)
    old = relax(m0, mat, grid, tol=1e-6, terms=LOCAL, max_steps=50_000, minimiser=BB())
    new = relax(m0, mat, grid, tol=1e-6, terms=LOCAL, max_steps=50_000, minimiser=PBB(switch=1e-2, length=4e-9))
    assert bool(old.converged) and bool(new.converged) and float(new.max_torque) < 1e-6
    up = jnp.zeros_like(new.m).at[2].set(1.0)
    sigma_w = float(new.energy - total_energy(up, mat, grid, LOCAL)) / (2 * grid.ny * grid.cell_size * grid.thickness)
    np.testing.assert_allclose(sigma_w, SIGMA0 - np.pi * D, rtol=0.03)
    np.testing.assert_allclose(float(new.energy), float(old.energy), rtol=1e-8)


@pytest.mark.parametrize("field", ["terms", "spectral"])
def test_pbb_follows_bb_exactly_until_the_switch(field):
    """Phase 1 is BB (same field) step for step: never switching gives BB's state bit for bit."""
    mat = make_material("co-pt", D=0.7e-3, sigma=0.1)
    a = simulate(mat, SMALL, key=jax.random.key(4), tol=1e-3, minimiser=BB(field=field))
    b = simulate(mat, SMALL, key=jax.random.key(4), tol=1e-3, minimiser=PBB(switch=0.0, field=field))
    assert int(a.steps) == int(b.steps)
    assert np.array_equal(np.asarray(a.m), np.asarray(b.m))


def test_spectral_field_relaxes_to_the_same_minimum_as_the_term_fields(x64):
    """BB with the k-space field reaches the term-field BB's relaxed state (float64: the two fields
    agree to rounding, so the paths coincide until the end): same energy, same m."""
    mat = make_material("co-pt", dtype=jnp.float64, D=0.7e-3, sigma=0.1)
    a = simulate(mat, SMALL, key=jax.random.key(6), tol=1e-6, minimiser=BB())
    b = simulate(mat, SMALL, key=jax.random.key(6), tol=1e-6, minimiser=BB(field="spectral"))
    assert bool(a.converged) and bool(b.converged)
    np.testing.assert_allclose(float(b.energy), float(a.energy), rtol=1e-9)
    assert float(jnp.max(jnp.abs(a.m - b.m))) < 1e-4


def test_unknown_field_is_refused():
    mat = make_material("co-pt")
    with pytest.raises(DomainfitError, match="field 'fft'"):
        simulate(mat, SMALL, key=jax.random.key(0), tol=1e-3, minimiser=BB(field="fft"))


def test_pbb_batches_under_vmap_and_resumes_in_chunks(x64):
    # In float64: a float32 relaxation is chaotic in its last bits — vmap sums in another order, and with
    # jax 0.10.2 on this CPU one of the two seeds ended in another maze (53 % of cells flipped, energy
    # 10 % apart), so only float64 can test that the batch does what single runs do.
    import equinox as eqx

    mat = make_material("co-pt", D=0.7e-3, sigma=0.1)
    mat = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64) if eqx.is_inexact_array(a) else a, mat)
    keys = jax.random.split(jax.random.key(5), 2)
    mn = PBB(switch=1e-2, length=8e-9)
    batch = simulate_batch(mat, SMALL, keys=keys, tol=1e-4, minimiser=mn)
    assert batch.m.shape == (2, 3, 32, 32) and batch.m.dtype == jnp.float64 and bool(jnp.all(batch.converged))
    for i in range(2):
        one = simulate(mat, SMALL, key=keys[i], tol=1e-4, minimiser=mn)
        assert bool(one.converged)
        np.testing.assert_allclose(batch.energy[i], one.energy, rtol=1e-6)
        assert float(jnp.max(jnp.abs(batch.m[i] - one.m))) < 1e-3
    # the progress bar runs the loop in chunks of 100 steps: the same path as one call
    chunked = simulate(mat, SMALL, key=keys[0], tol=1e-4, minimiser=mn, progress=True)
    single = simulate(mat, SMALL, key=keys[0], tol=1e-4, minimiser=mn)
    assert int(chunked.steps) == int(single.steps)
    np.testing.assert_allclose(np.asarray(chunked.m), np.asarray(single.m), atol=1e-6)


def test_pbb_smoothing_length_follows_the_wall_width():
    """ℓ = 1.25 √(A/K_eff): co-pt Δ = √(31 pJ/m / 0.186 MJ/m³) = 12.9 nm → 16.1 nm; low-ms at 450 kA/m
    Δ = √(10 pJ/m / 0.273 MJ/m³) = 6.05 nm → 7.6 nm; an in-plane film (K_eff < 0) uses 0.1 Ku; a fixed
    length wins."""
    from domainfit.physics.relax import smoothing_length

    copt = make_material("co-pt")
    k_eff = 1.6e6 - 0.5 * MU0 * 1.5e6**2
    np.testing.assert_allclose(float(smoothing_length(copt, PBB())), 1.25 * np.sqrt(31e-12 / k_eff), rtol=1e-5)
    assert 16.0e-9 < float(smoothing_length(copt, PBB())) < 16.3e-9
    lowms = make_material("low-ms", Ms=450e3)
    assert 7.5e-9 < float(smoothing_length(lowms, PBB())) < 7.7e-9
    in_plane = make_material(None, Ms=1.5e6, A=20e-12, Ku=0.5e6, D=0.0, sigma=0.0)
    np.testing.assert_allclose(float(smoothing_length(in_plane, PBB())), 1.25 * np.sqrt(20e-12 / 0.05e6), rtol=1e-5)
    assert smoothing_length(copt, PBB(length=8e-9)) == 8e-9
    # under vmap over the material each member gets its own ℓ
    import equinox as eqx

    batch = jax.vmap(lambda ms: smoothing_length(eqx.tree_at(lambda t: t.Ms, lowms, ms), PBB()))(jnp.array([300e3, 600e3]))
    expected = [1.25 * np.sqrt(10e-12 / (0.4e6 - 0.5 * MU0 * ms**2)) for ms in (300e3, 600e3)]
    np.testing.assert_allclose(np.asarray(batch), expected, rtol=1e-5)
