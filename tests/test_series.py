"""Joint trend models over a series of images (observations.series) against exact quadrature."""

import math

import jax
import numpy as np
import pytest
from scipy import stats

from domainfit.errors import DomainfitError
from domainfit.observations import series

X = np.arange(7) * 0.5
TAU = 0.15
BOX = {"D": (0.0, 1.0)}


def _toy(seed=1, slope=0.1):
    """Seven Gaussian observations s_i ~ N(D_i, τ²) of a linear D(x): a series whose evidence and
    slope posterior are integrals we can do by quadrature."""
    rng = np.random.default_rng(seed)
    s = 0.2 + slope * X + TAU * rng.standard_normal(len(X))
    liks = [(lambda th, si=si: jax.scipy.stats.norm.logpdf(si, th["D"], TAU)) for si in s]
    return s, liks


def _quadrature(s):
    """log Z of the constant, linear and free models, and the slope posterior mean and sd."""
    free = sum(math.log(stats.norm.cdf((1 - si) / TAU) - stats.norm.cdf(-si / TAU)) for si in s)
    g = np.linspace(0, 1, 4001)
    const = math.log(np.trapezoid(np.exp(stats.norm.logpdf(s[:, None], g[None, :], TAU).sum(0)), g))
    f = (X - X[0]) / (X[-1] - X[0])
    a = np.linspace(0, 1, 801)
    A, B = np.meshgrid(a, a, indexing="ij")
    L = np.exp(sum(stats.norm.logpdf(si, A + (B - A) * fi, TAU) for si, fi in zip(s, f)))
    z = np.trapezoid(np.trapezoid(L, a, axis=1), a)
    slope = (B - A) / (X[-1] - X[0])
    m1 = np.trapezoid(np.trapezoid(L * slope, a, axis=1), a) / z
    m2 = np.trapezoid(np.trapezoid(L * slope**2, a, axis=1), a) / z
    return {"constant": const, "linear": math.log(z), "free": free}, m1, math.sqrt(m2 - m1**2)


def test_trend_evidence_matches_quadrature():
    s, liks = _toy()
    exact, _, _ = _quadrature(s)
    res = series.compare_trends(liks, X, BOX, {t: {"D": t} for t in series.TRENDS}, key=jax.random.key(0),
                                n_particles=600, n_runs=4)
    for t in series.TRENDS:
        ev = res["evidence"][t]
        assert abs(ev["log_evidence"] - exact[t]) < 4 * ev["error"] + 0.08, (t, ev, exact[t])


def test_slope_posterior_matches_quadrature():
    s, liks = _toy(seed=2, slope=0.15)
    _, mean, sd = _quadrature(s)
    problem = series.series_problem(liks, X, BOX, {"D": "linear"})
    seed = series.seed_from_estimates([{"D": v} for v in s], X, BOX, {"D": "linear"})
    _, idata = series.series_posterior(problem, seed, key=3, num_chains=2, num_warmup=300, num_samples=1500,
                                       progress=False)
    draws = np.asarray(idata.posterior["D_slope"]).ravel()
    assert abs(draws.mean() - mean) < 0.1 * sd, (draws.mean(), mean, sd)
    assert abs(draws.std() / sd - 1) < 0.1, (draws.std(), sd)
    # each position's value is the line through the two end values
    d3 = np.asarray(idata.posterior["D_3"]).ravel()
    start, end = (np.asarray(idata.posterior[k]).ravel() for k in ("D_start", "D_end"))
    np.testing.assert_allclose(d3, start + (end - start) * 0.5, rtol=1e-5, atol=1e-7)


def test_trend_prior_keeps_every_value_in_the_box_and_refuses_bad_input():
    prior = series.trend_prior(X, {"D": (0.1e-3, 1e-3), "sigma": (0.05, 0.2)}, {"D": "linear", "sigma": "free"})
    u = prior.sample_u(500, key=jax.random.key(1))
    theta = jax.vmap(prior.theta)(u)
    d = np.stack([np.asarray(theta[f"D_{i}"]) for i in range(len(X))])
    assert d.min() >= 0.1e-3 and d.max() <= 1e-3
    assert np.all(np.isfinite(np.asarray(theta["D_slope"])))
    assert set(prior.names) == {"D_start", "D_end", *(f"sigma_{i}" for i in range(len(X)))}
    with pytest.raises(DomainfitError, match="trend 'quadratic'"):
        series.trend_prior(X, BOX, {"D": "quadratic"})
    # positions in any order: a linear trend still stays inside the box between its end values
    shuffled = series.trend_prior(X[::-1].copy(), {"D": (0.1e-3, 1e-3)}, {"D": "linear"})
    t = jax.vmap(shuffled.theta)(shuffled.sample_u(200, key=jax.random.key(2)))
    d = np.stack([np.asarray(t[f"D_{i}"]) for i in range(len(X))])
    assert d.min() >= 0.1e-3 and d.max() <= 1e-3
    np.testing.assert_allclose(d[-1], np.asarray(t["D_start"]), rtol=1e-6)  # position 0 is now the last
    with pytest.raises(DomainfitError, match="at least two positions"):
        series.trend_prior([1.0], BOX, {"D": "linear"})
    with pytest.raises(DomainfitError, match="coincide"):
        series.trend_prior([1.0, 1.0], BOX, {"D": "linear"})
    with pytest.raises(DomainfitError, match="no box"):
        series.trend_prior(X, BOX, {"sigma": "free"})
    with pytest.raises(DomainfitError, match="likelihoods for"):
        series.series_problem([lambda th: 0.0], X, BOX, {"D": "free"})


def test_hdi_of_a_known_distribution():
    # Exponential(1): the 90 % HDI is [0, ln 10] (the density falls monotonically from 0).
    draws = stats.expon.rvs(size=200_000, random_state=0)
    lo, hi = series.hdi(draws, 0.9)
    assert lo < 1e-3 and abs(hi - math.log(10)) < 0.02
    # Normal: the shortest 90 % interval is 2 × 1.6449 wide (a sample HDI is a little short: it is a minimum)
    lo, hi = series.hdi(stats.norm.rvs(size=200_000, random_state=1), 0.9)
    assert abs((hi - lo) - 2 * 1.6449) < 0.03 and abs(lo + hi) < 0.1


def test_likelihood_rebuilt_from_a_report_equals_the_estimate_s():
    import domainfit as df

    r = df.estimate("example", posterior=df.PosteriorConfig(chains=1, samples=200, warmup=60, predictive=0))
    rebuilt = series.likelihood_from_report(r.report)
    original = r.posterior.problem.likelihood
    for theta in ({"D": 0.3e-3, "sigma": 0.1}, {"D": 0.8e-3, "sigma": 0.17}):
        np.testing.assert_allclose(float(rebuilt(theta)), float(original(theta)), rtol=1e-5)
    with pytest.raises(DomainfitError, match="no posterior"):
        series.likelihood_from_report(df.estimate("example").report)
