"""The simulator as the forward model of any film (``forward``): statistics, cached design relaxations,
the local emulator against finite differences of the simulator, the posterior following the image, and
D's error budget adding up."""

import json
import math

import numpy as np
import pytest

from domainfit.films import parse_film
from domainfit.forward import design
from domainfit.forward.emulator import fit_emulator
from domainfit.forward.posterior import run_nuts
from domainfit.forward.statistics import STAT_NAMES, image_statistics, state_statistics

# a 1 nm Néel film whose mazes have periods of ~60–150 nm at 0.75–0.95 D_c: several periods on a small grid
FILM = parse_film("Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial")
EXACT = parse_film("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial")
GRID = design.FilmGrid(cells=128, cell_size=3e-9)
SEEDS = (0, 1, 2)


def x_of(d):
    v = EXACT.values()
    return float(design.reduced_wall_energy(d, v["Ms"], v["Ku"], v["A"], v["thickness"]))


X_C = x_of(0.8 * EXACT.critical_dmi)


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    cache = tmp_path_factory.mktemp("films")
    points = design.design_points(EXACT, [X_C + s for s in (-1.0, 0.0, 1.0)], (0.05, 0.15))
    return design.simulate_points(EXACT, GRID, points, SEEDS, cache=cache), cache


def test_statistics_of_straight_stripes():
    n, px, period = 256, 4e-9, 128e-9
    y, x = np.mgrid[:n, :n] * px
    s = np.tanh(4 * np.sin(2 * math.pi * x / period))
    a, b = image_statistics(s, px), state_statistics(s, px)
    assert math.exp(a[0]) == pytest.approx(period, rel=0.02) and math.exp(b[0]) == pytest.approx(period, rel=0.02)
    # straight walls along y: 2 per period, read as π/4 of their length by the bond count
    assert math.exp(b[1]) == pytest.approx(2 / period * math.pi / 4, rel=0.02)
    assert b[2] < 0.15  # stripes: a narrow peak
    assert np.all(np.isnan(state_statistics(np.ones((64, 64)), px)))


def test_relaxations_are_cached_and_a_damaged_entry_is_redone(sims):
    first, cache = sims
    assert np.all(np.isfinite(first.stats)) and np.all(first.seconds > 0)
    again = design.simulate_points(EXACT, GRID, first.points[:2], SEEDS[:1], cache=cache)
    assert np.all(again.seconds == 0) and np.array_equal(again.stats[:, 0], first.stats[:2, 0])
    entry = sorted(again.folder.glob("*.json"))[0]
    entry.write_text("{trunc")
    redo = design.simulate_points(EXACT, GRID, first.points, SEEDS, cache=cache)
    assert np.sum(redo.seconds > 0) == 1 and np.array_equal(redo.stats, first.stats)  # deterministic per seed
    assert json.loads(entry.read_text())["names"] == list(STAT_NAMES)


def test_emulator_slopes_match_finite_differences_of_the_simulator(sims):
    """∂ ln P/∂x and ∂ ln W/∂x of the emulator against central differences of fresh relaxations at
    x ± 0.6 off the design (common random numbers: the same seeds), within 3 standard errors."""
    first, cache = sims
    emulator = fit_emulator(first, observed_area=GRID.field_of_view**2)
    x0, s0 = X_C - 0.2, 0.1  # off the design points
    h = 0.6
    v = EXACT.values()
    d = lambda x: float(design.dmi_at(x, v["Ms"], v["Ku"], v["A"], v["thickness"]))
    fd_seeds = tuple(range(10, 20))
    fd_sims = design.simulate_points(EXACT, GRID, [(d(x0 + h), s0), (d(x0 - h), s0)], fd_seeds, cache=cache)
    per_seed = (fd_sims.stats[0] - fd_sims.stats[1]) / (2 * h)  # (seeds, stats)
    fd, se = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1) / math.sqrt(len(fd_seeds))
    eps = 1e-4
    slope = (emulator.mean(x0 + eps, s0, emulator.log_delta0) - emulator.mean(x0 - eps, s0, emulator.log_delta0)) / (2 * eps)
    # the emulator's own error of its slope: the quadratic's coefficients (from the points' means) and
    # the process's posterior variance of ∂f/∂x (squared-exponential kernel)
    z = emulator.design
    phi = np.stack([np.ones(len(z)), z[:, 0], z[:, 1], z[:, 0] ** 2, z[:, 0] * z[:, 1], z[:, 1] ** 2], axis=1)
    g = np.array([0.0, 1.0, 0.0, 2 * x0, s0, 0.0])  # ∂φ/∂x
    quad_var = g @ np.linalg.pinv(phi.T @ phi) @ g * emulator.residual_sd**2 / emulator.n_seeds
    kz = emulator._kernel(x0, s0)
    kd = -(x0 - z[:, 0])[:, None] / emulator.lengths[:, 0] ** 2 * kz
    gp_var = emulator.amp2 / emulator.lengths[:, 0] ** 2 - np.einsum("nk,knm,mk->k", kd, emulator.k_inv, kd)
    coef_se = np.sqrt(quad_var + np.maximum(gp_var, 0.0))
    for k in (0, 1):
        assert abs(slope[k] - fd[k]) < 3 * math.hypot(se[k], coef_se[k]), (STAT_NAMES[k], slope[k], fd[k], se[k], coef_se[k])
    # the wall density's slope is known to a third of itself at this size (0.13 ± 0.03 per unit x): a
    # slope of the wrong sign or several times off fails; a factor of two does not (measured)
    assert math.hypot(se[1], coef_se[1]) < abs(fd[1]) / 3
    assert fd[0] > 0 > fd[1]  # more wall energy, longer period, fewer walls


def test_the_posterior_follows_the_image_and_the_budget_adds_up(sims):
    first, _ = sims
    emulator = fit_emulator(first, observed_area=GRID.field_of_view**2)
    results = {}
    for frac in (0.76, 0.84):
        d_true = frac * EXACT.critical_dmi
        s_obs = emulator.mean(x_of(d_true), 0.1, emulator.log_delta0)
        post = run_nuts(emulator, FILM, s_obs, d_init=0.8 * EXACT.critical_dmi, chains=2, warmup=200, samples=300)
        results[frac] = post
        assert post.diagnostics["r_hat_max"] < 1.05
        lo, hi = post.summary["D"]["interval"]
        assert lo < d_true < hi
        budget = post.budget
        assert sum(budget["shares"].values()) == pytest.approx(1.0)
        assert 0.7 < budget["linear_over_posterior_variance"] < 1.4
        assert {"A", "Ms", "Ku", "sigma (unknown)", "image (relaxation scatter)", "instrument", "emulator",
                "history (field-cycled or not)"} == set(budget["shares"])
    assert results[0.84].summary["D"]["mean"] > results[0.76].summary["D"]["mean"]
    exact = run_nuts(emulator, EXACT, emulator.mean(x_of(0.8 * EXACT.critical_dmi), 0.1, emulator.log_delta0),
                     d_init=0.8 * EXACT.critical_dmi, chains=2, warmup=200, samples=300)
    assert exact.summary["D"]["sd"] < 0.6 * results[0.76].summary["D"]["sd"]  # the constants' uncertainty is most of it


@pytest.mark.slow  # ~400 s on the 2-core CI; the cache's reuse is tested by test_relaxations_are_cached_and_a_damaged_entry_is_redone
def test_the_workflow_reports_and_a_second_image_reuses_the_films_relaxations(tmp_path):
    """``film_posterior`` end to end on a small relaxed maze of the film (its own grid, a seed no design
    uses): a report with the film, D and σ, the budget and the stages' times; the same film's second
    image relaxes only the predictive states anew."""
    import jax

    from domainfit import physics
    from domainfit.workflows.film_posterior import PREDICTIVE_DRAWS, film_posterior

    v = EXACT.values()
    d_true = 0.9 * EXACT.critical_dmi
    grid = physics.Grid(nx=96, ny=96, cell_size=3e-9, thickness=v["thickness"])
    mat = physics.make_material(None, Ms=v["Ms"], A=v["A"], Ku=v["Ku"], D=d_true, sigma=0.1, dmi="interfacial")
    mz = np.asarray(physics.simulate(mat, grid, key=jax.random.key(4242), tol=1e-3, minimiser=physics.PBB()).m[2])
    kw = dict(pixel_size=3e-9, max_cells=96, cache=tmp_path, chains=2, warmup=200, samples=300)
    first = film_posterior(mz, FILM, key=0, **kw)
    r = first.report
    assert r["method"] == "simulator" and r["film"]["A"]["sd"] == pytest.approx(2.4)
    assert set(r["timing"]) >= {"pilot_s", "design_s", "posterior_s", "predictive_s", "total_s"}
    assert r["simulations"]["new"] == r["simulations"]["count"]
    lo, hi = r["parameters"]["D"]["interval"]
    assert lo < d_true * 1e3 < hi
    assert sum(r["error_budget"]["shares"].values()) == pytest.approx(1.0)
    second = film_posterior(mz, FILM, key=1, **kw)
    # no pilot or design relaxation again: the predictive ones, and a refinement where its posterior differs
    assert PREDICTIVE_DRAWS <= second.report["simulations"]["new"] <= PREDICTIVE_DRAWS + 12 < r["simulations"]["new"]
    assert "film:" in str(second).splitlines()[0] or "NOT TRUSTWORTHY" in str(second).splitlines()[0]


def test_closed_domain_density_counts_bubbles_without_edge_bias():
    """Disks on a lattice, the window at random offsets: the Miles–Lantuéjoul count of the closed
    domains that miss the edge averages to the lattice's density (the plain count of the disks inside
    reads 10 % low at these sizes, the count of every piece 10 % high)."""
    from domainfit.forward.statistics import closed_domain_density

    n, pitch, radius, px = 192, 24, 5, 1e-9
    rng = np.random.default_rng(1)
    reads = []
    for _ in range(40):
        oy, ox = rng.uniform(0, pitch, 2)
        y, x = np.mgrid[:n, :n] + 0.5
        dy, dx = (y - oy) % pitch - pitch / 2, (x - ox) % pitch - pitch / 2
        sign = np.where(dy**2 + dx**2 < radius**2, 1.0, -1.0)
        reads.append(closed_domain_density(sign, px) - 0.5 / ((n - 2) ** 2 * px**2))
    assert np.mean(reads) == pytest.approx(1 / (pitch * px) ** 2, rel=0.02)
    # a bubble's sign does not matter, and a map without closed domains reads the half domain only
    assert closed_domain_density(-sign, px) == pytest.approx(closed_domain_density(sign, px))
    stripes = np.where(np.sin(2 * math.pi * np.mgrid[:n, :n][1] / 40) > 0, 1.0, -1.0)
    assert closed_domain_density(stripes, px) == pytest.approx(0.5 / ((n - 2) ** 2 * px**2))
    # specks under the minimum area do not count
    assert closed_domain_density(sign, px, min_area=(2 * radius * px) ** 2) == pytest.approx(
        0.5 / ((n - 2) ** 2 * px**2))


def test_recorded_statistics_come_from_the_stored_states(sims):
    """A new image model reads the cached m_z (no relaxation); the ideal segmentation at the cell size
    records the state's sign about its mean (the instrument's normalisation), read as ``estimate``
    reads an array (background flattened); an entry of an older statistics set without its stored
    state is relaxed again."""
    from domainfit.imaging import from_array
    from domainfit.forward.instrument import ImageModel

    first, cache = sims
    binary = ImageModel(pixel_size=GRID.cell_size, family="binary", draws=1)
    rec = design.simulate_points(EXACT, GRID, first.points[:2], SEEDS[:1], image_model=binary, cache=cache)
    assert np.all(rec.seconds == 0) and rec.images.shape == (2, 1, 1, len(STAT_NAMES))
    for i, (d, s) in enumerate(rec.points):
        with np.load(rec.folder / f"D{d:.6e}_s{s:.5f}_seed{SEEDS[0]}.npz") as z:
            mz = z["mz"].astype(np.float32)
        read = from_array(np.sign(mz - mz.mean()), GRID.cell_size, flatten=2).data
        np.testing.assert_allclose(rec.images[i, 0, 0], image_statistics(read, GRID.cell_size), atol=1e-6)
    blur = ImageModel(pixel_size=6e-9, family="gaussian", fixed=(("resolution", 30e-9),), draws=1)
    seen = design.simulate_points(EXACT, GRID, first.points[:2], SEEDS[:1], image_model=blur, cache=cache)
    assert np.all(seen.seconds == 0)
    assert np.all(np.isfinite(seen.images)) and not np.allclose(seen.images[:, 0, 0], rec.images[:, 0, 0])
    entry = rec.folder / f"D{first.points[0, 0]:.6e}_s{first.points[0, 1]:.5f}_seed{SEEDS[0]}.json"
    old = json.loads(entry.read_text())
    entry.write_text(json.dumps({"stats": old["stats"][:3], "names": list(STAT_NAMES[:3]), "converged": True}))
    entry.with_suffix(".npz").unlink()
    again = design.simulate_points(EXACT, GRID, first.points[:1], SEEDS[:1], cache=cache)
    assert again.seconds[0, 0] > 0 and np.array_equal(again.stats[0, 0], first.stats[0, 0])


def test_a_dmi_field_converts_with_the_films_constants_and_narrows_d(sims):
    """A DMI field measured on the film (μ0H_DMI = D/(Ms Δ) at its true constants, ±5 %) joins the
    likelihood: D's interval narrows and still holds the truth; the budget names the measurement and
    its shares still add up; H½ (the co-pt set's model) is refused for another film."""
    from domainfit.errors import DomainfitError
    from domainfit.observations.measurements import Measurement, dmi_field_of

    first, _ = sims
    emulator = fit_emulator(first, observed_area=GRID.field_of_view**2)
    v = EXACT.values()
    d_true = 0.78 * EXACT.critical_dmi
    s_obs = emulator.mean(x_of(d_true), 0.1, emulator.log_delta0)
    h = dmi_field_of(d_true, v["Ms"], v["A"], v["Ku"])
    field = Measurement("dmi_field", h, 0.05 * h, rel_model_sd=0.0)
    kw = dict(d_init=0.8 * EXACT.critical_dmi, chains=2, warmup=200, samples=300)
    alone = run_nuts(emulator, FILM, s_obs, **kw)
    both = run_nuts(emulator, FILM, s_obs, measurements=[field], **kw)
    lo, hi = both.summary["D"]["interval"]
    assert lo < d_true < hi
    assert both.summary["D"]["sd"] < 0.7 * alone.summary["D"]["sd"]
    shares = both.budget["shares"]
    assert "measurement dmi_field" in shares and sum(shares.values()) == pytest.approx(1.0)
    assert abs(both.summary["D"]["mean"] - d_true) < 2 * both.summary["D"]["sd"]
    with pytest.raises(DomainfitError, match="half-field"):
        run_nuts(emulator, FILM, s_obs, measurements=[Measurement("half_field", 0.05, 0.005)], **kw)


def test_a_measurement_the_image_contradicts_is_caught(sims):
    """A DMI field of a D far from the image's (0.5 D_c against 0.8 D_c) lies many sd from what the image
    alone predicts; the field of the image's own D does not."""
    from domainfit.forward.posterior import measurement_z
    from domainfit.observations.measurements import Measurement, dmi_field_of

    first, _ = sims
    emulator = fit_emulator(first, observed_area=GRID.field_of_view**2)
    v = EXACT.values()
    d_true = 0.8 * EXACT.critical_dmi
    post = run_nuts(emulator, EXACT, emulator.mean(x_of(d_true), 0.1, emulator.log_delta0), d_init=d_true, chains=2,
                    warmup=200, samples=300)
    field = lambda d: Measurement("dmi_field", dmi_field_of(d, v["Ms"], v["A"], v["Ku"]),
                                  0.05 * dmi_field_of(d, v["Ms"], v["A"], v["Ku"]))
    same, other = measurement_z(post, EXACT, [field(d_true), field(0.5 * EXACT.critical_dmi)])
    assert abs(same) < 2 and other < -3


@pytest.mark.parametrize("kw, match", [(dict(lift="20nm"), "needs the instrument"),
                                       (dict(instrument="gaussian", lift="20nm"), "does not apply"),
                                       (dict(instrument="mfm", lift="12pm"), "outside the mfm family's range"),
                                       (dict(instrument="sem"), "instrument 'sem'")])
def test_instrument_settings_the_simulations_cannot_draw_are_refused_before_any_relaxation(kw, match, tmp_path):
    from domainfit.errors import DomainfitError
    from domainfit.workflows.film_posterior import film_posterior

    with pytest.raises(DomainfitError, match=match):
        film_posterior("example", EXACT, cache=tmp_path, **kw)
    assert not list(tmp_path.rglob("*.json"))
