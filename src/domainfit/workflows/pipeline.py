"""One call from an image (or several, with measurements) to a posterior report: statistics → emulator likelihood → MAP → NUTS → checks.

This is what ``domainfit estimate --posterior`` is meant to call; every step is also public on its own.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..notices import NO_WALLS, Notice
from .._types import Array, Float, Key
from ..errors import DomainfitError
from ..surrogate.emulator import Emulator
from ..inference.fit import MapResult, check_budget, fit_posterior
from ..inference.problem import Problem
from ..surrogate.likelihood import EmulatorLikelihood
from ..inference.predictive import posterior_predictive
from ..features.walls import shows_walls
from ..inference.priors import Prior, PriorModel, default_priors
from ..reports.posterior import summarize

PPC_P_LIMIT = 0.01


@dataclasses.dataclass
class PosteriorResult:
    """Everything ``posterior_from_image`` produced (files are listed in ``paths``)."""

    summary: dict
    idata: object
    map: MapResult
    check: dict | None
    paths: dict[str, Path]
    problem: Problem | None = None


def no_walls_notice(emulator: Emulator) -> Notice:
    """The leading warning of an image without domain walls (``surrogate.presence``)."""
    inputs = ", ".join(emulator.names)
    share = ""
    if emulator.presence is not None and emulator.presence.n_views:
        p = emulator.presence
        share = f" ({p.n_views - p.n_walls} of the {p.n_views} training views of this set showed none)"
    return Notice(NO_WALLS, f"the image shows no domain walls: a uniform film carries no pattern to read{share}. Its "
                  f"only information is that no walls survived, so {inputs} are NOT identifiable from it: the "
                  "posterior is the prior weighted by the probability of a wall-free film, and its intervals are "
                  "wide by design")


def posterior_from_image(
    image: Float[Array, "ny nx"],
    pixel_size: float,
    *,
    emulator: Emulator,
    seed: Mapping[str, float],
    key: Key[Array, ""],
    measurements: Sequence = (),
    **kwargs,
) -> PosteriorResult:
    """Posterior over θ for one contrast-normalised image (``imaging.load`` gives one) with the emulator;
    ``posterior_from_images`` with a list of one (its arguments)."""
    return posterior_from_images([image], [pixel_size], emulator=emulator, seed=seed, key=key,
                                 measurements=measurements, **kwargs)


def posterior_from_images(
    images: Sequence[Float[Array, "ny nx"]],
    pixel_sizes: Sequence[float],
    *,
    emulator: Emulator,
    seed: Mapping[str, float],
    key: Key[Array, ""],
    measurements: Sequence = (),
    priors: PriorModel | Mapping[str, Prior] | None = None,
    preset: str = "co-pt",
    summary_fn: Callable | None = None,
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 1000,
    hdi_prob: float = 0.9,
    out_dir: str | Path | None = None,
    progress: bool = True,
    predictive_draws: int = 200,
    extra_warnings: Sequence[str] = (),
    emit_warnings: bool = True,
    instrument: str | None = None,
) -> PosteriorResult:
    """Joint posterior over θ of one film from several images of it and scalar measurements.

    Args:
        images: [ny, nx] contrast in [−1, 1] each (``imaging.load`` gives them): separate fields of view
            of the same film, recorded at zero field, each with its own instrument.
        pixel_sizes: each image's pixel side [m].
        emulator: the amortised emulator shipped with the model.
        seed: starting θ (SI), e.g. the CNN estimate ``{"D": ..., "sigma": ...}``.
        measurements: ``observations.Measurement`` values (e.g. the DMI field from an in-plane-field
            measurement), each a Gaussian likelihood term (``observations.measurements``).
        priors: default: the training box of ``preset``.
        summary_fn: default ``stats.summary_vector`` (must match the emulator's statistics); one
            function, or one per image.
        out_dir: when given, writes report.json (the summary), idata.nc, pair.png and predictive.png
            there (``reports.files``).
        predictive_draws: posterior draws of the posterior-predictive check (0 skips it: ``check`` is None).
        extra_warnings: notices of the caller (e.g. a seed moved into the prior box) for the report.
        emit_warnings: also issue the report's warnings through ``warnings.warn``.
        instrument: the family of the instrument that recorded the images (None: not named); with an
            emulator that carries instrument terms, its bias and scatter enter each image's likelihood
            and the term's own uncertainty is shared between the images (``surrogate.instrument_terms``).

    Each image's area a_obs scales the emulator's covariance by a_train/a_obs; the images' terms and
    the measurements' are independent and add (``measurements.JointLikelihood``). The reported
    surrogate error is converted to the largest image's noise, × √(a_obs/a_train).
    """
    from ..observations.measurements import JointLikelihood, Measurement

    check_budget(num_chains, num_warmup, num_samples)
    start = time.perf_counter()
    images, pixel_sizes, measurements = list(images), list(pixel_sizes), list(measurements)
    if len(images) != len(pixel_sizes):
        raise DomainfitError(f"{len(images)} images but {len(pixel_sizes)} pixel sizes: give one per image")
    if not images:
        raise DomainfitError("no image: the posterior needs at least one image (measurements alone do not "
                             "constrain σ)")
    for m in measurements:
        if not isinstance(m, Measurement):
            raise DomainfitError(f"{m!r} is not a Measurement: build it with observations.Measurement or "
                                 "observations.parse_measurement")
    from ..features.statistics import summary_vector

    summary_fns = list(summary_fn) if isinstance(summary_fn, (list, tuple)) else [summary_fn] * len(images)
    if len(summary_fns) != len(images):
        raise DomainfitError(f"{len(summary_fns)} summary functions for {len(images)} images")
    summary_fns = [summary_vector if f is None else f for f in summary_fns]
    liks, observations, notices = [], [], list(extra_warnings)
    surrogate = emulator.surrogate_error
    surrogate_obs = None
    several = len(images) > 1
    for i, (image, pixel_size, fn) in enumerate(zip(images, pixel_sizes, summary_fns)):
        which = f"image {i + 1}: " if several else ""
        image = jnp.asarray(image)
        if image.ndim != 2:
            raise DomainfitError(f"{which}shape {image.shape}: need one 2D grey-scale image")
        if not (math.isfinite(pixel_size) and pixel_size > 0):
            raise DomainfitError(f"{which}pixel size {pixel_size} m: pass a positive length, e.g. --pixel-size 15.6nm")
        walls = shows_walls(np.asarray(image))
        if not walls:
            emulator = emulator.with_presence()
            if several or measurements:
                raise DomainfitError(f"{which}the image shows no domain walls: it cannot join other images or "
                                     "measurements in one likelihood; estimate it alone")
            area_obs = image.shape[0] * image.shape[1] * float(pixel_size) ** 2
            liks.append(EmulatorLikelihood(emulator, jnp.zeros(len(emulator.stat_names)), walls=False))
            observations.append(dict(area_um2=area_obs * 1e12, walls=False, statistics=None))
            notices.insert(0, no_walls_notice(emulator))
            predictive_draws = 0  # nothing to predict but the absence of walls
            continue
        s_obs = jnp.asarray(fn(image, float(pixel_size)))
        if s_obs.shape != (len(emulator.stat_names),):
            raise DomainfitError(f"{which}the image gives {s_obs.shape[0]} statistics, the emulator expects "
                                 f"{len(emulator.stat_names)}: they were made with different statistics")
        if not bool(jnp.all(jnp.isfinite(s_obs))):
            raise DomainfitError(f"{which}the image's statistics are not finite (blank or saturated image?)")
        area_obs = image.shape[0] * image.shape[1] * float(pixel_size) ** 2
        area_ratio = emulator.area / area_obs
        notices += [which + n for n in emulator.check_observation(s_obs)]
        liks.append(EmulatorLikelihood(emulator, s_obs, area_ratio=area_ratio, instrument=instrument))
        term = liks[-1].term()
        observations.append(dict(area_um2=area_obs * 1e12, area_ratio=area_ratio, walls=True,
                                 statistics=[float(v) for v in np.asarray(s_obs)],
                                 instrument_term=None if term is None else dict(
                                     family=instrument, kind=term["kind"], statistics=list(emulator.stat_names),
                                     bias_over_sd=[float(b) for b in term["bias"]],
                                     scatter=[float(c + e) for c, e in zip(term["own_scale"], np.diag(term["own_extra"]))])))
        if math.isfinite(surrogate):
            so = surrogate / math.sqrt(area_ratio)
            surrogate_obs = so if surrogate_obs is None else max(surrogate_obs, so)
    prior = priors if priors is not None else default_priors(preset)
    if several or measurements:
        likelihood = JointLikelihood(liks, measurements)
        stat_names = [f"{n} [image {i + 1}]" if several else n for i in range(len(liks)) for n in emulator.stat_names]
        stat_names += [m.describe().split(" =")[0] for m in measurements]
        s_all = likelihood.s_obs
    elif liks[0].walls:
        likelihood, stat_names, s_all = liks[0], list(emulator.stat_names), liks[0].s_obs
    else:  # a wall-free image: no statistics, only log(1 − p_w(θ))
        likelihood, stat_names, s_all = liks[0], None, None
    if not isinstance(prior, PriorModel):
        prior = PriorModel(prior)
    for m in measurements:
        if not any(n in prior.names for n in m.needs):
            notices.append(f"the measurement {m.describe()} constrains nothing: {', '.join(m.needs)} "
                           f"{'is' if len(m.needs) == 1 else 'are'} not sampled (fixed or held by the emulator)")
    problem = Problem(prior, likelihood, s_obs=s_all, stat_names=stat_names, surrogate_error=surrogate_obs)
    k_fit, k_ppc = jax.random.split(key)
    map_result, idata = fit_posterior(problem, seed, key=k_fit, num_chains=num_chains, num_warmup=num_warmup,
                                      num_samples=num_samples, progress=progress)
    if predictive_draws < 0:
        raise DomainfitError(f"{predictive_draws} posterior-predictive draws: give 0 (skip) or more")
    check = None
    if predictive_draws:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=predictive_draws, desc="predictive", unit="draw", leave=False)
        check = posterior_predictive(problem, idata, key=k_ppc, n_draws=predictive_draws)
        if bar is not None:
            bar.update(predictive_draws)
            bar.close()
    if check is not None and check["p_joint"] < PPC_P_LIMIT:
        notices.append(f"posterior-predictive check failed (p = {check['p_joint']:.3f}): the model cannot "
                       "reproduce this image's statistics; the intervals are not trustworthy")
    idata.attrs["wall_time_s"] = time.perf_counter() - start
    summary = summarize(idata, hdi_prob=hdi_prob, extra_warnings=notices, emit=emit_warnings)
    summary["posterior_predictive"] = None if check is None else dict(
        p_joint=check["p_joint"], z=[float(v) for v in check["z"]], statistics=list(stat_names),
        draws=int(predictive_draws))
    summary["observation"] = observations[0]
    if several:
        summary["observations"] = observations
    if measurements:
        summary["measurements"] = [m.to_json() for m in measurements]
    summary["map"] = map_result.theta
    paths: dict[str, Path] = {}
    if out_dir is not None:
        from ..reports.files import write_posterior_files

        paths = write_posterior_files(out_dir, summary, idata=idata, check=check, hdi_prob=hdi_prob)
    return PosteriorResult(summary, idata, map_result, check, paths, problem)
