"""Scalar measurements in the likelihood (observations.measurements) and joint estimates of several observations."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm, truncnorm

from domainfit import DomainfitError
from domainfit.observations import JointLikelihood, Measurement, dmi_field_of, parse_measurement
from domainfit.inference import Prior, Problem, fit_posterior, gaussian_log_density

MU0 = 4e-7 * math.pi
CO_PT = dict(Ms=1.5e6, A=31e-12, Ku=1.6e6)


def test_dmi_field_is_d_over_ms_delta():
    # by hand: K_eff = Ku − μ0Ms²/2, Δ = √(A/K_eff), μ0H_DMI = D/(Ms Δ); the Ta-wedge example's 51.6 mT per mJ/m²
    k_eff = 1.6e6 - 0.5 * MU0 * 1.5e6**2
    delta = math.sqrt(31e-12 / k_eff)
    assert delta == pytest.approx(12.9e-9, rel=2e-3)
    assert dmi_field_of(1e-3, **CO_PT) == pytest.approx(1e-3 / (1.5e6 * delta), rel=1e-6)
    assert dmi_field_of(1e-3, **CO_PT) == pytest.approx(51.7e-3, abs=0.1e-3)


def test_log_likelihood_is_the_gaussian_with_model_error_and_its_gradient_matches_finite_differences():
    m = Measurement("dmi_field", 30e-3, 3e-3, 0.075)
    theta = {"D": 0.55e-3, **CO_PT}
    pred = dmi_field_of(0.55e-3, **CO_PT)
    sd = math.hypot(3e-3, 0.075 * pred)
    assert float(m.log_likelihood(theta)) == pytest.approx(norm.logpdf(30e-3, pred, sd), rel=1e-5)

    def f(d):
        return m.log_likelihood({**theta, "D": d})

    g = float(jax.grad(f)(jnp.float64(0.55e-3) if jax.config.jax_enable_x64 else jnp.float32(0.55e-3)))
    h = 1e-7
    fd = (norm.logpdf(30e-3, dmi_field_of(0.55e-3 + h, **CO_PT), math.hypot(3e-3, 0.075 * dmi_field_of(0.55e-3 + h, **CO_PT)))
          - norm.logpdf(30e-3, dmi_field_of(0.55e-3 - h, **CO_PT), math.hypot(3e-3, 0.075 * dmi_field_of(0.55e-3 - h, **CO_PT)))) / (2 * h)
    assert g == pytest.approx(fd, rel=2e-3)


def test_parse_measurement_reads_units_and_refuses_bad_input():
    m = parse_measurement("dmi_field", "28mT±3mT")
    assert (m.value, m.sd, m.rel_model_sd) == pytest.approx((28e-3, 3e-3, 0.075))
    assert parse_measurement("dmi_field", "28 +- 3 mT").value == pytest.approx(28e-3)
    assert parse_measurement("dmi_field", "28mT+/-3,model=5%").rel_model_sd == pytest.approx(0.05)
    d = parse_measurement("D", "0.5±0.05mJ/m2")
    assert (d.value, d.sd, d.rel_model_sd) == pytest.approx((0.5e-3, 0.05e-3, 0.0))
    assert parse_measurement("sigma", "0.1±0.01").sd == pytest.approx(0.01)
    for kind, text, words in [("dmi_field", "28mT", "value ± uncertainty"), ("dmi_field", "28±3", "no unit"),
                              ("dmi_field", "28mT±0mT", "positive uncertainty"), ("D", "0.5±0.05kA/m", "unknown unit"),
                              ("dmi_field", "28mT±3mT,junk", "model error"), ("H_c", "1±1", "kind")]:
        with pytest.raises(DomainfitError, match=words):
            parse_measurement(kind, text)
    with pytest.raises(DomainfitError, match="finite"):
        Measurement("D", float("nan"), 1e-4)


def test_a_measurement_alone_gives_its_known_posterior():
    """Flat prior on D over the box and one measurement D = 0.5 ± 0.1 mJ/m²: the posterior is the
    normal truncated to the box; NUTS must reproduce its mean and sd."""
    lo, hi, mu, sd = 0.1e-3, 1.0e-3, 0.5e-3, 0.1e-3
    lik = JointLikelihood(measurements=[Measurement("D", mu, sd)])
    problem = Problem({"D": Prior.uniform("D", lo, hi)}, lik)
    _, idata = fit_posterior(problem, {"D": 0.3e-3}, key=jax.random.key(0), num_chains=2, num_warmup=300,
                             num_samples=1500, progress=False)
    draws = np.asarray(idata.posterior["D"]).ravel()
    exact = truncnorm((lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd)
    assert draws.mean() == pytest.approx(exact.mean(), abs=4 * exact.std() / math.sqrt(600))
    assert draws.std() == pytest.approx(exact.std(), rel=0.1)


class _FakeImage:
    """A Gaussian term with θ-dependent mean, as an emulator likelihood of one image looks to the joint one."""

    def __init__(self, s_obs, scale):
        self.s_obs = jnp.asarray(s_obs)
        self.scale = scale
        self.inputs = ("D", "sigma")
        self.constants = dict(CO_PT)

    def moments(self, theta):
        mean = jnp.stack([theta["D"] * 1e3, theta["sigma"] * 10.0])
        cov = self.scale * jnp.array([[1.0, 0.3], [0.3, 2.0]])
        return mean, cov

    def __call__(self, theta):
        return gaussian_log_density(self.s_obs, *self.moments(theta))


def test_joint_likelihood_is_the_sum_and_its_moments_give_the_same_density():
    a, b = _FakeImage([0.6, 1.2], 0.04), _FakeImage([0.5, 1.4], 0.09)
    meas = [Measurement("dmi_field", 30e-3, 3e-3), Measurement("sigma", 0.13, 0.02)]
    joint = JointLikelihood([a, b], meas)
    theta = {"D": jnp.asarray(0.55e-3), "sigma": jnp.asarray(0.12)}
    full = {**CO_PT, **theta}
    expected = float(a(theta) + b(theta) + sum(m.log_likelihood(full) for m in meas))
    assert float(joint(theta)) == pytest.approx(expected, rel=1e-5)
    mean, cov = joint.moments(theta)
    assert mean.shape == (6,) and cov.shape == (6, 6)
    assert float(gaussian_log_density(joint.s_obs, mean, cov)) == pytest.approx(expected, rel=1e-4)
    # the defaults came from the images' constants; the measurement of a fixed parameter needs nothing sampled
    assert joint.inputs == ("D", "sigma")


def test_joint_likelihood_needs_something():
    with pytest.raises(DomainfitError, match="at least one"):
        JointLikelihood()


def test_estimate_of_two_images_and_a_dmi_field_narrows_d(tmp_path):
    """End to end through the CLI: the DMI field joins the likelihood, the D interval shrinks towards
    the measurement's, and the report records both images and the measurement."""
    import domainfit as df
    from domainfit.cli import main

    cfg = df.PosteriorConfig(chains=2, samples=300, warmup=200, predictive=20)
    one = df.estimate("example", posterior=cfg, key=1)
    out = tmp_path / "joint.json"
    rc = main(["estimate", "example", "example", "--posterior", "--chains", "2", "--samples", "300", "--warmup", "200",
               "--predictive", "20", "--seed", "1", "--dmi-field", "30mT±2mT", "--json", str(out), "--no-progress"])
    assert rc == 3  # one image given twice: flagged, its joint intervals would be too narrow
    rep = json.loads(out.read_text())
    assert any("image 2 is image 1 again" in r for r in rep["reasons"]) and not rep["trustworthy"]
    assert len(rep["images"]) == 2 and len(rep["observations"]) == 2
    assert rep["measurements"][0] == dict(kind="dmi_field", unit="mT", value=pytest.approx(30.0), sd=pytest.approx(2.0),
                                          rel_model_sd=0.075)
    w_one = one.report["posterior"]["D"]["hdi_high"] - one.report["posterior"]["D"]["hdi_low"]
    w_joint = rep["posterior"]["D"]["hdi_high"] - rep["posterior"]["D"]["hdi_low"]
    assert w_joint < 0.7 * w_one
    # 30 mT ± (2 mT, 7.5 %) alone says D = 0.58 ± 0.06 mJ/m²: the joint posterior sits near it
    assert abs(rep["posterior"]["D"]["mean"] - 30e-3 / dmi_field_of(1e-3, **CO_PT)) < 0.15
    assert rep["posterior_predictive"]["statistics"][-1] == "μ0H_DMI"


def test_measurements_need_a_posterior_and_readable_values(capsys):
    import domainfit as df
    from domainfit.cli import main

    assert main(["estimate", "example", "--dmi-field", "30mT±2mT"]) == 2
    assert "--dmi-field only applies with --posterior" in capsys.readouterr().err
    assert main(["estimate", "example", "--posterior", "--measure", "H=3±1"]) == 2
    assert "NAME=VALUE±ERR" in capsys.readouterr().err
    with pytest.raises(DomainfitError, match="only applies with a posterior"):
        df.estimate("example", measurements=[Measurement("D", 0.5e-3, 0.1e-3)])
    with pytest.raises(DomainfitError, match="pixel sizes"):
        df.estimate([np.zeros((64, 64)), np.zeros((64, 64))], pixel_size=[16e-9, 16e-9, 16e-9])


def test_the_cnn_only_estimate_does_not_load_the_inference_stack():
    """Measurements are checked only when given: the CNN-only path (the 10 s cold-start budget of
    test_estimate_cli) must not import numpyro. It did, through the measurement check, before."""
    import subprocess
    import sys

    code = ("import sys, domainfit as df; df.estimate('example', single_view=True); "
            "print('numpyro' in sys.modules, 'domainfit.inference' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.split() == ["False", "False"]


class _SharedErrorImage:
    """An image term as ``EmulatorLikelihood`` exposes it: its own noise and an error shared by every
    image read through the same (here: fake) emulator."""

    def __init__(self, s_obs, emulator, own=0.04, shared=0.09):
        self.s_obs = jnp.asarray([s_obs])
        self.emulator = emulator
        self.own, self.shared = own, shared
        self.inputs = ("D",)
        self.constants = dict(CO_PT)

    def moment_parts(self, theta):
        return (jnp.stack([theta["D"] * 1e3]), jnp.array([[self.own]]), jnp.array([[self.shared]]))

    def moments(self, theta):
        mean, own, shared = self.moment_parts(theta)
        return mean, own + shared

    def __call__(self, theta):
        return gaussian_log_density(self.s_obs, *self.moments(theta))


def test_images_through_one_emulator_share_its_error():
    """s_k = μ(θ) + e + ε_k with the error e (variance S) common to the K images and ε_k (O) their own:
    as a function of θ the joint likelihood is N(s̄; μ(θ), S + O/K) — K images beat the sampling noise,
    not the shared error. Images through different emulators still add independently."""
    emu = object()
    obs = [0.52, 0.61, 0.47]
    joint = JointLikelihood([_SharedErrorImage(s, emu) for s in obs])
    mean_obs, var = np.mean(obs), 0.09 + 0.04 / 3

    def exact(d):
        return -0.5 * (mean_obs - d * 1e3) ** 2 / var

    for d0, d1 in ((0.3e-3, 0.55e-3), (0.5e-3, 0.9e-3)):
        got = float(joint({"D": jnp.asarray(d1)}) - joint({"D": jnp.asarray(d0)}))
        assert got == pytest.approx(exact(d1) - exact(d0), rel=1e-4)
    mean, cov = joint.moments({"D": jnp.asarray(0.5e-3)})
    assert np.allclose(np.asarray(cov), 0.09 + 0.04 * np.eye(3))
    # separate emulators: the old sum of independent terms
    apart = JointLikelihood([_SharedErrorImage(s, object()) for s in obs])
    theta = {"D": jnp.asarray(0.6e-3)}
    assert float(apart(theta)) == pytest.approx(sum(float(t(theta)) for t in apart.images), rel=1e-6)


class _OneInstrumentImage(_SharedErrorImage):
    """An image whose instrument repeats a share ρ of its own noise on every image it records."""

    def __init__(self, s_obs, emulator, rho, instrument="mfm"):
        super().__init__(s_obs, emulator)
        self.rho, self.instrument = rho, instrument

    def repeat(self):
        return None if self.rho is None else np.array([self.rho])


def test_images_of_one_instrument_share_the_part_of_their_noise_it_repeats():
    """s_k = μ(θ) + e + g + ε_k with e (variance S) the emulator's error, g (ρ O) the instrument's
    settings, both common to the K images of one instrument, and ε_k ((1 − ρ) O) each image's own: as a
    function of θ the joint likelihood is N(s̄; μ(θ), S + ρ O + (1 − ρ) O / K). Without the repeat
    (the code before) it was S + O / K: three images of one MFM tip counted as three instruments."""
    emu, rho = object(), 0.6
    obs = [0.52, 0.61, 0.47]
    joint = JointLikelihood([_OneInstrumentImage(s, emu, rho) for s in obs])
    mean_obs, var = np.mean(obs), 0.09 + rho * 0.04 + (1 - rho) * 0.04 / 3

    def exact(d):
        return -0.5 * (mean_obs - d * 1e3) ** 2 / var

    for d0, d1 in ((0.3e-3, 0.55e-3), (0.5e-3, 0.9e-3)):
        got = float(joint({"D": jnp.asarray(d1)}) - joint({"D": jnp.asarray(d0)}))
        assert got == pytest.approx(exact(d1) - exact(d0), rel=1e-4)
    _, cov = joint.moments({"D": jnp.asarray(0.5e-3)})
    assert np.allclose(np.asarray(cov), 0.09 + rho * 0.04 + (1 - rho) * 0.04 * np.eye(3))
    # two instruments, or a repeat not measured: only the emulator's error is common
    for images in ([_OneInstrumentImage(0.5, emu, rho), _OneInstrumentImage(0.6, emu, rho, "probe")],
                   [_OneInstrumentImage(0.5, emu, None), _OneInstrumentImage(0.6, emu, None)]):
        _, cov = JointLikelihood(images).moments({"D": jnp.asarray(0.5e-3)})
        assert np.allclose(np.asarray(cov), 0.09 + 0.04 * np.eye(2))


def test_repeats_are_measured_from_fields_of_view_of_one_instrument():
    """``fit_repeats`` on views drawn from the model it measures: z_k = √s e + √(1−s) (√ρ g + √(1−ρ) v_k),
    e and g common to a film's three views, s the share the likelihood already holds in common. It
    recovers ρ within 3 of its stated errors, and its errors match the estimates' spread."""
    from domainfit.surrogate.instrument_terms import fit_repeats

    rng = np.random.default_rng(7)
    share, truth = np.array([0.1, 0.08]), {"mfm": np.array([0.7, 0.8]), "probe": np.array([0.2, 0.5])}
    estimates = {f: [] for f in truth}
    for rep in range(30):
        z, films, fams = [], [], []
        for film in range(60):
            fam = "mfm" if film % 2 else "probe"
            rho = truth[fam]
            e, g = rng.standard_normal(2), rng.standard_normal(2)
            for _ in range(3):
                v = rng.standard_normal(2)
                z.append(np.sqrt(share) * e + np.sqrt(1 - share) * (np.sqrt(rho) * g + np.sqrt(1 - rho) * v))
                films.append(film)
                fams.append(fam)
        fit = fit_repeats(np.array(z), np.tile(share, (len(z), 1)), films, fams)
        for f in truth:
            estimates[f].append((fit[f]["repeat"], fit[f]["se"]))
        assert fit["all"]["films"] == 60 and fit["mfm"]["pairs"] == 90
    for f, rho in truth.items():
        est = np.array([e for e, _ in estimates[f]])
        se = np.array([s for _, s in estimates[f]])
        assert np.all(np.abs(est.mean(axis=0) - rho) < 3 * se.mean(axis=0) / np.sqrt(len(est)) + 0.02)
        assert np.allclose(est.std(axis=0), se.mean(axis=0), rtol=0.4)
    with pytest.raises(DomainfitError, match="share one instrument"):
        fit_repeats(np.zeros((2, 2)), np.zeros((2, 2)), [1, 1], ["mfm", "probe"])


def test_several_images_are_flagged_unless_the_emulator_knows_what_one_instrument_repeats():
    """The shipped emulator carries the repeat (studies/fov_repeat.py): two fields of view are not flagged.
    An emulator without it, or one image given twice, is (a reason, exit 3)."""
    import dataclasses

    import domainfit as df
    from domainfit.surrogate.emulator import Emulator
    from domainfit.surrogate.instrument_terms import attach, terms_of
    from domainfit.workflows.inputs import read_image
    from domainfit.workflows.posterior import MULTI_IMAGE_REASON, multi_image_reasons

    emu = Emulator.load(df.__path__[0] + "/assets/cnn_default.emulator.npz")
    terms = terms_of(emu)
    assert terms.repeat("mfm") is not None and terms.repeat(None) is not None
    assert all(0.3 < r < 0.95 for r in terms.repeat("mfm"))  # measured: 0.72 and 0.70 of the own scatter
    a, b = read_image("example"), read_image("example-512")
    assert multi_image_reasons([a], emu, "mfm") == [] and multi_image_reasons([a, b], emu, "mfm") == []
    assert multi_image_reasons([a, b, a], emu, None) == [multi_image_reasons([a, b, a], emu, None)[0]]
    assert "image 3 is image 1 again" in multi_image_reasons([a, b, a], emu, None)[0]
    bare = attach(emu, dataclasses.replace(terms, families={f: dataclasses.replace(t, repeat=None)
                                                            for f, t in terms.families.items()}))
    assert multi_image_reasons([a, b], bare, "mfm") == [MULTI_IMAGE_REASON]
