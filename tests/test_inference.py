"""Inference core against independent truth: conjugate Gaussian posteriors and evidences, finite-difference
gradients of the synthetic likelihood, Bayes' rule for custom priors, report keys and warnings."""

import json

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy.stats import norm

from domainfit import DomainfitError
from domainfit import inference as inf
from domainfit.workflows import pipeline
from domainfit import reports
from domainfit import surrogate

NAMES = ("D", "Ms", "sigma")
# Prior means/sds deliberately in SI (1e-3, 1e6, 0.1): the normalised space must make them O(1).
PRIOR_MEAN = np.array([0.5e-3, 1.0e6, 0.1])
PRIOR_SD = np.array([0.3e-3, 0.2e6, 0.05])
NOISE_SD = np.array([0.2e-3, 0.1e6, 0.03])
Y_OBS = np.array([0.8e-3, 0.9e6, 0.06])


def conjugate_problem(prior_mean=PRIOR_MEAN):
    """θ ~ N(m, T), y | θ ~ N(θ, S): posterior and evidence in closed form."""
    priors = [inf.Prior(n, dist.Normal(float(prior_mean[i]), float(PRIOR_SD[i]))) for i, n in enumerate(NAMES)]

    def loglik(theta):
        v = jnp.stack([theta[n] for n in NAMES])
        return inf.gaussian_log_density(jnp.asarray(Y_OBS, v.dtype), v, jnp.diag(jnp.asarray(NOISE_SD**2, v.dtype)))

    post_var = 1 / (1 / PRIOR_SD**2 + 1 / NOISE_SD**2)
    post_mean = post_var * (prior_mean / PRIOR_SD**2 + Y_OBS / NOISE_SD**2)
    log_z = norm(prior_mean, np.sqrt(PRIOR_SD**2 + NOISE_SD**2)).logpdf(Y_OBS).sum()  # diagonal covariance
    return inf.Problem(priors, loglik), post_mean, np.sqrt(post_var), log_z


@pytest.fixture(scope="module")
def conjugate():
    return conjugate_problem()


def test_nuts_recovers_conjugate_gaussian_posterior(conjugate):
    problem, mean, sd, _ = conjugate
    result = inf.find_map(problem, dict(zip(NAMES, PRIOR_MEAN)))
    np.testing.assert_allclose([result.theta[n] for n in NAMES], mean, rtol=2e-3)
    idata = inf.run_nuts(problem, result, key=jax.random.key(0), num_chains=2, num_warmup=300,
                         num_samples=800, progress=False)
    ess = az.ess(idata)
    for i, n in enumerate(NAMES):
        draws = np.asarray(idata.posterior[n]).reshape(-1)
        mc_error = sd[i] / np.sqrt(float(ess[n]))
        assert abs(draws.mean() - mean[i]) < 4 * mc_error, n
        assert abs(draws.std() / sd[i] - 1) < 0.12, n


def test_evidence_matches_exact_conjugate_evidence(conjugate):
    problem, _, _, log_z = conjugate
    ev = inf.log_evidence(problem, key=jax.random.key(1), n_particles=600, n_runs=4)
    assert abs(ev.log_evidence - log_z) < 3 * ev.error + 0.02, (ev.log_evidence, ev.error, log_z)
    assert ev.error < 0.15
    # Bayes factor against a model whose prior sits elsewhere: exact difference of two evidences.
    other, _, _, log_z2 = conjugate_problem(PRIOR_MEAN * np.array([2.0, 1.3, 2.0]))
    ev2 = inf.log_evidence(other, key=jax.random.key(2), n_particles=600, n_runs=4)
    bf = inf.bayes_factor(ev, ev2)
    assert abs(bf["log_bayes_factor"] - (log_z - log_z2)) < 3 * bf["error"] + 0.03
    assert "model 1" in bf["interpretation"]
    table = inf.compare_models({"near": problem, "displaced": other}, key=jax.random.key(3), n_particles=200, n_runs=2)
    assert table["best"] == "near" and set(table["bayes_factors"]) == {"displaced"}
    assert "evidence for near" in table["bayes_factors"]["displaced"]["interpretation"]


def test_bayes_factor_reads_as_a_sentence():
    # Kass & Raftery's scale on 2|log BF|, worded so that it reads ("...bare mention evidence for
    # model 1" did not), naming the favoured model.
    def ev(log_z):
        return inf.EvidenceResult(log_evidence=log_z, error=0.05, runs=np.array([log_z]), n_stages=[1],
                                  particles=np.zeros(1), wall_time_s=0.0)

    words = {d: inf.bayes_factor(ev(d), ev(0.0), ("bulk", "interfacial"))["interpretation"] for d in (0.5, -2.0, 4.0, 6.0)}
    assert words[0.5].startswith("evidence for bulk not worth more than a bare mention (log BF = 0.50")
    assert words[-2.0].startswith("positive evidence for interfacial (")
    assert words[4.0].startswith("strong evidence for bulk") and words[6.0].startswith("very strong evidence for bulk")


# --- likelihood gradients ------------------------------------------------------------------------------


def _toy_summaries(theta):
    """A smooth nonlinear 'simulator' of 3 statistics of (D [J/m²], σ)."""
    d, s = theta["D"] / 1e-3, theta["sigma"] / 0.1
    return jnp.stack([1.0 / (1.0 + d), 0.5 * d**2 + 0.2 * s, jnp.sin(d) * s], axis=-1)


@pytest.fixture(scope="module")
def emulator():
    rng = np.random.default_rng(5)
    n = 600
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    clean = np.asarray(_toy_summaries(theta))
    s = clean + 0.02 * (1 + theta["D"][:, None] / 1e-3) * rng.standard_normal(clean.shape)
    emu = surrogate.fit_emulator(theta, s, area=(0.5e-6) ** 2, stat_names=("a", "b", "c"), key=jax.random.key(5))
    return emu, theta, s


def test_emulator_error_report_and_roundtrip(emulator, tmp_path):
    emu, theta, s = emulator
    report = emu.error_report
    assert report["surrogate_error"] < 0.35
    assert 0.85 < report["coverage_90"] < 0.95
    loaded = surrogate.Emulator.load(emu.save(tmp_path / "emu.npz"))
    th = {"D": 0.4e-3, "sigma": 0.12}
    for a, b in zip(emu.predict(th), loaded.predict(th)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    # An observation far outside the training statistics is reported in words.
    assert emu.check_observation(jnp.asarray([50.0, -3.0, 9.0])) != []
    assert emu.check_observation(s[0]) == []


def _central_fd(f, x, rel=1e-4):
    g = []
    for i in range(len(x)):
        h = rel * abs(x[i])
        e = np.zeros(len(x))
        e[i] = h
        g.append((float(f(x + e)) - float(f(x - e))) / (2 * h))
    return np.asarray(g)


def test_emulator_likelihood_gradient_matches_finite_differences(emulator, x64):
    emu, _, _ = emulator
    s_obs = _toy_summaries({"D": 0.55e-3, "sigma": 0.11}) + 0.01
    lik = surrogate.EmulatorLikelihood(emu, s_obs, area_ratio=0.25)
    f = jax.jit(lambda x: lik({"D": x[0], "sigma": x[1]}))
    x = np.array([0.45e-3, 0.14])
    np.testing.assert_allclose(np.asarray(jax.grad(f)(jnp.asarray(x))), _central_fd(f, x), rtol=0.05)


def test_simulator_likelihood_gradient_matches_finite_differences(x64):
    """A real forward model: 32² cells relaxed from fixed keys (R = 2), rendered, summarised."""
    from domainfit.physics import Grid, make_material

    grid = Grid(nx=32, ny=32, cell_size=4e-9, thickness=4e-9)
    material = make_material("co-pt", dtype=jnp.float64, D=1.5e-3, sigma=0.1)

    def summary(image, pixel_size):  # smooth, well-defined on a sub-period field of view
        return jnp.stack([jnp.mean(image**2), jnp.mean(image), 2 * jnp.mean(image**3)])

    forward = inf.simulator_forward(material, grid, keys=jax.random.split(jax.random.key(0), 2),
                                    summary_fn=summary, tol=1e-8, max_steps=50_000)
    s_obs = jnp.asarray([0.7, -0.3, -0.6])
    lik = inf.SyntheticLikelihood(forward, s_obs, area_ratio=1.0)
    # One compiled function for both the gradient and the finite differences (compilation dominates).
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: lik({"D": x[0], "sigma": x[1]})))
    x = np.array([1.5e-3, 0.1])
    grad = np.asarray(value_and_grad(jnp.asarray(x))[1])
    fd = _central_fd(lambda v: value_and_grad(jnp.asarray(v))[0], x, rel=1e-3)
    assert np.all(np.abs(fd) > 1e-3)
    np.testing.assert_allclose(grad, fd, rtol=0.05)


# --- custom priors and Bayes' rule ------------------------------------------------------------------------

R = 8
B = np.array([1.0, -0.5])
A0 = np.array([0.2, 1.0])
EPS = np.asarray(jax.random.normal(jax.random.key(7), (R, 2))) * np.array([0.3, 0.2])
S_OBS = np.array([0.9, 0.75])


def linear_forward(theta):
    """s_r = a + b·(D / 1 mJ/m²) + ε_r with fixed ε_r: the synthetic likelihood is exactly Gaussian in D."""
    d = theta["D"] / 1e-3
    return jnp.asarray(A0) + jnp.asarray(B) * d + jnp.asarray(EPS, jnp.result_type(d))


def exact_likelihood_in_D():
    """Mean and sd [J/m²] of the Gaussian log L(D) of ``linear_forward``'s synthetic likelihood."""
    lik = inf.SyntheticLikelihood(linear_forward, jnp.asarray(S_OBS))
    _, cov = lik.moments({"D": 0.0})
    prec = np.linalg.inv(np.asarray(cov, np.float64))
    r = S_OBS - A0 - EPS.mean(0)
    var = 1 / (B @ prec @ B)
    return var * (B @ prec @ r) * 1e-3, np.sqrt(var) * 1e-3, lik


def _nuts_D(problem, seed):
    idata = inf.run_nuts(problem, seed, key=jax.random.key(3), num_chains=2, num_warmup=300,
                         num_samples=700, progress=False)
    draws = np.asarray(idata.posterior["D"]).reshape(-1)
    return draws, float(az.ess(idata)["D"])


def test_flat_prior_reproduces_likelihood_and_narrow_prior_dominates():
    mean_l, sd_l, lik = exact_likelihood_in_D()
    assert sd_l < 0.5e-3  # the likelihood is informative on the prior box
    # Flat box (custom Prior spec): the posterior is the likelihood.
    flat = inf.Problem([inf.Prior("D", dist.Uniform(-5e-3, 5e-3)), inf.Prior.fix("sigma", 0.1)], lik)
    draws, ess = _nuts_D(flat, {"D": 0.5e-3})
    assert abs(draws.mean() - mean_l) < 4 * sd_l / np.sqrt(ess)
    assert abs(draws.std() / sd_l - 1) < 0.12

    # Narrow prior from a user function: the posterior follows Bayes' rule, dominated by the prior.
    m_p, s_p = 0.3e-3, 0.1 * sd_l

    def narrow():
        return {"D": numpyro.sample("D", dist.Normal(m_p, s_p)), "sigma": 0.1}

    var = 1 / (1 / s_p**2 + 1 / sd_l**2)
    mean = var * (m_p / s_p**2 + mean_l / sd_l**2)
    problem = inf.Problem(inf.PriorModel.from_function(narrow), lik)
    draws, ess = _nuts_D(problem, {"D": m_p})
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var) / np.sqrt(ess)
    assert abs(draws.std() / np.sqrt(var) - 1) < 0.12
    assert abs(draws.mean() - m_p) < 0.02 * abs(mean_l - m_p)  # the prior dominates


# --- bad input ---------------------------------------------------------------------------------------------------


def test_clear_messages_for_bad_input(conjugate):
    problem = inf.Problem(inf.default_priors("co-pt"), lambda theta: -((theta["D"] - 5e-4) / 1e-4) ** 2)
    with pytest.raises(DomainfitError, match="no support at the starting estimate"):
        inf.find_map(problem, {"D": 2.0e-3, "sigma": 0.1})
    # A seed on the edge of the box starts just inside it; a missing free parameter at the prior median.
    u = problem.prior.to_u({"D": 1.0e-3})
    assert np.all(np.isfinite(np.asarray(u))) and abs(float(problem.theta(u)["sigma"]) - 0.125) < 0.01
    with pytest.raises(DomainfitError, match="budget too small"):
        inf.check_budget(num_chains=1, num_warmup=100, num_samples=20)
    with pytest.raises(DomainfitError, match="budget too small"):
        inf.check_budget(num_chains=4, num_warmup=10, num_samples=500)
    with pytest.raises(DomainfitError, match="either a distribution or a fixed value"):
        inf.Prior("D")
    with pytest.raises(DomainfitError, match="2 replicas"):
        inf.replica_moments(jnp.ones((1, 3)))


# --- reports -------------------------------------------------------------------------------------------------------


def test_report_keys_units_and_warnings(conjugate, emulator, tmp_path):
    rng = np.random.default_rng(0)
    # Two chains that disagree, few draws and a divergence: every warning must fire.
    d = np.stack([0.5e-3 + 0.05e-3 * rng.standard_normal(60), 0.7e-3 + 0.05e-3 * rng.standard_normal(60)])
    idata = az.from_dict(posterior={"D": d}, sample_stats={"diverging": np.eye(2, 60, dtype=bool)},
                         attrs={"units": json.dumps({"D": "J/m^2"}), "wall_time_s": 1.5, "surrogate_error": 0.5})
    with pytest.warns(UserWarning):
        summary = reports.summarize(idata, hdi_prob=0.9)
    p = summary["parameters"]["D"]
    assert set(p) >= {"unit", "mean", "sd", "median", "hdi_low", "hdi_high", "hdi_prob", "r_hat", "ess_bulk", "ess_tail"}
    assert p["unit"] == "mJ/m^2" and 0.5 < p["mean"] < 0.7
    assert set(summary["diagnostics"]) >= {"r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences",
                                           "surrogate_error", "wall_time_s"}
    text = " ".join(summary["warnings"])
    for phrase in ("R-hat", "effective draws", "divergent", "emulator"):
        assert phrase in text
    assert json.loads(reports.save_json(summary, tmp_path / "s.json").read_text())["parameters"]["D"]["unit"] == "mJ/m^2"
    reports.save_netcdf(idata, tmp_path / "post.nc")
    assert az.from_netcdf(tmp_path / "post.nc").posterior["D"].shape == (2, 60)


@pytest.mark.filterwarnings("ignore:only .* effective draws")
def test_image_to_posterior_pipeline_with_checks_and_files(emulator, tmp_path):
    """posterior_from_image: statistics → emulator likelihood → MAP → NUTS → predictive check → files."""
    emu, _, _ = emulator
    truth = {"D": 0.55e-3, "sigma": 0.11}
    target = _toy_summaries(truth)

    def summary_fn(image, pixel_size):  # stands in for stats.summary_vector of a real image
        return target + 0.0 * jnp.mean(image)

    # 500 × 1 nm pixels: the emulator's training area, area ratio 1; stripes, so that it shows walls (a
    # blank image would be read as a film without walls: surrogate.presence)
    image = jnp.broadcast_to(jnp.sign(jnp.sin(2 * jnp.pi * (jnp.arange(500) + 0.5) / 50)), (500, 500))
    result = pipeline.posterior_from_image(image, 1e-9, emulator=emu, seed={"D": 0.5e-3, "sigma": 0.1},
                                      key=jax.random.key(0), summary_fn=summary_fn, num_chains=2,
                                      num_warmup=200, num_samples=300, out_dir=tmp_path, progress=False)
    summary = result.summary
    assert summary["diagnostics"]["divergences"] == 0
    assert summary["observation"]["area_ratio"] == pytest.approx(1.0)
    assert summary["parameters"]["D"]["hdi_low"] < 0.55 < summary["parameters"]["D"]["hdi_high"]
    # The observation is the emulator's own mean at a point inside the posterior: the predictive
    # check must not reject it.
    assert summary["posterior_predictive"]["p_joint"] > 0.05
    assert result.check["samples"].shape == (200, 3)
    for name in ("idata.nc", "report.json", "pair.png", "predictive.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text())["parameters"]["sigma"]["unit"] == "1"


def test_emulator_refine_with_fresh_simulations_and_gradients(emulator):
    """A deliberately poor (linear) emulator, refined around a point with replica means and Jacobians."""
    _, theta, s = emulator
    coarse = surrogate.fit_emulator(theta, s, area=(0.5e-6) ** 2, degree=1, degree_var=1, folds=1)
    eps = 0.01 * np.asarray(jax.random.normal(jax.random.key(9), (4, 3)))

    def forward(th):  # 4 replicas with fixed noise: a stand-in for simulator_forward
        return _toy_summaries(th)[None] + jnp.asarray(eps, jnp.result_type(th["D"]))

    center = {"D": 0.3e-3, "sigma": 0.15}
    refined = coarse.refine(forward, center, key=jax.random.key(4), radius=0.1, n_points=3)
    truth = np.asarray(forward(center)).mean(0)
    before = np.abs(np.asarray(coarse.predict(center)[0]) - truth).max()
    after = np.abs(np.asarray(refined.predict(center)[0]) - truth).max()
    assert after < 0.1 * before and after < 2e-3
    far = {"D": 0.9e-3, "sigma": 0.06}  # the correction is local: far away the emulator is unchanged
    np.testing.assert_allclose(refined.predict(far)[0], coarse.predict(far)[0], atol=1e-6)
    assert refined.error_report["refined_points"] == 3


def test_problem_model_is_the_same_posterior(conjugate):
    """``Problem.model`` (numpyro sites + factor) has the log density of the normalised-space posterior."""
    from numpyro.infer.util import log_density

    problem = conjugate[0]
    u = jnp.asarray([0.3, -0.2, 0.5])
    theta = problem.theta(u)
    lp_model, _ = log_density(problem.model, (), {}, {n: theta[n] for n in NAMES})
    # the u-space density adds the Jacobian of the affine normalisation (unconstrained = identity here)
    jac = float(jnp.sum(jnp.log(problem.prior.scale)))
    np.testing.assert_allclose(float(problem.log_density(u)), float(lp_model) + jac, rtol=1e-5)


def test_emulator_with_a_statistic_that_barely_varies_stays_finite():
    """A statistic fixed to round-off (balanced stripes: mean contrast 0 ± 1e-9) must not make the
    variance fit overflow; the other statistics keep their calibrated error report."""
    rng = np.random.default_rng(3)
    n = 120
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    clean = np.asarray(_toy_summaries(theta))
    s = clean + 0.02 * rng.standard_normal(clean.shape)
    s[:, 1] = 1e-9 * rng.standard_normal(n)
    emu = surrogate.fit_emulator(theta, s, area=(0.5e-6) ** 2, key=jax.random.key(1))
    report = emu.error_report
    assert np.isfinite(report["surrogate_error"]) and np.all(np.isfinite(report["z_rms"]))
    assert 0.8 < report["coverage_90"] <= 1.0
    mean = emu.predict({"D": 0.5e-3, "sigma": 0.1})[0]
    assert np.all(np.isfinite(np.asarray(mean)))


def test_a_prior_on_what_the_likelihood_ignores_is_refused(emulator):
    # docs/inference.md's own example put a prior on Ms with an emulator that takes D and σ only: the
    # "posterior" of Ms came back equal to its prior, with no word. The likelihood's inputs are known;
    # sampling anything else, or fixing a constant of the emulator's training set elsewhere, is an error.
    import numpyro.distributions as dist

    emu, _, s = emulator
    like = surrogate.EmulatorLikelihood(emu, jnp.asarray(s[0]))
    assert like.inputs == ("D", "sigma")
    priors = inf.default_priors("co-pt")
    inf.Problem(priors, like)  # D and σ sampled, the rest fixed: fine
    priors["Ms"] = inf.Prior("Ms", dist.Normal(1.45e6, 0.05e6))
    with pytest.raises(DomainfitError, match="samples Ms, which the likelihood does not depend on"):
        inf.Problem(priors, like)
    import dataclasses

    held = dataclasses.replace(emu, report=json.dumps(dict(emu.error_report, constants={"Ms": 1.5e6})))
    like = surrogate.EmulatorLikelihood(held, jnp.asarray(s[0]))
    fixed = inf.default_priors("co-pt")
    inf.Problem(fixed, like)  # Ms fixed at the emulator's own 1.5 MA/m
    fixed["Ms"] = inf.Prior.fix("Ms", 1.45e6)
    with pytest.raises(DomainfitError, match="trained with Ms = 1.5e"):
        inf.Problem(fixed, like)


def test_netcdf_and_emulator_files_are_never_left_half_written(tmp_path, emulator):
    # Ctrl-C while idata.nc was being written left a truncated 6 KB file that ArviZ opened without a
    # posterior. Writers now go through a temporary file: an interrupt leaves the previous file intact
    # and no partial one.
    idata = az.from_dict(posterior={"D": np.random.default_rng(0).normal(size=(2, 50))})
    path = reports.save_netcdf(idata, tmp_path / "idata.nc")
    before = path.read_bytes()

    class Interrupted(az.InferenceData):
        def to_netcdf(self, filename, *args, **kwargs):
            with open(filename, "wb") as f:
                f.write(b"CDF\x01 half a file")
            raise KeyboardInterrupt

    broken = Interrupted(posterior=idata.posterior)
    with pytest.raises(KeyboardInterrupt):
        reports.save_netcdf(broken, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["idata.nc"]
    assert az.from_netcdf(path).posterior["D"].shape == (2, 50)
    emu, _, _ = emulator
    out = emu.save(tmp_path / "emu")  # the suffix is added, as numpy does
    assert out.name == "emu.npz" and surrogate.Emulator.load(out).names == emu.names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emu.npz", "idata.nc"]

