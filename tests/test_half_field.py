"""H½: the initial magnetisation curve, the fitted forward model and the measurement that uses it."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from domainfit.errors import DomainfitError
from domainfit.observations.half_field import HalfFieldModel, shipped
from domainfit.observations.measurements import JointLikelihood, Measurement, parse_measurement
from domainfit.physics import Grid, make_material, vec
from domainfit.physics.curve import field_at, initial_curve

MU0 = 4e-7 * math.pi


def test_field_at_interpolates_the_first_crossing():
    f = np.array([0.0, 0.01, 0.02, 0.03])
    m = np.array([0.1, 0.3, 0.7, 0.4])
    assert field_at(f, m, 0.5) == pytest.approx(0.015)
    assert field_at(f, m, 0.05) == 0.0  # starts above the level
    assert math.isnan(field_at(f, m, 0.8))  # never reached
    assert field_at(f, np.array([0.1, 0.6, 0.6, 0.6]), 0.6) == pytest.approx(0.01)


def test_macrospin_curve_follows_stoner_wohlfarth():
    """A uniform reversed film (no DMI, no grains: it stays uniform on the periodic grid) under a field 1° off
    the normal is a Stoner–Wohlfarth particle with μ0H_K = 2 K_eff / Ms (thin-film demag N_z = 1): its m_z
    follows the macrospin's energy minimum and it switches at H_K / (cos^⅔ψ + sin^⅔ψ)^{3/2}."""
    grid = Grid(nx=32, ny=32, cell_size=4e-9, thickness=4e-9)
    mat = make_material("co-pt", D=0.0, sigma=0.0)
    m0 = vec.normalise(jnp.broadcast_to(jnp.array([0.0, 0.0, -1.0])[:, None, None], (3, 32, 32)))
    psi = math.radians(1.0)
    c = initial_curve(m0, mat, grid, step_T=1e-3, max_field_T=0.3, tilt_deg=1.0, tol=1e-6, max_steps=20_000)
    ms, ku = float(mat.Ms), float(mat.Ku)
    k_eff = ku - 0.5 * MU0 * ms**2
    h_k = 2 * k_eff / ms  # μ0 H_K [T]
    h_sw = h_k / (math.cos(psi) ** (2 / 3) + math.sin(psi) ** (2 / 3)) ** 1.5
    assert c.converged.all()
    i = int(np.argmax(c.mz > 0))  # first switched point
    assert c.field_T[i - 1] <= h_sw < c.field_T[i]
    assert c.mz[i] > 0.999 and c.field_at(0.5) == pytest.approx(h_sw, abs=1e-3)
    # below switching: the macrospin's metastable angle θ (from +z) at 0.1 T
    h = 0.1
    j = int(np.argmin(np.abs(c.field_T - h)))
    energy = lambda th: k_eff * math.sin(th) ** 2 - ms * h * math.cos(th - psi)  # noqa: E731  (per volume, h = μ0H)
    th = minimize_scalar(energy, bounds=(math.pi / 2, math.pi), method="bounded", options={"xatol": 1e-10}).x
    assert c.mz[j] == pytest.approx(math.cos(th), abs=2e-4)


def test_curve_of_a_saturated_film_stops_at_once_and_checks_input():
    grid = Grid(nx=32, ny=32, cell_size=4e-9, thickness=4e-9)
    mat = make_material("co-pt", D=0.0, sigma=0.0)
    up = jnp.zeros((3, 32, 32)).at[2].set(1.0)
    c = initial_curve(up, mat, grid)
    assert c.field_T.tolist() == [0.0] and c.field_at(0.5) == 0.0
    with pytest.raises(ValueError, match="shape"):
        initial_curve(up[:, :16], mat, grid)
    with pytest.raises(ValueError, match="step_T"):
        initial_curve(up, mat, grid, step_T=0.0)


def test_fit_recovers_a_known_quadratic_and_its_scatter():
    rng = np.random.default_rng(0)
    box = {"D": (0.1e-3, 1.0e-3), "sigma": (0.05, 0.2)}
    D = rng.uniform(*box["D"], 400)
    s = rng.uniform(*box["sigma"], 400)
    truth = lambda d, s: 0.02 + 20.0 * d + 0.3 * s + 5e3 * d * s + 0.4 * s**2  # noqa: E731  (T)
    h = truth(D, s) + 0.003 * rng.standard_normal(400)
    m = HalfFieldModel.fit(D, s, h, box, {"Ms": 1.5e6})
    assert m.residual_sd_T == pytest.approx(0.003, rel=0.1)
    assert m.info["fit_sd_T"] == pytest.approx(0.003, rel=0.1) and m.residual_sd_T > m.info["fit_sd_T"]
    grid_d, grid_s = np.meshgrid(np.linspace(*box["D"], 5), np.linspace(*box["sigma"], 5))
    err = np.asarray(m.predict(grid_d, grid_s)) - truth(grid_d, grid_s)
    assert np.max(np.abs(err)) < 0.0015  # within half the scatter everywhere in the box
    exact = HalfFieldModel.fit(D, s, truth(D, s), box, {"Ms": 1.5e6})
    assert np.allclose(np.asarray(exact.predict(grid_d, grid_s)), truth(grid_d, grid_s), rtol=1e-6, atol=0)  # float32
    # gradient of the jax prediction against finite differences
    g = jax.grad(lambda d: m.predict(d, 0.1))(0.5e-3)
    fd = (float(m.predict(0.5e-3 + 1e-8, 0.1)) - float(m.predict(0.5e-3 - 1e-8, 0.1))) / 2e-8
    assert float(g) == pytest.approx(fd, rel=1e-3)
    with pytest.raises(DomainfitError, match="at least 10"):
        HalfFieldModel.fit(D[:5], s[:5], h[:5], box, {})


def test_model_error_is_the_leave_one_film_out_error():
    """The model error equals refitting without each film and predicting it (brute force), and on 30
    films it predicts fresh films' errors where the in-sample scatter understates them."""
    rng = np.random.default_rng(3)
    box = {"D": (0.1e-3, 1.0e-3), "sigma": (0.05, 0.2)}
    truth = lambda d, s: 0.02 + 20.0 * d + 0.3 * s + 5e3 * d * s + 0.4 * s**2  # noqa: E731  (T)
    D, s = rng.uniform(*box["D"], 15), rng.uniform(*box["sigma"], 15)
    h = truth(D, s) + 0.003 * rng.standard_normal(15)
    m = HalfFieldModel.fit(D, s, h, box, {})
    keep = np.ones(15, bool)
    errs = []
    for i in range(15):
        keep[:] = True
        keep[i] = False
        mi = HalfFieldModel.fit(D[keep], s[keep], h[keep], box, {})
        errs.append(h[i] - float(mi.predict(D[i], s[i])))
    assert m.residual_sd_T == pytest.approx(np.sqrt(np.mean(np.square(errs))), rel=1e-4)
    # over many small training sets, the mean square of fresh films' errors against the mean square
    # of each kind of stated error: the leave-one-out one matches, the in-sample one falls short
    fresh, loo, ins = [], [], []
    for _ in range(300):
        D, s = rng.uniform(*box["D"], 30), rng.uniform(*box["sigma"], 30)
        mk = HalfFieldModel.fit(D, s, truth(D, s) + 0.003 * rng.standard_normal(30), box, {})
        Dn, sn = rng.uniform(*box["D"], 20), rng.uniform(*box["sigma"], 20)
        e = truth(Dn, sn) + 0.003 * rng.standard_normal(20) - np.asarray(mk.predict(Dn, sn))
        fresh.append(np.mean(e**2))
        loo.append(mk.residual_sd_T**2)
        ins.append(mk.info["fit_sd_T"] ** 2)
    assert np.mean(loo) / np.mean(fresh) == pytest.approx(1.0, abs=0.1)  # 30 films, 6 coefficients
    assert np.mean(ins) / np.mean(fresh) < 0.9


def test_save_and_load_round_trip(tmp_path):
    m = shipped()
    m.save(tmp_path / "h.json")
    back = HalfFieldModel.load(tmp_path / "h.json")
    assert np.allclose(back.coef_T, m.coef_T) and back.residual_sd_T == m.residual_sd_T
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DomainfitError, match="cannot read"):
        HalfFieldModel.load(tmp_path / "bad.json")


def test_shipped_model_is_the_co_pt_set_and_rises_with_pinning_and_dmi():
    m = shipped()
    mat = make_material("co-pt")
    assert m.constants == pytest.approx({"Ms": float(mat.Ms), "A": float(mat.A), "Ku": float(mat.Ku)})
    assert m.info["films"] >= 30 and 0 < m.residual_sd_T < 0.02
    # physics the fit must carry: stronger pinning and stronger DMI (lower wall energy, more walls to
    # sweep) both raise the field needed to half-magnetise the maze, at every point of the box
    d = np.linspace(0.15e-3, 0.95e-3, 5)
    s = np.linspace(0.06, 0.19, 5)
    dd, ss = np.meshgrid(d, s)
    gd = jax.vmap(jax.grad(lambda a, b: m.predict(a, b), argnums=(0, 1)))(jnp.ravel(dd), jnp.ravel(ss))
    assert np.all(np.asarray(gd[1]) > 0)
    assert np.mean(np.asarray(gd[0])) > 0


def test_half_field_measurement():
    meas = parse_measurement("half_field", "48mT±2mT")
    assert meas.kind == "half_field" and meas.value == pytest.approx(0.048) and meas.sd == pytest.approx(0.002)
    assert meas.needs == ("D", "sigma")
    theta = {"D": jnp.asarray(0.5e-3), "sigma": jnp.asarray(0.12)}
    pred = float(shipped().predict(0.5e-3, 0.12))
    var = 0.002**2 + shipped().residual_sd_T**2
    expect = -0.5 * (0.048 - pred) ** 2 / var - 0.5 * math.log(2 * math.pi * var)
    assert float(meas.log_likelihood(theta)) == pytest.approx(expect, rel=1e-5)
    assert "μ0H½ = 48 ± 2 mT (model ±" in meas.describe()
    joint = JointLikelihood([], [meas])
    mean, cov = joint.moments(theta)
    assert float(mean[0]) == pytest.approx(pred) and float(cov[0, 0]) == pytest.approx(var, rel=1e-5)


def test_half_field_refuses_another_parameter_set():
    meas = Measurement("half_field", 0.05, 0.002)
    with pytest.raises(DomainfitError, match="H½ model holds"):
        JointLikelihood([], [meas], defaults={"Ms": 0.6e6, "A": 10e-12, "Ku": 0.4e6})

    class FreeMs:  # an image term whose emulator varies Ms (the low-ms set)
        inputs = ("D", "Ms", "sigma")
        constants = {}

    with pytest.raises(DomainfitError, match="Ms is free"):
        JointLikelihood([FreeMs()], [meas])
    JointLikelihood([], [meas], defaults={"Ms": 1.5e6, "A": 31e-12, "Ku": 1.6e6})  # the co-pt set: fine


def test_benchmark_fits_and_checks_tiny_films(tmp_path):
    """The film maker with --curve, then --fit and --check of tools/assets/half_field.py, at 32²."""
    from studies import joint_observations
    from tools.assets import half_field

    films = tmp_path / "films"
    for seed in range(12):
        joint_observations.make_film(30000 + seed, 32, films, curve=True)
    d = np.load(films / "film-32-30000.npz")
    assert np.all(np.diff(d["curve_T"]) > 0) and d["curve_mz"][-1] >= 0.5 and np.isfinite(d["h_half_T"])
    out = tmp_path / "h.json"
    half_field.main(["--fit", str(films), "--write", str(out)])
    res = half_field.main(["--check", str(films), "--model", str(out), "--json", str(tmp_path / "c.json"),
                           "--plot", str(tmp_path / "c.png")])
    assert (tmp_path / "c.png").stat().st_size > 10_000
    # checked on its own training films: the residuals have mean 0 (intercept), so their sd over the
    # model error is the in-sample sd (6 coefficients off) rescaled to n − 1, over the leave-one-out error
    model = HalfFieldModel.load(out)
    assert res["films"] == 12 and model.info["fit_sd_T"] < model.residual_sd_T
    assert res["z_sd"] == pytest.approx(model.info["fit_sd_T"] * np.sqrt(6 / 11) / model.residual_sd_T, rel=1e-3)


def test_estimate_with_dmi_and_half_field_narrows_sigma(tmp_path):
    """End to end through the CLI: H½ joins the DMI field in the likelihood; the σ interval shrinks, the
    report records the measurement, and the predictive check treats it as one more statistic."""
    import json

    from domainfit.cli import main
    from domainfit.observations import dmi_field_of

    d, s = 0.7124e-3, 0.1951  # the example film's truth
    h_dmi = dmi_field_of(d, Ms=1.5e6, A=31e-12, Ku=1.6e6) * 1e3
    h_half = float(shipped().predict(d, s)) * 1e3
    common = ["estimate", "example", "--posterior", "--chains", "2", "--samples", "400", "--warmup", "300",
              "--predictive", "20", "--seed", "1", "--no-progress", "--dmi-field", f"{h_dmi:.2f}mT±3mT"]
    # short chains: exit 3 (too few effective draws) is allowed, an error is not
    assert main(common + ["--json", str(tmp_path / "a.json")]) in (0, 3)
    assert main(common + ["--half-field", f"{h_half:.2f}mT±2mT", "--json", str(tmp_path / "b.json")]) in (0, 3)
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    width = lambda r: r["posterior"]["sigma"]["hdi_high"] - r["posterior"]["sigma"]["hdi_low"]  # noqa: E731
    assert width(b) < 0.8 * width(a)
    assert b["posterior"]["sigma"]["hdi_low"] <= s + 0.01 and b["measurements"][1]["kind"] == "half_field"
    assert b["posterior_predictive"]["statistics"][-1] == "μ0H½"
