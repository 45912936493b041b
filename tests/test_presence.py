"""The hurdle model of wall-free images (``surrogate.presence``) against independent truth: a known
logistic probability recovered from labels, the Jeffreys floor for labels that never vary, the
likelihood's two branches, the evidence of a wall-free image against quadrature, persistence, and the
image test on noise, uniform films and mazes."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy.special import expit

from domainfit import DomainfitError
from domainfit import inference as inf
from domainfit.surrogate.presence import Presence, fit_presence
from domainfit.features.walls import shows_walls
from domainfit.workflows import pipeline
from domainfit import surrogate

BOX = {"Ms": (200e3, 700e3), "sigma": (0.05, 0.2)}


def _true_p(x):
    """A known probability of walls in box coordinates: rises with Ms (x0) and with σ (x1)."""
    return expit(1.0 + 3.0 * x[:, 0] + 2.0 * x[:, 1])


def _labelled(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    return x, rng.uniform(size=n) < _true_p(x)


def test_presence_recovers_a_known_logistic_probability():
    x, y = _labelled(4000, 0)
    pres = fit_presence(x, y, degree=2)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), -1).reshape(-1, 2)
    err = np.abs(np.asarray(pres.prob_x(jnp.asarray(grid))) - _true_p(grid))
    # binomial standard error with 4000 labels and 6 coefficients: a few per cent at the corners
    assert err.max() < 0.06, err.max()
    assert np.mean(err) < 0.02
    # log p and log(1 − p) are the logs of the probability and its complement
    xg = jnp.asarray(grid[10])
    p = float(pres.prob_x(xg))
    assert np.isclose(float(pres.log_prob_x(xg, True)), np.log(p), rtol=1e-6)
    assert np.isclose(float(pres.log_prob_x(xg, False)), np.log1p(-p), rtol=1e-6)


def test_labels_that_never_vary_give_the_jeffreys_floor_not_certainty():
    x = np.random.default_rng(1).uniform(-1, 1, (136, 2))
    pres = fit_presence(x, np.ones(136, bool))
    eps = 0.5 / 137
    assert pres.epsilon == pytest.approx(eps)
    lp = np.asarray(jax.vmap(lambda v: pres.log_prob_x(v, False))(jnp.asarray(x)))
    # every film of this set showed walls: a wall-free image has probability ε, finite, at every θ
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(lp, np.log(eps), rtol=0.02)
    assert pres.n_views == 136 and pres.n_walls == 136


def _hurdle_emulator(n=1500, seed=2):
    """Statistics that exist only where the film keeps walls (NaN elsewhere, as a period would be)."""
    rng = np.random.default_rng(seed)
    theta = {k: rng.uniform(lo, hi, n) for k, (lo, hi) in BOX.items()}
    x = np.stack([2 * (theta[k] - lo) / (hi - lo) - 1 for k, (lo, hi) in BOX.items()], -1)
    walls = rng.uniform(size=n) < _true_p(x)
    s = np.stack([x[:, 0] + 0.5 * x[:, 1], x[:, 1] - 0.2 * x[:, 0] ** 2], -1) + 0.05 * rng.standard_normal((n, 2))
    s[~walls] = np.nan
    box = ([BOX["Ms"][0], BOX["sigma"][0]], [BOX["Ms"][1], BOX["sigma"][1]])
    return surrogate.fit_emulator(theta, s, area=4e-12, stat_names=("a", "b"), degree=2, degree_var=1, box=box,
                            walls=walls, key=jax.random.key(0)), walls


@pytest.fixture(scope="module")
def hurdle():
    return _hurdle_emulator()


def test_fit_uses_images_with_walls_only_and_refuses_nan_among_them(hurdle):
    emu, walls = hurdle
    assert emu.error_report["n_train"] == int(walls.sum()) and emu.error_report["n_views"] == len(walls)
    assert 0.8 < emu.error_report["coverage_90"] < 0.97
    theta = {"Ms": np.array([3e5, 4e5, 5e5])}
    with pytest.raises(DomainfitError, match="NaN"):
        surrogate.fit_emulator(theta, np.array([[1.0], [np.nan], [2.0]]), area=1.0, degree=1, degree_var=0, folds=1,
                         walls=np.array([True, True, False]))


def test_likelihood_branches_are_log_p_plus_gaussian_and_log_one_minus_p(hurdle):
    emu, _ = hurdle
    theta = {"Ms": jnp.asarray(450e3), "sigma": jnp.asarray(0.1)}
    x = emu.normalise(theta)
    p = float(emu.presence.prob_x(x))
    s_obs = jnp.asarray([0.1, -0.2])
    with_walls = surrogate.EmulatorLikelihood(emu, s_obs)
    plain = surrogate.EmulatorLikelihood(eqx_replace(emu, presence=None), s_obs)
    assert float(with_walls(theta)) == pytest.approx(np.log(p) + float(plain(theta)), rel=1e-6)
    without = surrogate.EmulatorLikelihood(emu, jnp.full(2, jnp.nan), walls=False)
    assert float(without(theta)) == pytest.approx(np.log1p(-p), rel=1e-6)
    # An emulator without a presence model cannot judge a wall-free image: refused in words.
    with pytest.raises(DomainfitError, match="no domain walls"):
        surrogate.EmulatorLikelihood(eqx_replace(emu, presence=None), s_obs, walls=False)


def eqx_replace(module, **changes):
    import dataclasses

    return dataclasses.replace(module, **changes)


def test_evidence_of_a_wall_free_image_matches_quadrature(hurdle):
    """Z = ∫ U(box) (1 − p_w(θ)) dθ: the whole hurdle path through tempered SMC against a 2D grid."""
    emu, _ = hurdle
    g = (np.arange(200) + 0.5) / 200 * 2 - 1
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    z_true = float(np.mean(1 - np.asarray(emu.presence.prob_x(jnp.asarray(grid)))))
    priors = [inf.Prior(k, dist.Uniform(lo, hi)) for k, (lo, hi) in BOX.items()]
    lik = surrogate.EmulatorLikelihood(emu, jnp.full(2, jnp.nan), walls=False)
    ev = inf.log_evidence(inf.Problem(priors, lik), key=jax.random.key(3), n_particles=400, n_runs=3)
    assert abs(ev.log_evidence - np.log(z_true)) < 3 * ev.error + 0.02, (ev.log_evidence, ev.error, np.log(z_true))


def test_presence_survives_save_load_and_a_new_box(hurdle, tmp_path):
    emu, _ = hurdle
    loaded = surrogate.Emulator.load(emu.save(tmp_path / "h.npz"))
    theta = {"Ms": 350e3, "sigma": 0.15}
    assert float(loaded.presence.prob_x(loaded.normalise(theta))) == pytest.approx(
        float(emu.presence.prob_x(emu.normalise(theta))), rel=1e-6)
    wider = emu.with_box({"Ms": (100e3, 800e3), "sigma": (0.0, 0.3)})
    assert float(wider.presence.prob_x(wider.normalise(theta))) == pytest.approx(
        float(emu.presence.prob_x(emu.normalise(theta))), rel=1e-5)
    assert isinstance(wider.presence, Presence)


def _maze(n=128, period=24, seed=0):
    """A smooth random ±1 maze: band-limited noise at the given period, thresholded."""
    rng = np.random.default_rng(seed)
    k = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    f = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) * np.exp(-((k - 1 / period) ** 2) / (2 * 0.01**2))).real
    return np.sign(f)


def test_the_image_test_tells_mazes_from_uniform_films_and_noise():
    rng = np.random.default_rng(4)
    n = 128
    yy, xx = np.mgrid[0:n, 0:n] / n
    maze = _maze(n)
    assert shows_walls(maze)
    assert shows_walls(maze + 0.5 * rng.standard_normal((n, n)) + 3 * xx)  # noise SNR 2 and a tilt
    assert not shows_walls(np.ones((n, n)))  # a clean uniform film: constant
    assert not shows_walls(1 + 0.3 * rng.standard_normal((n, n)))  # recorded with noise
    assert not shows_walls(1 + 2 * xx - yy**2 + 0.1 * rng.standard_normal((n, n)))  # a background and noise
    bubble = np.ones((n, n))
    bubble[60:62, 60:62] = -1  # 4 pixels of 16,384: below MIN_MINORITY
    assert not shows_walls(bubble + 0.01 * rng.standard_normal((n, n)))
    big = np.ones((n, n))
    big[40:80, 40:80] = -1  # one large domain (10 %): walls
    assert shows_walls(big + 0.05 * rng.standard_normal((n, n)))
    with pytest.raises(DomainfitError, match="NaN"):
        shows_walls(np.full((n, n), np.nan))


def test_a_wall_free_image_gives_the_prior_weighted_by_no_walls_and_says_so(hurdle):
    """The pipeline on a uniform image: the warning leads, no statistics are used, and the posterior
    mean and sd of Ms are those of prior × (1 − p_w) by quadrature (an image with walls differs)."""
    emu, _ = hurdle
    g = (np.arange(300) + 0.5) / 300 * 2 - 1
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    w = 1 - np.asarray(emu.presence.prob_x(jnp.asarray(grid)))
    ms = BOX["Ms"][0] + (grid[:, 0] + 1) / 2 * (BOX["Ms"][1] - BOX["Ms"][0])
    mean = np.sum(w * ms) / np.sum(w)
    sd = np.sqrt(np.sum(w * (ms - mean) ** 2) / np.sum(w))

    def never_called(image, pixel_size):
        raise AssertionError("a wall-free image has no statistics to compute")

    priors = [inf.Prior(k, dist.Uniform(lo, hi)) for k, (lo, hi) in BOX.items()]
    res = pipeline.posterior_from_image(np.ones((64, 64)), 16e-9, emulator=emu, seed={"Ms": 300e3, "sigma": 0.1},
                                   key=jax.random.key(0), priors=priors, summary_fn=never_called, num_chains=2,
                                   num_warmup=400, num_samples=1500, progress=False, emit_warnings=False)
    assert res.summary["warnings"][0].startswith("the image shows no domain walls")
    assert "NOT identifiable" in res.summary["warnings"][0]
    assert res.summary["observation"]["walls"] is False and res.check is None
    draws = np.asarray(res.idata.posterior["Ms"]).reshape(-1)  # SI
    # NUTS error with ~500 effective draws: ~0.05 sd on the mean, ~5 % on the sd
    assert abs(draws.mean() - mean) < 0.12 * sd, (draws.mean(), mean, sd)
    assert abs(draws.std() / sd - 1) < 0.12
    # a wall-free film is a low-Ms one here: the posterior leans below the prior mean, yet stays wide
    assert mean < 450e3 and sd > 0.6 * (BOX["Ms"][1] - BOX["Ms"][0]) / np.sqrt(12) * 0.5


def test_estimate_posterior_on_a_uniform_film_leads_with_no_walls_and_returns_the_prior(tmp_path, capsys):
    """The shipped co-pt model on a uniform film recorded with noise: every co-pt training view showed
    walls, so p_w is constant and the posterior is the prior box (uniform D on [0.1, 1] mJ/m²: mean
    0.55, 90 % HDI 0.81 wide); before, the CNN's reading of noise gave an emulator posterior."""
    import json

    from domainfit.cli import main
    from domainfit.nn.support import UNTRUSTWORTHY_EXIT

    path = tmp_path / "uniform.npy"
    np.save(path, 1 + 0.2 * np.random.default_rng(0).standard_normal((128, 128)))
    code = main(["estimate", str(path), "--pixel-size", "16nm", "--posterior", "--chains", "2", "--warmup", "300",
                 "--samples", "1500", "--no-progress", "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert code == UNTRUSTWORTHY_EXIT
    assert report["reasons"][0].startswith("the image shows no domain walls")
    assert report["observation"]["walls"] is False
    d = report["posterior"]["D"]
    assert abs(d["mean"] - 0.55) < 0.05 and 0.72 < d["hdi_high"] - d["hdi_low"] < 0.85, d
