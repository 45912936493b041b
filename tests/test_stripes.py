"""The period law (``physics.stripes``) against independent truths: the simulator's own relaxed stripes,
the Kooy–Enz sharp-wall limit, and its own minimum."""

import math

import pytest

from domainfit.physics import stripes
from domainfit.units import MU0
from studies.period_law import stripe_energy_sim

FILM = dict(Ms=1.1e6, A=16e-12, Ku=0.95e6, thickness=1e-9)


@pytest.mark.parametrize("dmi", ["interfacial", "bulk"])
def test_stripe_energy_is_the_simulators_relaxed_stripes(x64, dmi):
    """Néel walls carry volume charges, Bloch walls none: both energies agree with the simulator's
    relaxed stripes; the difference, read as a change of wall energy 2Δσ t/P, is worth < 0.02 mJ/m²
    of D (the relaxed walls are a little cheaper than tanh profiles), and the other wall type's energy
    is farther off."""
    D = 0.8 * stripes.critical_dmi(FILM["Ms"], FILM["A"], FILM["Ku"])
    delta = math.sqrt(FILM["A"] / (FILM["Ku"] - 0.5 * MU0 * FILM["Ms"] ** 2))
    film = dict(Ms=FILM["Ms"], A=FILM["A"], Ku=FILM["Ku"], D=D, t=FILM["thickness"], dmi=dmi, delta=delta)
    relaxed = stripe_energy_sim(film, 300e-9, exact=True)  # both chiralities relaxed in float64, the lower kept
    assert relaxed["converged"] and relaxed["min_mz"] < -0.99
    period, e_sim = relaxed["period"], relaxed["energy"]
    e_law = stripes.stripe_energy(period, D=D, dmi=dmi, **FILM)
    as_dmi = lambda de: abs(de) * period / (2 * FILM["thickness"]) / math.pi  # J/m² of D
    assert as_dmi(e_sim - e_law) < 0.02e-3
    other = stripes.stripe_energy(period, D=D, dmi="bulk" if dmi == "interfacial" else "interfacial", **FILM)
    assert as_dmi(e_sim - other) > 3 * as_dmi(e_sim - e_law)  # the wall type matters at this precision


def test_sharp_wall_limit_is_kooy_enz():
    """Walls much thinner than the film (Δ ≪ t ≪ P): the equilibrium period is π e^(−1/2) t exp(π l_c/t)."""
    Ms, Ku, t = 0.3e6, 5e6, 5e-9
    errors = []
    for A in (5e-14, 1e-14):  # Δ/t = 0.020, 0.009
        D = (stripes.wall_energy(Ms, A, Ku, 0.0) - 1.2 * MU0 * Ms**2 * t) / math.pi  # σ_w = 1.2 μ0Ms²t: P ≈ 80 t
        assert D > 0
        p = stripes.equilibrium_period(Ms, A, Ku, D, t, "bulk")
        sharp = stripes.sharp_wall_period(Ms, A, Ku, D, t)
        assert sharp == pytest.approx(math.pi * math.exp(-0.5) * t * math.exp(math.pi * 1.2), rel=1e-9)
        errors.append(abs(p / sharp - 1))
    assert errors[1] < 0.04 and errors[1] < 0.6 * errors[0]  # converging as the walls sharpen


@pytest.mark.parametrize("dmi", ["interfacial", "bulk"])
def test_equilibrium_period_minimises_the_energy_and_inverts(dmi):
    for frac in (0.6, 0.8, 0.9):
        D = frac * stripes.critical_dmi(FILM["Ms"], FILM["A"], FILM["Ku"])
        p = stripes.equilibrium_period(D=D, dmi=dmi, **FILM)
        e = lambda q: stripes.stripe_energy(q, D=D, dmi=dmi, **FILM)
        assert e(p) < e(p * 1.05) and e(p) < e(p / 1.05)
        assert stripes.dmi_from_period(p, dmi=dmi, **FILM) == pytest.approx(D, rel=1e-6)
    # more DMI, cheaper walls, shorter stripes
    periods = [stripes.equilibrium_period(D=f * 2.2e-3, dmi=dmi, **FILM) for f in (0.7, 0.8, 0.9)]
    assert periods[0] > periods[1] > periods[2]


def test_the_finite_wall_law_is_longer_than_the_sharp_wall_law_for_ultrathin_films():
    D = 0.8 * stripes.critical_dmi(FILM["Ms"], FILM["A"], FILM["Ku"])
    ratio = stripes.equilibrium_period(D=D, **FILM) / stripes.sharp_wall_period(D=D, **FILM)
    assert ratio > 10  # Δ = 9 nm over t = 1 nm
    assert math.isnan(stripes.equilibrium_period(D=1.01 * stripes.critical_dmi(FILM["Ms"], FILM["A"], FILM["Ku"]), **FILM))
