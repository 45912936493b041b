"""The image-to-posterior pipeline against a posterior known in closed form, and the mutations it must
catch (issue 34, acceptance 4).

An emulator whose mean is linear in θ, whose covariance is constant and whose own error is zero makes the
likelihood of the observed statistics Gaussian in θ: under a flat prior far wider than the posterior,
θ | s ~ N(θ*, (Jᵀ Σ_eff⁻¹ J)⁻¹) with μ(θ*) = s_obs, J = ∂μ/∂θ and Σ_eff the training covariance at the
observed area (``surrogate.likelihood.area_scaled``: the state's share ρ scales as a_train/a_obs, the
view's is floored). ``posterior_from_image`` — statistics → likelihood → MAP → NUTS — must give that
mean and covariance; the same check run on code with the covariance doubled, the observation ignored or
the image's term dropped must fail, each shown here on the mutated code.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit import inference as inf
from domainfit.surrogate import Emulator, polynomial
from domainfit.surrogate import likelihood as lik_module
from domainfit.workflows import pipeline

NAMES = ("D", "sigma")
LO, HI = np.array([0.0, 0.0]), np.array([2e-3, 0.4])
TRAIN_AREA = (0.5e-6) ** 2
PIXEL, SIDE = 1e-9, 1000  # a 1 µm² image: a_train/a_obs = 0.25
RHO = (0.5, 0.3)  # between-state shares of the two statistics' noise
SD = np.array([0.02, 0.015])
CORR = 0.4


def _emulator() -> Emulator:
    pm, pv = polynomial.powers(2, 1), polynomial.powers(2, 0)
    # μ = b0 + B x, x the box-normalised inputs: a well-conditioned, correlated map
    rows = {(0, 0): [0.5, 0.3], (1, 0): [0.20, 0.05], (0, 1): [-0.04, 0.12]}
    beta = np.array([rows[tuple(p)] for p in pm.tolist()])
    gamma = np.log(SD**2)[None, :]
    chol = np.linalg.cholesky(np.array([[1.0, CORR], [CORR, 1.0]]))
    report = dict(surrogate_error=0.0, n_train=1000, between_state_share=list(RHO))
    f = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return Emulator(names=NAMES, lo=f(LO), hi=f(HI), powers_mean=tuple(map(tuple, pm.tolist())),
                    powers_var=tuple(map(tuple, pv.tolist())), beta=f(beta), gamma=f(gamma), corr_chol=f(chol),
                    gram_inv=f(np.zeros((len(pm), len(pm)))), area=TRAIN_AREA, stat_names=("a", "b"),
                    report=json.dumps(report), train_mean=f([0.5, 0.3]), train_cov_chol=f(np.eye(2)),
                    train_min=f([-1.0, -1.0]), train_max=f([2.0, 2.0]))


TRUTH = {"D": 1.3e-3, "sigma": 0.27}


def closed_form(emu: Emulator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s_obs = μ(θ*), posterior mean θ*, posterior covariance) of the image (module docstring)."""
    theta = jnp.asarray([TRUTH[n] for n in NAMES], jnp.float32)
    mu = lambda t: emu.predict(dict(zip(NAMES, t)))[0]  # noqa: E731
    J = np.asarray(jax.jacfwd(mu)(theta), np.float64)
    r = TRAIN_AREA / (SIDE * PIXEL) ** 2
    f = np.array([rho * r + (1 - rho) * max(r, 1.0) for rho in RHO])
    cov_train = np.diag(SD) @ np.array([[1.0, CORR], [CORR, 1.0]]) @ np.diag(SD)
    cov = cov_train * np.sqrt(f[:, None] * f[None, :])
    post_cov = np.linalg.inv(J.T @ np.linalg.solve(cov, J))
    return np.asarray(mu(theta), np.float64), np.array([TRUTH[n] for n in NAMES]), post_cov


def _run(emu, s_obs, key=0):
    jax.clear_caches()  # a mutation must not meet the real code's compiled posterior
    image = jnp.broadcast_to(jnp.sign(jnp.sin(2 * jnp.pi * (jnp.arange(SIDE) + 0.5) / 80)), (SIDE, SIDE))
    priors = inf.PriorModel({"D": inf.Prior.uniform("D", *LO[:1], *HI[:1]),
                             "sigma": inf.Prior.uniform("sigma", LO[1], HI[1])})
    return pipeline.posterior_from_image(
        image, PIXEL, emulator=emu, seed={"D": 1.0e-3, "sigma": 0.2}, key=jax.random.key(key), priors=priors,
        summary_fn=lambda im, px: jnp.asarray(s_obs, jnp.float32) + 0.0 * jnp.mean(im), num_chains=2,
        num_warmup=300, num_samples=600, progress=False, predictive_draws=0, emit_warnings=False)


def mismatches(result, mean, cov) -> list[str]:
    """What differs between the sampled posterior and the closed form (empty: it holds): each mean within
    5 Monte-Carlo errors (ESS), each sd within 15 %, the correlation within 0.15."""
    post = result.idata.posterior
    draws = np.stack([np.asarray(post[n]).reshape(-1) for n in NAMES], axis=1)
    sd = np.sqrt(np.diag(cov))
    out = []
    for i, n in enumerate(NAMES):
        ess = max(float(result.summary["parameters"][n]["ess_bulk"] or 1.0), 1.0)
        if abs(draws[:, i].mean() - mean[i]) > 5 * sd[i] / np.sqrt(ess):
            out.append(f"{n} mean {draws[:, i].mean():.4g} against {mean[i]:.4g}")
        if abs(draws[:, i].std() / sd[i] - 1) > 0.15:
            out.append(f"{n} sd {draws[:, i].std():.4g} against {sd[i]:.4g}")
    corr = np.corrcoef(draws.T)[0, 1]
    if abs(corr - cov[0, 1] / (sd[0] * sd[1])) > 0.15:
        out.append(f"correlation {corr:.2f} against {cov[0, 1] / (sd[0] * sd[1]):.2f}")
    return out


@pytest.fixture(scope="module")
def known():
    emu = _emulator()
    return (emu, *closed_form(emu))


def test_the_pipeline_gives_the_closed_form_posterior(known):
    emu, s_obs, mean, cov = known
    # the posterior is narrow inside the box: its flat prior does not truncate it
    assert np.all(mean - 6 * np.sqrt(np.diag(cov)) > LO) and np.all(mean + 6 * np.sqrt(np.diag(cov)) < HI)
    assert mismatches(_run(emu, s_obs), mean, cov) == []


def test_a_doubled_covariance_is_caught(known, monkeypatch):
    emu, s_obs, mean, cov = known
    real = lik_module.gaussian_log_density
    monkeypatch.setattr(lik_module, "gaussian_log_density", lambda s, m, c: real(s, m, 2.0 * c))
    assert any(" sd " in m for m in mismatches(_run(emu, s_obs), mean, cov))


def test_an_ignored_observation_is_caught(known, monkeypatch):
    emu, s_obs, mean, cov = known
    real = lik_module.EmulatorLikelihood.gaussian

    def ignoring(self, theta):  # the statistics replaced by the training set's mean
        mu, c = self.moments(theta)
        return lik_module.gaussian_log_density(self.emulator.train_mean, mu, c)

    monkeypatch.setattr(lik_module.EmulatorLikelihood, "gaussian", ignoring)
    assert real is not ignoring
    assert any(" mean " in m for m in mismatches(_run(emu, s_obs), mean, cov))


def test_a_dropped_image_term_is_caught(known, monkeypatch):
    emu, s_obs, mean, cov = known
    monkeypatch.setattr(lik_module.EmulatorLikelihood, "__call__", lambda self, theta: 0.0 * theta["D"])
    assert len(mismatches(_run(emu, s_obs), mean, cov)) >= 2
