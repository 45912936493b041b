"""The evidence of a film for one image: log Z = log ∫ L(s_obs | D, σ, constants) p(D, σ, constants).

The film's model (``posterior.film_model``) written on the unit cube: u₀ the position of D in its box
(uniform), u₁ σ's (uniform), and each uncertain constant through the inverse of its prior's CDF (a normal
truncated at zero, or uniform over a range) — so the prior is uniform on the cube and the likelihood is
``posterior.log_likelihood``. Tempered SMC (``inference.evidence.log_evidence``) integrates it. The
prior of a film whose constants could leave K_eff ≤ 0 is the one restricted to perpendicular films (draws
are drawn again): log Z is corrected by the log of that prior mass, found by Monte Carlo.

Its error has two parts: the SMC runs' spread, and the emulator's — the evidence recomputed with the
emulator refitted on random subsets of the design points (delete-d jackknife, d = ⌈n/5⌉), so that a
Bayes factor resting on a few simulations shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import numpy as np

from ..films import Film
from ..units import MU0
from .emulator import FilmEmulator, fit_emulator
from .posterior import SIGMA_RANGE, constant_sites, log_likelihood


class CubePrior:
    """The uniform prior on [0, 1]^dim (compared by identity in compiled programs)."""

    def __init__(self, dim: int):
        self.dim = int(dim)

    def sample_u(self, n: int, *, key):
        import jax

        return jax.random.uniform(key, (int(n), self.dim))

    def log_prior(self, u):
        import jax.numpy as jnp

        return jnp.where(jnp.all((u >= 0) & (u <= 1)), 0.0, -jnp.inf)


class CubeDensity(eqx.Module):
    """log prior (the cube) and log likelihood of u, for the compiled SMC functions."""

    prior: CubePrior = eqx.field(static=True)
    likelihood: Callable

    def log_prior(self, u):
        return self.prior.log_prior(u)

    def log_likelihood(self, u):
        return self.likelihood(u)


@dataclasses.dataclass
class CubeProblem:
    prior: CubePrior
    density: CubeDensity


def _from_cube(film: Film, u, sigma_range):
    """(r, σ, {site: SI value}) of the film model at cube point ``u`` (JAX)."""
    import jax.numpy as jnp
    from jax.scipy.special import ndtr, ndtri

    r = u[0]
    sigma = sigma_range[0] + u[1] * (sigma_range[1] - sigma_range[0])
    drawn = {}
    for j, (site, _, c) in enumerate(constant_sites(film)):
        v = u[2 + j]
        if c.low is not None:
            drawn[site] = c.low + v * (c.high - c.low)
        else:
            f0 = ndtr(-c.value / c.sd)
            q = jnp.clip(f0 + v * (1 - f0), 1e-12, 1 - 1e-12)
            drawn[site] = c.value + c.sd * ndtri(q)
    return r, sigma, drawn


def cube_problem(emulator: FilmEmulator, film: Film, s_obs, *, sigma_range=SIGMA_RANGE, measurements=(),
                 d_range=None) -> CubeProblem:
    """The film's posterior problem on the unit cube (module docstring)."""
    import jax.numpy as jnp

    s_obs = jnp.asarray(np.asarray(s_obs, np.float64))
    measurements = tuple(measurements)

    def likelihood(u):
        r, sigma, drawn = _from_cube(film, u, sigma_range)
        ll, _ = log_likelihood(emulator, film, s_obs, r, sigma, drawn, measurements, d_range)
        return jnp.where(ll > -1e5, ll, -jnp.inf)  # the walls: outside the model's support

    prior = CubePrior(2 + len(constant_sites(film)))
    return CubeProblem(prior, CubeDensity(prior, likelihood))


def perpendicular_mass(film: Film, n: int = 20000, seed: int = 0) -> float:
    """The film prior's probability of K_eff > 0 (Monte Carlo; 1 for a film with exact constants)."""
    import jax
    import jax.numpy as jnp

    sites = constant_sites(film)
    if not sites:
        return 1.0
    from .posterior import constants_drawn

    u = jax.random.uniform(jax.random.key(seed), (n, 2 + len(sites)))

    def ok(v):
        _, _, drawn = _from_cube(film, v, SIGMA_RANGE)
        c = constants_drawn(film, lambda site, _c: drawn[site])
        return c["Ku"] - 0.5 * MU0 * c["Ms"] ** 2 > 0

    return float(jnp.mean(jax.vmap(ok)(u)))


def _subset(sims, keep: np.ndarray):
    return dataclasses.replace(sims, points=sims.points[keep], stats=sims.stats[keep], seconds=sims.seconds[keep],
                               converged=sims.converged[keep], images=None if sims.images is None else sims.images[keep])


def film_evidence(sims, film: Film, s_obs, names, slope, observed_area: float, *, sigma_range=SIGMA_RANGE,
                  measurements=(), d_range=None, particles: int = 1000, runs: int = 4, refits: int = 5,
                  key: int = 0, history: str = "unknown") -> dict:
    """log Z of ``film`` for the statistics ``s_obs`` (``names``) with its error (module docstring):
    {log_evidence, error, smc_error, emulator_error, runs, refit_log_evidence, perpendicular_mass}."""
    import jax

    from ..inference.evidence import log_evidence

    emulator = fit_emulator(sims, observed_area, names, slope, history)
    kw = dict(sigma_range=sigma_range, measurements=measurements, d_range=d_range)
    mass = perpendicular_mass(film)
    shift = math.log(mass) if mass > 0 else -math.inf
    main = log_evidence(cube_problem(emulator, film, s_obs, **kw), key=jax.random.key(key), n_particles=particles,
                        n_runs=runs)
    n = len(sims.points)
    d = max(1, math.ceil(n / 5))
    rng = np.random.default_rng(key)
    refit = []
    for b in range(refits):
        keep = np.sort(rng.choice(n, n - d, replace=False))
        try:
            em_b = fit_emulator(_subset(sims, keep), observed_area, names, slope, history)
        except Exception:  # noqa: BLE001 — a subset with too few states: skip it
            continue
        ev = log_evidence(cube_problem(em_b, film, s_obs, **kw), key=jax.random.key(key + 1 + b),
                          n_particles=max(200, particles // 2), n_runs=2)
        refit.append(ev.log_evidence)
    emulator_error = math.sqrt((n - d) / d * np.var(refit, ddof=1)) if len(refit) >= 2 else math.nan
    return {"log_evidence": main.log_evidence - shift, "error": math.hypot(main.error, emulator_error)
            if math.isfinite(emulator_error) else main.error,
            "smc_error": main.error, "emulator_error": emulator_error, "runs": [float(v) for v in main.runs],
            "refit_log_evidence": [float(v) for v in refit], "perpendicular_mass": mass,
            "wall_time_s": main.wall_time_s}
