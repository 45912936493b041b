"""``estimate(image, film=…, posterior=True)`` for any film: the simulator at the film's constants as the
forward model of the image's domain statistics (``forward``).

Stages (progress on stderr): (1) the image's statistics and the period law's D as a seed; (2) a pilot
of relaxations along the reduced wall energy x to find where the film's mazes have the image's period
(mazes pin shorter than equilibrium stripes, so the law's x is only a start); (3) the design around it
— x in five steps, σ over its prior range, two seeds each (common random numbers) — relaxed or read
from the film's cache, each state recorded by the instrument named or drawn (``forward.instrument``);
(4) the local emulator of the recorded images' statistics and NUTS over D, σ and the uncertain constants, the
design widened once where the posterior leans out of it and refined once inside the posterior where the
emulator is unsure; (5) fresh relaxations at posterior draws as
the predictive check. The report has the film, D and σ with intervals, D's error budget, the
predictive check and the time of each stage.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from .._version import __version__
from ..errors import DomainfitError
from .result import Reported

SEEDS = (0, 1)
PILOT_STEPS = (-0.5, 0.5, 1.5, 2.5, 3.5)
"""Pilot relaxations at x0 + these (x0 the period law's), σ 0.1, one seed."""
DESIGN_STEPS = (-1.0, -0.5, 0.0, 0.5, 1.0)
DESIGN_SIGMAS = (0.02, 0.11, 0.2)
PREDICTIVE_DRAWS = 4
REFINE_RATIO = 1.5
REFINE_X_STEP = 0.125
"""Refinement (stage 4): where the emulator's variance at the posterior mean is over ``REFINE_RATIO`` × the
seeds' for a statistic, points are added at the posterior's quantiles on this x lattice (half the
design's), then the emulator refitted and NUTS run again."""
X_STEP = 0.25
"""Design x values lie on this lattice, so that images of one film share relaxations (the cache)."""
MISFIT_Z = 3.0
MISFIT_P = 0.003
"""The predictive check fails where one statistic lies beyond ``MISFIT_Z`` sd or all of them jointly
beyond the χ² quantile 1 − ``MISFIT_P`` (the per-statistic 3 sd of a normal, two-sided)."""


@dataclasses.dataclass
class FilmPosteriorResult(Reported):
    """The simulator posterior of a film's image: ``report`` (JSON, user units), the draws (SI)."""

    report: dict
    config: dict
    posterior: object
    image: object
    film: object
    forward: dict | None = None
    """What the evidence of the film needs (``forward.evidence.film_evidence``): the simulations, the
    observed statistics and their names, the learned statistics' length slope, the observed area,
    the prior boxes and the measurements."""

    def lines(self) -> list[str]:
        r = self.report
        p = r["parameters"]
        d, s = p["D"], p["sigma"]
        lines = [f"film: {self.film.describe()}",
                 f"{r['instrument']['how']}",
                 f" D = {d['mean']:.3f} ± {d['sd']:.3f} mJ/m^2 (90 % interval [{d['interval'][0]:.3f}, {d['interval'][1]:.3f}])",
                 f" σ = {s['mean']:.3f} ± {s['sd']:.3f} (90 % interval [{s['interval'][0]:.3f}, {s['interval'][1]:.3f}])",
                 *([" with " + "; ".join(m["text"] for m in r["measurements"])] if r.get("measurements") else []),
                 "error budget of D (share of its variance): "
                 + ", ".join(f"{k} {100 * v:.0f} %" for k, v in r["error_budget"]["shares"].items()),
                 f"(simulator posterior: {r['simulations']['count']} relaxations of {r['simulations']['cells']}² cells at "
                 f"{r['simulations']['cell_size_nm']:.3g} nm, {r['simulations']['new']} new; R-hat "
                 f"{r['diagnostics']['r_hat_max']:.3f}; {r['timing']['total_s']:.0f} s)"]
        if r["reasons"]:
            lines = ["NOT TRUSTWORTHY — do not rely on these numbers:", *(f"  - {x}" for x in r["reasons"]), *lines]
        return lines

    def save(self, out: str | Path) -> dict[str, Path]:
        from ..reports.files import write_posterior_files

        return write_posterior_files(out, self.report, config=self.config)


def film_posterior(image, film, *, pixel_size=None, key: int = 0, invert: bool = False, flatten: int | None = None,
                   progress: bool = False, chains: int = 4, warmup: int = 500, samples: int = 1000,
                   cache: Path | None = None, max_cells: int | None = None, instrument: str | None = None,
                   lift=None, resolution=None, measurements=(), d_range=None, sigma_range=None,
                   history: str = "unknown", cluster=None) -> FilmPosteriorResult:
    """The simulator posterior of D and σ (and the film's uncertain constants) from one image (module
    docstring). ``max_cells`` caps the simulation grid (default ``forward.design.MAX_CELLS``);
    ``instrument`` (a family of ``data.instruments``), ``lift`` and ``resolution`` (metres or "25nm")
    say how the image was recorded — unnamed, the simulations are recorded by draws over the training
    instruments (``forward.instrument``). ``measurements`` (``observations.Measurement``: a DMI field, a
    direct D, Ms, …) join the likelihood, predicted at the film's constants as drawn. ``d_range`` [J/m²] and
    ``sigma_range``: the prior boxes of D (default uniform below the film's D_c) and σ (default
    ``forward.posterior.SIGMA_RANGE``). ``history``: "unknown" (default) carries the difference between
    mazes relaxed from random states and field-cycled ones as a model error (``forward.history``);
    "random" for a film known to be quenched. ``cluster`` (``tasks.Cluster`` or a ``distributed.Client``):
    where the relaxations run (``forward.design.simulate_points``); a ``Cluster`` is started once for all stages."""
    from ..tasks import is_client, open_cluster

    if cluster is not None and not is_client(cluster):
        call = {k: v for k, v in locals().items() if k not in ("is_client", "open_cluster", "cluster")}
        with open_cluster(cluster) as client:
            return film_posterior(**call, cluster=client)
    from ..films import parse_film
    from ..forward import design
    from ..forward.emulator import check_span, fit_emulator
    from ..forward.posterior import SIGMA_RANGE, run_nuts, sampler_warnings
    from ..forward.instrument import ImageModel
    from ..forward.statistics import (GEOMETRY_NAMES, LEARNED_NAMES, STAT_NAMES, image_statistics,
                                      learned_length_slope)
    from ..physics.stripes import dmi_from_period
    from .inputs import read_image
    from .result import StageBar

    t0 = time.perf_counter()
    sigma_range = tuple(SIGMA_RANGE if sigma_range is None else (float(sigma_range[0]), float(sigma_range[1])))
    if not 0 <= sigma_range[0] < sigma_range[1] <= 1:
        raise DomainfitError(f"σ's prior range {sigma_range}: need 0 ≤ lower < upper ≤ 1")
    box = dict(sigma_range=sigma_range, d_range=None if d_range is None else (float(d_range[0]), float(d_range[1])))
    from ..forward.history import HISTORIES

    if history not in HISTORIES:
        raise DomainfitError(f"history {history!r}: use one of {', '.join(HISTORIES)}")
    stage = StageBar(5, enabled=progress)
    timing = {}
    film = parse_film(film)
    measurements = tuple(measurements or ())
    from ..forward.posterior import check_measurements

    check_measurements(measurements)
    from .inputs import is_domain_image

    if flatten is None and not is_domain_image(image):
        flatten = 2  # background flattened when reading a file or an array, as estimate does
    img = read_image(image, pixel_size, invert=invert, flatten=flatten)
    stage("image statistics and the period law's seed")
    s_all = image_statistics(img.data, img.pixel_size)
    if not np.all(np.isfinite(s_all[:len(GEOMETRY_NAMES)])):
        raise DomainfitError("the image shows no domain walls: no statistics to compare with simulations")
    names = tuple(n for n, v in zip(STAT_NAMES, s_all) if np.isfinite(v))
    s_obs = np.array([s_all[STAT_NAMES.index(n)] for n in names])
    slope = learned_length_slope(img.data, img.pixel_size) if set(LEARNED_NAMES) <= set(names) else None
    if slope is not None and not np.all(np.isfinite(slope)):
        slope = np.zeros(len(LEARNED_NAMES))
    image_model = ImageModel(pixel_size=img.pixel_size, family=instrument, fixed=_settings(instrument, lift, resolution))
    fov = min(img.shape) * img.pixel_size
    grid = design.film_grid(film, fov)
    if max_cells is not None:
        grid = design.FilmGrid(cells=min(grid.cells, int(max_cells)), cell_size=grid.cell_size)
    v = film.values()
    x_of = lambda d: float(design.reduced_wall_energy(float(d), v["Ms"], v["Ku"], v["A"], v["thickness"]))
    try:
        d_law = dmi_from_period(math.exp(s_obs[0]), v["Ms"], v["A"], v["Ku"], v["thickness"], film.dmi)
    except DomainfitError:
        d_law = math.nan
    d_c = film.critical_dmi
    d_seed = d_law if 0 < d_law < d_c else 0.7 * d_c
    x0 = _snap(x_of(d_seed))
    timing["statistics_s"] = time.perf_counter() - t0
    new = 0

    stage("pilot relaxations along the wall energy")
    t1 = time.perf_counter()
    pilot = design.simulate_points(film, grid, design.design_points(film, [x0 + s for s in PILOT_STEPS], [0.1]),
                                   SEEDS[:1], progress=progress, cache=cache, cluster=cluster)
    new += int(np.sum(pilot.seconds > 0))
    x_c = _snap(_matching_x(pilot.x, pilot.stats[:, 0, 0], s_obs[0], fallback=x0 + 1.0))
    timing["pilot_s"] = time.perf_counter() - t1

    stage("design relaxations")
    t1 = time.perf_counter()
    sims = design.simulate_points(film, grid, design.design_points(film, [x_c + s for s in DESIGN_STEPS], DESIGN_SIGMAS),
                                  SEEDS, image_model=image_model, progress=progress, cache=cache, cluster=cluster)
    new += int(np.sum(sims.seconds > 0))
    timing["design_s"] = time.perf_counter() - t1

    stage("emulator and NUTS")
    t1 = time.perf_counter()
    area = (img.shape[0] * img.pixel_size) * (img.shape[1] * img.pixel_size)
    emulator = fit_emulator(sims, area, names, slope, history)
    post = run_nuts(emulator, film, s_obs, d_init=d_seed if 0 < d_law < d_c else float(design.dmi_at(x_c, v["Ms"], v["Ku"], v["A"], v["thickness"])),
                    key=key, chains=chains, warmup=warmup, samples=samples, measurements=measurements, **box)

    def extend(extra) -> None:  # simulate the points not yet simulated, refit, sample again
        nonlocal sims, emulator, post, new
        extra = _not_simulated(extra, sims.points)
        if not len(extra):
            return
        sims = design.simulate_points(film, grid, np.concatenate([sims.points, extra]), SEEDS,
                                      image_model=image_model, progress=progress, cache=cache, cluster=cluster)
        new += int(np.sum(sims.seconds > 0))
        emulator = fit_emulator(sims, area, names, slope, history)
        post = run_nuts(emulator, film, s_obs, d_init=post.summary["D"]["mean"], key=key, chains=chains,
                        warmup=warmup, samples=samples, measurements=measurements, **box)

    x_mean = x_of(post.summary["D"]["mean"])
    if check_span(emulator, x_mean, post.summary["sigma"]["mean"]):  # widen the design once towards the posterior
        extend(design.design_points(film, [_snap(x_mean) + s for s in (-0.5, 0.0, 0.5)], DESIGN_SIGMAS))
    extend(_refinement(emulator, post, film, x_of))  # once inside the posterior, where the emulator is unsure
    span = check_span(emulator, x_of(post.summary["D"]["mean"]), post.summary["sigma"]["mean"])
    timing["posterior_s"] = time.perf_counter() - t1

    stage("posterior-predictive relaxations")
    t1 = time.perf_counter()
    rng = np.random.default_rng(key)
    pick = rng.choice(len(post.draws["D"]), PREDICTIVE_DRAWS, replace=False)
    pred_points = np.stack([post.draws["D"][pick], post.draws["sigma"][pick]], axis=1)
    pred = design.simulate_points(film, grid, pred_points, (1000 + key,), image_model=image_model, progress=progress,
                                  cache=cache, cluster=cluster)
    new += int(np.sum(pred.seconds > 0))
    z, chi2, p_value = _predictive_check(pred, emulator, s_obs, names, post, film)
    timing["predictive_s"] = time.perf_counter() - t1

    from ..features.duplication import duplication_notices

    reasons, warnings = list(duplication_notices(img.data)), list(img.notes)
    if not 0 < d_law < d_c:
        warnings.append("the period law finds no D in [0, D_c) of this film for the image's period "
                        f"({math.exp(s_obs[0]) * 1e9:.0f} nm): the pilot simulations seeded the design instead")
    if len(names) < len(STAT_NAMES):
        warnings.append("the CNN does not read this image (its pixels or field lie outside what it reads): its "
                        "statistics are left out, the geometry alone compared with the simulations")
    bad = [f"{n} {z_k:+.1f} sd" for n, z_k in zip(names, z) if not abs(z_k) <= MISFIT_Z]
    if bad or not p_value >= MISFIT_P:
        what = ", ".join(bad) if bad else f"jointly: χ² {chi2:.1f} on {len(names)} statistics, p = {p_value:.1e}"
        reasons.append("fresh simulations of this film at the posterior's draws do not reproduce the image ("
                       + what + "): the film's constants (or the DMI kind) do not describe this sample")
    reasons += span
    if measurements:  # each measurement against the image alone: two observations of one film must agree
        from ..forward.posterior import measurement_z

        alone = run_nuts(emulator, film, s_obs, d_init=post.summary["D"]["mean"], key=key, chains=chains,
                         warmup=warmup, samples=samples, **box)
        for m, z_m in zip(measurements, measurement_z(alone, film, measurements)):
            if not abs(z_m) <= MISFIT_Z:
                reasons.append(f"the image and the measurement {m.describe()} disagree ({z_m:+.1f} sd from what the "
                               "image alone predicts for this film): one of them, or the film's constants, is wrong")
    warnings += sampler_warnings(post.diagnostics, len(post.draws["D"]))
    if not (sims.converged.all() and pilot.converged.all()):
        warnings.append("some design relaxations stopped before the torque tolerance (max steps)")
    mj = lambda e: {k: ([x * 1e3 for x in val] if isinstance(val, list) else val * 1e3 if k != "prob" else val)
                    for k, val in e.items()}
    params = {"D": dict(mj(post.summary["D"]), unit="mJ/m^2"), "sigma": dict(post.summary["sigma"], unit="1")}
    for site in post.summary:
        if site not in ("D", "sigma"):
            from ..films import USER_UNITS

            unit, f = USER_UNITS[site]
            params[site] = {k: ([x / f for x in val] if isinstance(val, list) else val / f if k != "prob" else val)
                            for k, val in post.summary[site].items()} | {"unit": unit}
    timing["total_s"] = time.perf_counter() - t0
    report = {
        "method": "simulator",
        "trustworthy": not reasons,
        "reasons": reasons,
        "warnings": reasons + warnings,
        "film": film.to_json(),
        "parameters": params,
        "statistics": {"names": list(names), "observed": s_obs.tolist(),
                       "learned_length_slope": None if slope is None else slope.tolist(),
                       "predictive_z": z.tolist(), "predictive_chi2": chi2, "predictive_p": p_value,
                       "period_nm": math.exp(s_obs[0]) * 1e9},
        "instrument": image_model.to_json() | {"how": image_model.describe(),
                                               "sd": np.sqrt(np.diag(emulator.instrument)).tolist()},
        "seed": {"period_law_D_mJ_per_m2": d_law * 1e3 if math.isfinite(d_law) else None, "x_law": x0, "x_pilot": x_c},
        "error_budget": post.budget,
        "measurements": [m.to_json() | {"text": m.describe()} for m in measurements],
        "diagnostics": post.diagnostics,
        "simulations": {"count": int(sims.stats.shape[0] * sims.stats.shape[1] + pilot.stats.shape[0] + len(pred_points)),
                        "new": new, "cells": grid.cells, "cell_size_nm": grid.cell_size * 1e9,
                        "field_of_view_nm": grid.field_of_view * 1e9, "area_ratio": emulator.area_ratio,
                        "cache": str(sims.folder), "residual_sd": emulator.residual_sd.tolist()},
        "sigma_prior": list(sigma_range),
        "history": history,
        "D_prior_mJ_per_m2": None if d_range is None else [v * 1e3 for v in box["d_range"]],
        "image": {"path": str(img.source), "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9},
        "timing": {k: round(v, 2) for k, v in timing.items()},
    }
    config = {"command": "estimate", "method": "simulator", "image": str(img.source), "pixel_size_m": img.pixel_size,
              "film": film.to_json(), "seed": key, "chains": chains, "warmup": warmup, "samples": samples,
              "grid": dataclasses.asdict(grid), "domainfit_version": __version__}
    forward = dict(sims=sims, s_obs=s_obs, names=names, slope=slope, area=area, box=box, measurements=measurements,
                   history=history)
    return FilmPosteriorResult(report=report, config=config, posterior=post, image=img, film=film, forward=forward)


def _settings(instrument, lift, resolution) -> tuple[tuple[str, float], ...]:
    """The instrument's settings the user gave (SI), checked against the family's range."""
    from .. import units
    from ..data.instruments import FAMILY_RANGES

    out = []
    for name, option, value in (("height", "lift", lift), ("resolution", "resolution", resolution)):
        if value is None:
            continue
        if instrument is None:
            raise DomainfitError(f"--{option} needs the instrument it belongs to: name it (--instrument)")
        if name not in FAMILY_RANGES.get(instrument, {}):
            raise DomainfitError(f"--{option} does not apply to the {instrument} instrument (it has "
                                 f"{', '.join(FAMILY_RANGES.get(instrument, {})) or 'no settings'})")
        si = units.parse_length(value, default_unit="nm") if isinstance(value, str) else float(value)
        lo, hi = FAMILY_RANGES[instrument][name]
        if not lo * 1e-9 <= si <= hi * 1e-9:
            raise DomainfitError(f"--{option} {si * 1e9:.3g} nm lies outside the {instrument} family's range "
                                 f"{lo:g}–{hi:g} nm, which the simulations' instruments are drawn from")
        out.append((name, si))
    return tuple(out)


def _predictive_check(pred, emulator, s_obs, names, post=None, film=None):
    """(z per statistic, joint χ², its p-value) of the image against fresh relaxations at posterior draws,
    recorded by the image model.

    The residual is the image minus the fresh images' mean; its covariance is modelled, not taken from
    the few fresh images (a 6 × 6 sample covariance of 8 images made true films fail the joint test in 3
    of 10 held-out co-pt images at a nominal 0.3 %): the spread of the emulator's mean over the posterior
    draws, the image's own relaxation scatter, instrument and history terms, and the error of the fresh
    images' mean (their relaxation scatter over the simulated area and their instruments, over their
    number). Without ``post`` (tests of the check alone) the fresh images' sample covariance stands in."""
    from scipy import stats as sps

    from ..forward.statistics import STAT_NAMES

    cols = [STAT_NAMES.index(n) for n in names]
    ps = (pred.images if pred.images is not None else pred.stats[:, :, None, :])[..., cols]
    draws = ps.shape[2]
    ps = ps.reshape(-1, len(s_obs))
    ps = ps[np.all(np.isfinite(ps), axis=1)]
    if len(ps) < 2:
        return np.full(len(s_obs), np.inf), math.inf, 0.0
    if post is None or film is None:
        cov = np.cov(ps, rowvar=False) * (1 + 1 / len(ps)) + emulator.scatter
    else:
        from ..forward import design
        from ..forward.emulator import log_wall_width
        from ..forward.posterior import constants_drawn

        rng = np.random.default_rng(0)
        pick = rng.choice(len(post.draws["D"]), min(200, len(post.draws["D"])), replace=False)
        means = []
        for i in pick:
            c = constants_drawn(film, lambda site, _c: float(post.draws[site][i]))
            x = design.reduced_wall_energy(float(post.draws["D"][i]), c["Ms"], c["Ku"], c["A"], c["thickness"])
            means.append(emulator.mean(x, float(post.draws["sigma"][i]), log_wall_width(c["Ms"], c["Ku"], c["A"])))
        sigma = float(np.mean(post.draws["sigma"]))
        n_states = max(len(ps) // max(draws, 1), 1)
        # the fresh images' mean: states and their own instruments average over their number
        fresh = (emulator.scatter / max(emulator.area_ratio, 1e-12) + emulator.instrument / max(draws, 1)) / n_states
        cov = (np.cov(np.array(means), rowvar=False) + emulator.scatter + emulator.instrument
               + np.diag(np.asarray(emulator.history_variance(sigma), np.float64)) + fresh)
    r = s_obs - ps.mean(axis=0)
    z = r / np.sqrt(np.diag(cov))
    chi2 = float(r @ np.linalg.solve(cov, r))
    return z, chi2, float(sps.chi2.sf(chi2, len(s_obs)))


def _refinement(emulator, post, film, x_of) -> np.ndarray:
    """(D, σ) points to add where the emulator's own variance at the posterior mean exceeds
    ``REFINE_RATIO`` × the seeds' for some statistic: x at the posterior's 10, 50 and 90 % quantiles
    (on the ``REFINE_X_STEP`` lattice) × σ at its 10 and 90 % (on a 0.01 lattice)."""
    from ..forward import design

    x_mean, s_mean = x_of(post.summary["D"]["mean"]), post.summary["sigma"]["mean"]
    ratio = np.asarray(emulator.emulator_variance(x_mean, s_mean)) / np.maximum(emulator.seed_var, 1e-30)
    if not np.max(ratio) > REFINE_RATIO:
        return np.zeros((0, 2))
    xs = np.unique([round(x_of(d) / REFINE_X_STEP) * REFINE_X_STEP for d in np.quantile(post.draws["D"], (0.1, 0.5, 0.9))])
    sig = np.unique(np.round(np.quantile(post.draws["sigma"], (0.1, 0.9)), 2))
    return design.design_points(film, xs, sig)


def _not_simulated(points: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """The rows of ``points`` (D, σ) not among ``simulated`` (as the cache names them)."""
    have = {(f"{d:.6e}", f"{s:.5f}") for d, s in simulated}
    return np.array([p for p in np.asarray(points) if (f"{p[0]:.6e}", f"{p[1]:.5f}") not in have]).reshape(-1, 2)


def _snap(x: float) -> float:
    return round(x / X_STEP) * X_STEP


def _matching_x(xs: np.ndarray, log_periods: np.ndarray, target: float, fallback: float) -> float:
    """The x where the pilot's ln period crosses the image's (linear interpolation in a monotone fit);
    the end nearest to it when the pilot does not bracket it."""
    ok = np.isfinite(log_periods)
    if ok.sum() < 2:
        return fallback
    slope, intercept = np.polyfit(xs[ok], log_periods[ok], 1)
    if not slope > 0:
        return fallback
    x = (target - intercept) / slope
    lo, hi = xs[ok].min(), xs[ok].max()
    return float(np.clip(x, lo - 1.0, hi + 1.0))
