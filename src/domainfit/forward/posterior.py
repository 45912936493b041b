"""The posterior of D, σ and a film's uncertain constants on its emulator, and D's error budget.

Parameters: r = D/D_c ~ U(0, 1) (D uniform below the film's D_c = 4√(A K_eff)/π, which moves with the
constants; or uniform over a box [lo, min(hi, D_c)] given, e.g. the CNN's training box for its own film), σ ~ U(σ_lo, σ_hi), each uncertain constant from its ``Film`` prior (normal truncated at
zero, or uniform over a range; K_eff > 0 enforced). Likelihood: the image's statistics s ~ N(μ(x, σ, Δ),
Σ_r + Σ_i + Σ_e(x, σ)), μ the film emulator's mean of the recorded images' statistics, Σ_r the
relaxation scatter, Σ_i the instrument's, Σ_e the emulator's own error (``emulator``). NUTS (numpyro), chains vectorised.

The error budget linearises the model at the posterior mean (θ = D, σ, constants; J = ∂μ/∂θ): with
Σ_tot the likelihood's covariance and Λ the priors' precisions, C = (JᵀΣ_tot⁻¹J + Λ)⁻¹ and each noise
source j contributes [C JᵀΣ_tot⁻¹ Σ_j Σ_tot⁻¹ J C]_DD, each constant's prior [C Λ_k C]_DD — with σ held
at its mean; σ's share is what D's variance gains when σ is free. The shares sum to the linear
variance, reported beside the sampled one.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import DomainfitError
from ..films import CONSTANTS, Film
from ..units import MU0, PARAMETER_UNITS
from .design import reduced_wall_energy
from .emulator import FilmEmulator, log_wall_width

X_MARGIN, X_WALL = 0.5, 0.05
"""The quadratic emulator is trusted up to ``X_MARGIN`` beyond the design's x span; past it the
likelihood falls as a half-normal of sd ``X_WALL`` (a far quadratic can turn over and its own error
grows as x⁴, so an image the film fits badly near the design would otherwise send chains into
extrapolated modes: R-hat 3.2 seen on the co-pt example read as a 1 nm film). A posterior against the
wall widens the design (``workflows.film_posterior``)."""

SIGMA_RANGE = (0.02, 0.2)
"""Default prior range of σ (the film box of docs/films.md)."""


def constant_sites(film: Film):
    """[(site name, key in values, Constant)] of the film's uncertain constants."""
    out = []
    for name in CONSTANTS:
        c = getattr(film, name)
        if not c.exact:
            out.append(("K_eff" if name == "Ku" and film.effective else name, name, c))
    return out


def constants_drawn(film: Film, sample):
    """{Ms, Ku, A, thickness} with the uncertain ones drawn through ``sample(site, constant)``."""
    values = film.values()
    out = dict(values)
    if film.effective:
        out["Ku"] = film.K_eff  # K_eff until Ms is known
    for site, key, c in constant_sites(film):
        out[key] = sample(site, c)
    if film.effective:
        out["Ku"] = out["Ku"] + 0.5 * MU0 * out["Ms"] ** 2
    return out


def log_likelihood(emulator: FilmEmulator, film: Film, s_obs, r, sigma, drawn: dict, measurements=(), d_range=None):
    """(log L, D) at r = the position of D in its box, σ and the uncertain constants ``drawn`` (site →
    SI value, ``constant_sites``): the statistics' Gaussian, the measurements' terms and the walls
    (not perpendicular, D's box empty, x far beyond the design) as steep penalties (JAX)."""
    import jax.numpy as jnp
    from jax.scipy.stats import multivariate_normal

    v = constants_drawn(film, lambda site, c: drawn[site])
    k_eff = v["Ku"] - 0.5 * MU0 * v["Ms"] ** 2
    walls = jnp.where(k_eff > 0, 0.0, -1e6)
    k_eff = jnp.maximum(k_eff, 1.0)
    ku = 0.5 * MU0 * v["Ms"] ** 2 + k_eff  # = Ku where the film is perpendicular (elsewhere the wall rules)
    d_c = 4 * jnp.sqrt(v["A"] * k_eff) / math.pi
    if d_range is None:
        d = r * d_c
    else:
        top = jnp.minimum(d_range[1], d_c)
        walls = walls + jnp.where(top > d_range[0], 0.0, -1e6)
        d = d_range[0] + r * (top - d_range[0])
    x = reduced_wall_energy(d, v["Ms"], ku, v["A"], v["thickness"])
    mu = emulator.mean(x, sigma, log_wall_width(v["Ms"], ku, v["A"]))
    cov = emulator.covariance(x, sigma)
    lo, hi = emulator.x_range
    out = jnp.maximum(lo - X_MARGIN - x, 0.0) + jnp.maximum(x - hi - X_MARGIN, 0.0)
    ll = walls - 0.5 * (out / X_WALL) ** 2 + multivariate_normal.logpdf(jnp.asarray(s_obs), mu, cov)
    theta = {"D": d, "sigma": sigma, "Ms": v["Ms"], "Ku": ku, "A": v["A"]}
    for m in measurements:
        ll = ll + m.log_likelihood(theta)
    return ll, d


def film_model(emulator: FilmEmulator, film: Film, s_obs, sigma_range=SIGMA_RANGE, measurements=(), d_range=None):
    """The numpyro model (module docstring); ``s_obs`` the image's statistics (``emulator.names``);
    ``measurements`` (``observations.Measurement``) add their Gaussian terms, predicted at the film's
    constants as drawn (a DMI field converts D with this draw's Ms and wall width); ``d_range`` (lo, hi)
    [J/m²]: D uniform on [lo, min(hi, D_c)] instead of [0, D_c)."""
    import numpyro
    import numpyro.distributions as dist

    r = numpyro.sample("r", dist.Uniform(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.Uniform(*sigma_range))
    drawn = {}
    for site, _, c in constant_sites(film):
        if c.low is not None:
            prior = dist.Uniform(c.low / _scale(site), c.high / _scale(site))
        else:
            prior = dist.TruncatedNormal(c.value / _scale(site), c.sd / _scale(site), low=0.0)
        drawn[site] = numpyro.sample(site, prior) * _scale(site)
    ll, d = log_likelihood(emulator, film, s_obs, r, sigma, drawn, measurements, d_range)
    numpyro.deterministic("D", d)
    numpyro.factor("likelihood", ll)


def _measure_scale(m) -> float:
    """A measurement in units of order one in the budget's linear algebra (mT, mJ/m², kA/m, …)."""
    return 1e-3 if m.kind in ("dmi_field", "half_field") else PARAMETER_UNITS[m.kind][1]


_SCALES = {"Ms": 1e6, "Ku": 1e6, "K_eff": 1e6, "A": 1e-11, "thickness": 1e-9}


def _scale(site: str) -> float:
    """Sample each constant in units of order one (MA/m, MJ/m³, 10 pJ/m, nm): NUTS adapts one step size."""
    return _SCALES[site]


@dataclasses.dataclass
class FilmPosterior:
    """Draws (SI; chains flattened), their summary and D's error budget."""

    draws: dict
    summary: dict
    budget: dict
    diagnostics: dict


def run_nuts(emulator: FilmEmulator, film: Film, s_obs, *, d_init: float, key: int = 0, chains: int = 4,
             warmup: int = 500, samples: int = 1000, sigma_range=SIGMA_RANGE, progress: bool = False,
             measurements=(), d_range=None) -> FilmPosterior:
    """NUTS on ``film_model`` from D = ``d_init`` [J/m²], σ mid-range, constants at their values;
    ``d_range``: D's prior box [J/m²] (default uniform below the film's D_c)."""
    measurements = tuple(measurements)
    check_measurements(measurements)
    if d_range is not None:
        d_range = (float(d_range[0]), float(d_range[1]))
        if not 0 <= d_range[0] < min(d_range[1], film.critical_dmi):
            raise DomainfitError(f"D's prior range {d_range[0] * 1e3:.3g}–{d_range[1] * 1e3:.3g} mJ/m²: need 0 ≤ lower < "
                                 f"upper and lower below the film's D_c = {film.critical_dmi * 1e3:.3g} mJ/m²")
    lo, hi = (0.0, film.critical_dmi) if d_range is None else (d_range[0], min(d_range[1], film.critical_dmi))
    import jax
    import numpyro
    from numpyro.diagnostics import summary as nsummary
    from numpyro.infer import MCMC, NUTS, init_to_value

    init = {"r": float(np.clip((d_init - lo) / (hi - lo), 0.05, 0.95)), "sigma": float(np.mean(sigma_range))}
    for site, key_, c in constant_sites(film):
        init[site] = (film.K_eff if site == "K_eff" else c.value) / _scale(site)
    kernel = NUTS(film_model, init_strategy=init_to_value(values=init), target_accept_prob=0.9)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method="vectorized",
                progress_bar=progress)
    with numpyro.validation_enabled(False):
        mcmc.run(jax.random.key(key), emulator, film, np.asarray(s_obs), sigma_range, measurements, d_range)
    grouped = mcmc.get_samples(group_by_chain=True)
    diag = nsummary({k: np.asarray(v) for k, v in grouped.items()}, prob=0.9)
    draws = {k: np.asarray(v).reshape(-1) for k, v in mcmc.get_samples().items()}
    for site, _, _ in constant_sites(film):
        draws[site] = draws[site] * _scale(site)
    summary = {k: _summarise(draws[k]) for k in ["D", "sigma", *(s for s, _, _ in constant_sites(film))]}
    diagnostics = {"r_hat_max": float(max(np.max(d["r_hat"]) for d in diag.values())),
                   "ess_bulk_min": float(min(np.min(d["n_eff"]) for d in diag.values())),
                   "divergences": int(np.sum(np.asarray(mcmc.get_extra_fields()["diverging"])))}
    means = {k: float(np.mean(v)) for k, v in draws.items()}
    budget = error_budget(emulator, film, means, float(np.var(draws["D"])), sigma_range, measurements)
    return FilmPosterior(draws=draws, summary=summary, budget=budget, diagnostics=diagnostics)


RHAT_LIMIT = 1.05
DIVERGENCE_LIMIT = 0.01
"""Share of the draws that may be divergent before the report warns (a divergent transition marks a region
the sampler could not follow — a ridge or the prior's edge — so more than a few bias the draws)."""


def sampler_warnings(diagnostics: dict, n_draws: int) -> list[str]:
    """What the report says about the sampler: R-hat above ``RHAT_LIMIT``, divergences above
    ``DIVERGENCE_LIMIT`` of the ``n_draws``."""
    out = []
    if diagnostics["r_hat_max"] > RHAT_LIMIT:
        out.append(f"NUTS did not mix (R-hat {diagnostics['r_hat_max']:.3f}): run longer chains")
    n_div = int(diagnostics.get("divergences", 0))
    if n_div > DIVERGENCE_LIMIT * n_draws:
        out.append(f"{n_div} of {n_draws} draws ({n_div / n_draws:.1%}) ended in divergent transitions: the sampler "
                   "could not follow the posterior there (a ridge, or the prior's edge), so it may be biased; give "
                   "more constants as known, or a measurement beside the image (--dmi-field) to narrow the ridge")
    return out


def _summarise(x: np.ndarray, prob: float = 0.9) -> dict:
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return {"mean": float(np.mean(x)), "sd": float(np.std(x)), "median": float(np.median(x)),
            "interval": [float(lo), float(hi)], "prob": prob}


def measurement_z(post: "FilmPosterior", film: Film, measurements) -> list[float]:
    """Each measurement against what ``post`` (a posterior of the image alone) predicts for it:
    (value − mean prediction)/√(spread of the predictions + the measurement's variance)."""
    draws = post.draws
    full = {"D": draws["D"], "sigma": draws["sigma"], **constants_drawn(film, lambda site, c: draws[site])}
    out = []
    for m in measurements:
        pred = np.asarray(m.predict(full), np.float64)
        var = float(np.mean(np.asarray(m.variance(full), np.float64)))
        out.append(float((m.value - pred.mean()) / math.sqrt(pred.var() + var)))
    return out


def check_measurements(measurements) -> None:
    """Refuse what the film path cannot predict: H½'s model is the co-pt set's fit."""
    from ..observations.measurements import Measurement

    for m in measurements:
        if not isinstance(m, Measurement):
            raise DomainfitError(f"measurement {m!r}: build it with observations.Measurement or "
                                 "observations.parse_measurement('dmi_field', '28mT±3mT')")
        if m.kind == "half_field":
            raise DomainfitError("the half-field (H½) model is fitted to the co-pt set's simulations only: with "
                                 "another film give the DMI field (--dmi-field) or a direct measurement (--measure)")


def error_budget(emulator: FilmEmulator, film: Film, means: dict, sampled_var: float, sigma_range,
                 measurements=()) -> dict:
    """Shares of D's variance (module docstring): image, instrument, emulator, each measurement, each
    constant, σ."""
    import jax
    import jax.numpy as jnp

    sites = constant_sites(film)
    names = ["D", "sigma", *(s for s, _, _ in sites)]
    theta0 = jnp.asarray([means[n] for n in names], dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)

    def mean_fn(theta):
        vals = dict(zip(names, theta))
        v = constants_drawn(film, lambda site, c: vals[site])
        x = reduced_wall_energy(vals["D"], v["Ms"], v["Ku"], v["A"], v["thickness"])
        stats = emulator.mean(x, vals["sigma"], log_wall_width(v["Ms"], v["Ku"], v["A"]))
        full = {"D": vals["D"], "sigma": vals["sigma"], "Ms": v["Ms"], "Ku": v["Ku"], "A": v["A"]}
        return jnp.concatenate([stats, jnp.stack([m.predict(full) / _measure_scale(m) for m in measurements])]) \
            if measurements else stats

    J = np.asarray(jax.jacfwd(mean_fn)(theta0), np.float64)
    v = dict(film.values())
    x0 = float(reduced_wall_energy(means["D"], v["Ms"], v["Ku"], v["A"], v["thickness"]))
    e = np.diag(np.asarray(emulator.emulator_variance(x0, means["sigma"]), np.float64))
    k, n_m = len(emulator.coef[0]), len(measurements)
    pad = lambda a: np.pad(np.asarray(a, np.float64), ((0, n_m), (0, n_m)))
    noise = {"image (relaxation scatter)": pad(emulator.scatter), "emulator": pad(e),
             "instrument": pad(emulator.instrument)}
    if emulator.history != "random":
        noise["history (field-cycled or not)"] = pad(np.diag(np.asarray(emulator.history_variance(means["sigma"]), np.float64)))
    for i, m in enumerate(measurements):
        cov = np.zeros((k + n_m, k + n_m))
        full = {"D": means["D"], "sigma": means["sigma"], **constants_drawn(film, lambda site, c: means[site])}
        cov[k + i, k + i] = float(m.variance(full)) / _measure_scale(m) ** 2
        noise[f"measurement {m.kind}"] = cov
    total = sum(noise.values())
    prior_var = {"sigma": (sigma_range[1] - sigma_range[0]) ** 2 / 12}
    for site, key, c in sites:
        prior_var[site] = (c.sd if c.low is None else (c.high - c.low) / math.sqrt(12)) ** 2
    lam = np.diag([0.0] + [1.0 / prior_var[n] for n in names[1:]])
    si = np.linalg.inv(total)

    def covariance(free_sigma: bool):
        keep = [i for i, n in enumerate(names) if free_sigma or n != "sigma"]
        Jk, lk = J[:, keep], lam[np.ix_(keep, keep)]
        return np.linalg.inv(Jk.T @ si @ Jk + lk), Jk, lk, keep

    C, Jk, lk, keep = covariance(False)
    shares = {}
    for name, cov in noise.items():
        shares[name] = float((C @ Jk.T @ si @ cov @ si @ Jk @ C)[0, 0])
    for i, k in enumerate(keep):
        if names[k] != "D":
            only = np.zeros_like(lk)
            only[i, i] = lk[i, i]
            shares[names[k]] = float((C @ only @ C)[0, 0])
    fixed_var = float(C[0, 0])
    C_free, *_ = covariance(True)
    linear = float(C_free[0, 0])
    shares["sigma (unknown)"] = max(linear - fixed_var, 0.0)
    total_var = sum(shares.values())
    return {"shares": {k: v / total_var for k, v in sorted(shares.items(), key=lambda kv: -kv[1])},
            "linear_sd_mJ_per_m2": math.sqrt(total_var) * 1e3,
            "posterior_sd_mJ_per_m2": math.sqrt(sampled_var) * 1e3,
            "linear_over_posterior_variance": total_var / sampled_var if sampled_var > 0 else math.nan}
