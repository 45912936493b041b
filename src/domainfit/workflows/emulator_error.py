"""The emulator's share of an evidence's and a Bayes factor's error (``compare`` of emulator models).

The SMC error of log Z is Monte Carlo only: run again, the same emulator gives the same evidence within
it. Refitted on other training states, the emulator's mean would differ by about its own uncertainty
V_μ (``Emulator.predict``), and so would every log Z. That spread is drawn here without refitting: B
variants of each emulator whose mean and log-variance coefficients differ from the fit's as a refit's
would,

    β' = β + G^{1/2} Z diag(σ(θ̄) √deff),   γ' = γ + (ΦᵥᵀΦᵥ)^{-1/2} Z' √(2 deff),   Z, Z' ~ N(0, I),

G = (ΦᵀΦ + λI)⁻¹ of the fit, σ(θ̄) the statistics' noise sd at the posterior mean θ̄ and deff the design
effect of several views per state (``fitting.state_level``), so that the variants' mean at θ̄ varies
by V_μ(θ̄); the log-variance's covariance is that of a Gaussian maximum-likelihood fit, 2 (ΦᵥᵀΦᵥ)⁻¹
(a model far from the data — σ fixed where the image says otherwise — is judged by the noise model
as much as by the mean). Each variant's log Z follows from the reference run's final particles (draws of the
posterior) by importance weighting, log Z' − log Z = log E_post[L'(θ)/L(θ)], exact as the particles
grow and cheap (one likelihood evaluation per particle and variant). Models that share an emulator
share its variants, so a Bayes factor between them (σ free against σ fixed on one emulator) keeps
the correlation: its emulator error is the spread of the variants' log BF.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..surrogate.fitting import RIDGE

DRAWS = 40
"""Emulator variants per comparison (the error of an sd from 40 draws is about 11 %)."""


def emulator_variants(emulator, theta_ref: Mapping[str, float], n: int, rng: np.random.Generator) -> list:
    """``n`` emulators whose mean coefficients are drawn as a refit's would differ (module docstring)."""
    _, cov, _ = emulator.predict({k: float(v) for k, v in theta_ref.items()})
    sd = np.sqrt(np.clip(np.diag(np.asarray(cov, np.float64)), 0.0, None))
    factor = emulator.provenance.mean_var_factor
    if factor is not None and len(factor) == len(sd):
        sd = sd * np.sqrt(np.asarray(factor))
    deff = np.ones(len(sd)) if factor is None or len(factor) != len(sd) else np.asarray(factor, np.float64)
    G = np.asarray(emulator.gram_inv, np.float64)
    root = _root(G)  # root rootᵀ = G
    # the log-variance model's monomials are among the mean's: ΦᵥᵀΦᵥ is a block of ΦₘᵀΦₘ = G⁻¹ − λI, and
    # a Gaussian maximum-likelihood fit of log σ² has covariance 2 (ΦᵥᵀΦᵥ)⁻¹ (Fisher information ½ per view)
    pm = [tuple(p) for p in emulator.powers_mean]
    sub = [pm.index(tuple(p)) for p in emulator.powers_var]
    gram = np.linalg.inv(G) - RIDGE * np.eye(len(G))
    root_v = _root(np.linalg.inv(gram[np.ix_(sub, sub)]))
    beta, gamma = np.asarray(emulator.beta, np.float64), np.asarray(emulator.gamma, np.float64)
    out = []
    for _ in range(n):
        b = beta + root @ rng.standard_normal(beta.shape) * sd[None, :]
        g = gamma + root_v @ rng.standard_normal(gamma.shape) * np.sqrt(2.0 * deff)[None, :]
        out.append(eqx.tree_at(lambda e: (e.beta, e.gamma), emulator,
                               (jnp.asarray(b, emulator.beta.dtype), jnp.asarray(g, emulator.gamma.dtype))))
    return out


def _root(a: np.ndarray) -> np.ndarray:
    """A square root R of a symmetric positive semi-definite matrix, R Rᵀ = a."""
    w, V = np.linalg.eigh(0.5 * (a + a.T))
    return V * np.sqrt(np.clip(w, 0.0, None))


@eqx.filter_jit
def _log_likelihoods(density, u):
    return jax.vmap(lambda v: jnp.nan_to_num(density.log_likelihood(v), nan=-jnp.inf))(u)


def log_z_shifts(problem, variant_problems: list, particles) -> np.ndarray:
    """log Z' − log Z of each variant problem [B] from the reference ``problem``'s posterior particles [n, d]
    (importance weights L'/L; a variant under which no particle is finite gives −inf)."""
    u = jnp.asarray(particles)
    ll = np.asarray(_log_likelihoods(problem.density, u), np.float64)
    ok = np.isfinite(ll)
    out = []
    for p in variant_problems:
        d = np.asarray(_log_likelihoods(p.density, u), np.float64)[ok] - ll[ok]
        m = np.max(d) if d.size else -np.inf
        out.append(float(m + np.log(np.mean(np.exp(d - m)))) if np.isfinite(m) else -np.inf)
    return np.asarray(out)


def emulator_errors(problems: Mapping, particles: Mapping, emulators: Mapping, rebuild, *, draws: int = DRAWS,
                    seed: int = 0) -> tuple[dict, np.ndarray]:
    """({model: sd of its log Z over emulator variants}, the shifts [B, models] in ``problems``' order).

    Args:
        problems: {model: the ``Problem`` whose evidence was estimated}.
        particles: {model: its final SMC particles in u [n, d]}.
        emulators: {model: its emulator}; models whose emulator is the same object share variants.
        rebuild: (model, variant emulator) → the model's ``Problem`` with that emulator.
    """
    rng = np.random.default_rng(seed)
    names = list(problems)
    shared: dict[int, list] = {}
    shifts = np.zeros((draws, len(names)))
    for j, name in enumerate(names):
        emu = emulators[name]
        if id(emu) not in shared:  # the posterior mean of the first model that uses it
            prob = problems[name]
            th = jax.vmap(prob.prior.theta)(jnp.asarray(particles[name]))
            ref = {k: float(np.mean(np.asarray(v))) for k, v in th.items() if k in emu.names}
            shared[id(emu)] = emulator_variants(emu, ref, draws, rng)
        variants = [rebuild(name, v) for v in shared[id(emu)]]
        shifts[:, j] = log_z_shifts(problems[name], variants, particles[name])
    return {n: float(np.std(shifts[:, j], ddof=1)) for j, n in enumerate(names)}, shifts


def bayes_factor_errors(shifts: np.ndarray, names: list, best: str) -> dict:
    """{model: sd over the variants of log BF(best : model)} (shared variants keep their correlation)."""
    b = names.index(best)
    return {n: float(np.std(shifts[:, b] - shifts[:, j], ddof=1)) for j, n in enumerate(names) if n != best}
