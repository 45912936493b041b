"""studies/fov_grid.py: the exact grid posterior of fields of view + the DMI field, and its scoring."""

import math

import numpy as np
import pytest
from scipy import integrate


@pytest.fixture(scope="module")
def grid():
    from studies import fov_grid

    return fov_grid


@pytest.fixture(scope="module")
def emu():
    from domainfit.surrogate.emulator import Emulator
    from studies.fov_repeat import DEFAULT_EMULATOR

    return Emulator.load(DEFAULT_EMULATOR)


def _row(emu, family="mfm"):
    import jax.numpy as jnp

    from domainfit.surrogate.likelihood import EmulatorLikelihood

    lik = EmulatorLikelihood(emu, jnp.zeros(2), area_ratio=1.0, instrument=family)
    mean, _ = lik.moments({"D": 0.5e-3, "sigma": 0.12})
    stats = [[float(v) + 0.1 * k for v in np.asarray(mean)] for k in range(3)]
    return dict(film="film-512-1.npz", family=family, D=0.5e-3, sigma=0.12, stats=stats, areas=[emu.area] * 3,
                dmi_field=dict(value=0.03, sd=3e-3, rel=0.075))


def test_dmi_field_alone_is_the_one_dimensional_posterior(grid, emu):
    """D's marginal under the DMI field alone equals the quadrature of N(h; D/(Ms Δ), 3 mT² + (7.5 % f)²)
    over the box; σ, which it does not see, keeps its uniform prior (mean mid-box, sd width/√12)."""
    from domainfit.observations.measurements import wall_parameter

    row = _row(emu)
    res = grid.grid_summary(grid.likelihood(row, emu, "DMI field"), emu, {"D": 0.5e-3, "sigma": 0.12})
    k = 1.0 / (emu.constants["Ms"] * float(wall_parameter(emu.constants)))
    lo, hi = emu.box["D"]

    def dens(d):
        var = 3e-3**2 + (0.075 * k * d) ** 2
        return math.exp(-0.5 * (0.03 - k * d) ** 2 / var) / math.sqrt(var)

    z = integrate.quad(dens, lo, hi, points=[0.03 / k])[0]
    mean = integrate.quad(lambda d: d * dens(d), lo, hi, points=[0.03 / k])[0] / z
    sd = math.sqrt(integrate.quad(lambda d: (d - mean) ** 2 * dens(d), lo, hi, points=[0.03 / k])[0] / z)
    assert res["D"]["mean"] == pytest.approx(mean, rel=2e-3)
    assert res["D"]["sd"] == pytest.approx(sd, rel=1e-2)
    s_lo, s_hi = emu.box["sigma"]
    assert res["sigma"]["mean"] == pytest.approx(0.5 * (s_lo + s_hi), rel=1e-3)
    assert res["sigma"]["sd"] == pytest.approx((s_hi - s_lo) / math.sqrt(12), rel=2e-2)
    # the 90 % HDI of a uniform marginal is 90 % of the box
    assert res["sigma"]["hdi_high"] - res["sigma"]["hdi_low"] == pytest.approx(0.9 * (s_hi - s_lo), rel=0.02)


def test_the_joint_set_adds_the_field_to_the_images(grid, emu):
    """Measurements are independent of the images: the joint log-likelihood is the images' plus the field's."""
    import jax.numpy as jnp

    row = _row(emu)
    both, imgs, field = (grid.likelihood(row, emu, s) for s in ("3 images + DMI field", "3 images", "DMI field"))
    for d, s in ((0.3e-3, 0.08), (0.7e-3, 0.15)):
        th = {"D": jnp.float32(d), "sigma": jnp.float32(s)}
        assert float(both(th)) == pytest.approx(float(imgs(th)) + float(field(th)), rel=1e-5)


def test_scores_of_known_rows(grid):
    def p(truth, mean, sd, lo, hi):
        return dict(truth=truth, mean=mean, sd=sd, hdi_low=lo, hdi_high=hi, inside=lo <= truth <= hi)

    rows = [{"grid": {s: {"D": p(0.5e-3, 0.6e-3, 0.1e-3, 0.45e-3, 0.75e-3),
                          "sigma": p(0.1, 0.1, 0.01, 0.11, 0.12)} for s in grid.SETS}},
            {"grid": {s: {"D": p(0.5e-3, 0.5e-3, 0.1e-3, 0.2e-3, 0.4e-3),
                          "sigma": p(0.1, 0.13, 0.01, 0.08, 0.12)} for s in grid.SETS}}]
    res = grid.summarise(rows, ["D", "sigma"])["sets"]["3 images"]
    assert res["D"]["covered"] == 1 and res["D"]["coverage90"] == 0.5
    assert res["D"]["rmse"] == pytest.approx(math.sqrt(0.1**2 / 2))
    assert res["D"]["z_rms"] == pytest.approx(math.sqrt(0.5))
    assert res["sigma"]["z_rms"] == pytest.approx(math.sqrt((0 + 9) / 2))
    assert res["sigma"]["width"] == pytest.approx(0.025)


def test_readings_rebuilt_from_residuals_are_the_readings(grid, emu):
    """fov_repeat standardises each view at the truth, z = (s − μ)/σ_tot; rebuilding s from z under the
    same emulator returns the readings, and the DMI field is the one the film's seed reads."""
    import jax.numpy as jnp

    from domainfit.surrogate.likelihood import EmulatorLikelihood
    from studies.joint_observations import observations_of

    row = _row(emu, "probe")
    area = (512 * 4e-9) ** 2
    lik = EmulatorLikelihood(emu, jnp.zeros(2), area_ratio=emu.area / area, instrument="probe")
    mean, own, shared = (np.asarray(a, float) for a in lik.moment_parts({"D": 0.5e-3, "sigma": 0.12}))
    z = [((np.asarray(s) - mean) / np.sqrt(np.diag(own + shared))).tolist() for s in row["stats"]]
    (back,) = grid.from_residuals([dict(seed=20001, family="probe", D=0.5e-3, sigma=0.12, z=z)], emu)
    np.testing.assert_allclose(back["stats"], row["stats"], rtol=1e-5)
    assert back["areas"] == [area] * 3
    m = observations_of({"D": 0.5e-3, "sigma": 0.12}, 20001)["image + DMI field"]["measurements"][0]
    assert back["dmi_field"] == dict(value=m.value, sd=m.sd, rel=m.rel_model_sd)


def test_the_dmi_field_alone_is_calibrated(grid, emu):
    """Readings drawn as the study draws them (D uniform over the box, H·(1 + 7.5 % ε₁) + 3 mT ε₂): the
    grid posterior's 90 % HDI holds D in 0.9 ± 3 binomial sd of 1,000 films. An exact likelihood is the
    yardstick the real films' coverage is read against (docs/inference.md); a likelihood without the
    relative model error, or a grid HDI cut short, fails this."""
    from domainfit.observations.measurements import dmi_field_of

    rng = np.random.default_rng(11)
    k = dmi_field_of(1.0, emu.constants["Ms"], emu.constants["A"], emu.constants["Ku"])
    n, inside = 1000, 0
    for _ in range(n):
        d = rng.uniform(*emu.box["D"])
        h = k * d * (1 + 0.075 * rng.standard_normal()) + 3e-3 * rng.standard_normal()
        row = dict(stats=[], areas=[], family="ideal", dmi_field=dict(value=h, sd=3e-3, rel=0.075))
        inside += grid.grid_summary(grid.likelihood(row, emu, "DMI field"), emu, {"D": d, "sigma": 0.1})["D"]["inside"]
    assert abs(inside / n - 0.9) < 3 * math.sqrt(0.09 / n)
