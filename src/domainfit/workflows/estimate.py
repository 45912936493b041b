"""``domainfit.estimate``: D, Ms and σ of one domain image in one call, optionally with a posterior.

The CNN reads the image (``nn.estimate``); with ``posterior=`` its estimate seeds a MAP and NUTS on the
emulator likelihood of the model (``workflows.pipeline.posterior_from_image``), with a posterior-predictive
check. The result holds the JSON report the command line prints, a full ArviZ ``InferenceData`` in
user units, and writes the same files as ``domainfit estimate --out DIR``::

    import domainfit as df
    r = df.estimate("example", posterior=True)
    print(r)                 # the text of `domainfit estimate example --posterior`
    r.idata                  # az.summary(r.idata), az.loo(r.idata), az.plot_pair(r.idata)
    r.save("result/")        # idata.nc, report.json, pair.png, predictive.png, config.json
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path

from .._version import __version__
from .. import units
from ..errors import DomainfitError
from .inputs import instrument_settings, is_domain_image, load_model, parse_fixes, read_image, reading
from .result import EstimateResult, PosteriorConfig, StageBar

def estimate(
    image,
    *,
    pixel_size: float | str | None = None,
    model="default",
    posterior: bool | PosteriorConfig | None = None,
    priors=None,
    fix: Mapping[str, float | str] | None = None,
    key=0,
    invert: bool = False,
    flatten: int | None = None,
    instrument: str | None = None,
    lift: float | str | None = None,
    resolution: float | str | None = None,
    single_view: bool = False,
    progress: bool = False,
    measurements=(),
    sets: bool = False,
    film=None,
    method: str = "auto",
    history: str | None = None,
    channel: str | None = None,
    level: str | None = "auto",
    force: bool = False,
    page: int | None = None,
    cluster=None,
):
    """Estimate D, Ms and σ of one domain image; with ``posterior`` also their posterior.

    Args:
        image: a file (PNG, JPEG, TIFF, .npy/.npz; "example" for the shipped one), an array of raw
            levels (then ``pixel_size`` is needed) or an ``imaging.DomainImage`` — or a list of them:
            separate fields of view of one film at zero field, estimated jointly (the CNN reads each;
            the posterior's likelihood is the sum of theirs).
        pixel_size: pixel side in metres or with its unit ("15.6nm"); needed unless the file has it.
            With several images: one value for all, or a list, one per image.
        model: "default" (shipped), a model path, or a ``LoadedModel``.
        posterior: True (defaults) or a ``PosteriorConfig``: MAP then NUTS on the emulator likelihood.
        priors: a ``Prior``, list/dict of them, a ``PriorModel``, a numpyro prior function, or a prior
            file (``workflows.setup``); default: uniform over the emulator's training box.
        fix: parameters held at a value: ``{"sigma": 0.1, "Ku": "1.6MJ/m3"}`` (numbers SI).
        key: seed (int) or JAX key of the chains and predictive draws.
        invert: contrast sign flip.
        flatten: degree of the polynomial background removed first (default: the model's).
        instrument: the instrument family that recorded the image, when known (its own spread
            calibration is used; docs/imaging.md).
        lift: its sensor or tip height (probe, mfm), when known.
        resolution: its point-spread FWHM (sensor or tip size), when known.
        single_view: read each tile once instead of in its 16 symmetric versions.
        progress: stage lines and progress bars on stderr.
        measurements: scalar measurements of the film (``observations.Measurement``, e.g.
            ``observations.parse_measurement("dmi_field", "28mT±3mT")``), joined to the posterior's
            likelihood; they need ``posterior``.
        sets: first weigh the shipped parameter sets (co-pt, low-ms) on the image as ``compare``
            does (``set_choice``): the report names the set that explains it with posterior
            probabilities, says first when they are not distinguishable or when the winner is a set
            the CNN was not trained on, and the posterior uses the winning set's emulator and box.
        film: the sample (``films.Film``, a preset name, a film .toml file or an inline description
            "Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial"). Without it
            the model's own film is assumed, and the report says so first.
        method: "auto" (the CNN and its emulator for the film they were trained for, the period law for
            any other — with ``posterior`` the simulator), "cnn", "period" (``workflows.period``: D from
            the domain period by the stripe law; returns a ``PeriodResult``) or "simulator" (the
            simulator posterior, ``workflows.film_posterior``, for any film, the model's own included;
            needs ``film`` and ``posterior``).
        history: for the simulator path, "unknown" (default: the difference between mazes relaxed from
            random states and field-cycled ones is a model error, ``forward.history``) or "random" (a
            film known to be quenched).
        cluster: for the simulator path, where its relaxations run (``tasks.Cluster`` or an open
            ``distributed.Client``; ``workflows.film_posterior``); None: in this process.
        channel: the channel of a scanning-probe file (default: its MFM channel; ``imaging.load``).
        level: scan-line levelling ("auto": median for scanning-probe files, none for others).
        force: use a ``pixel_size`` that contradicts the file's own calibration.
        page: the plane of a multi-page TIFF or a stack.
    """
    import jax

    from ..nn import estimate as cnn_estimate

    t0 = time.perf_counter()
    given_film = film
    if method not in ("auto", "cnn", "period", "simulator"):
        raise DomainfitError(f"method {method!r}: use 'auto', 'cnn', 'period' or 'simulator'")
    if method == "simulator" and (film is None or not posterior):
        raise DomainfitError("the simulator method is a posterior of a given film: give --film and --posterior")
    if method == "period" and film is None:
        raise DomainfitError("the period method needs the film's constants: --film FILE.toml or "
                             "--film \"Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial\"")
    for name, given in (("--history", history is not None), ("--workers/--scheduler", cluster is not None)):
        if given and (film is None or not posterior or method in ("cnn", "period")):
            raise DomainfitError(f"{name} applies to the simulator path: give --film and --posterior")
    if film is not None and (channel is not None or level not in (None, "auto") or force or page is not None):
        raise DomainfitError("--channel, --level, --force and --page are not passed to the film path yet: read the "
                             "image with domainfit.imaging.load(…) and give the DomainImage")
    if film is not None:
        from ..films import parse_film

        film = parse_film(film)
        routed = _route_film(film, method, model, posterior=posterior, priors=priors, fix=fix, measurements=measurements,
                             sets=sets, several=isinstance(image, (list, tuple)) and len(image) > 1,
                             other=dict(instrument=instrument, lift=lift, resolution=resolution, history=history))
        if routed is None and (history is not None or cluster is not None):
            raise DomainfitError(f"{'--history' if history is not None else '--workers/--scheduler'} applies to the "
                                 "simulator path; the CNN path reads this film (--method simulator to simulate it)")
        if routed is not None and posterior and method != "period":
            from .film_posterior import film_posterior

            cfg = PosteriorConfig() if posterior is True else posterior
            result = film_posterior(image, film, pixel_size=pixel_size, key=key if isinstance(key, int) else 0,
                                    invert=invert, flatten=flatten, progress=progress,
                                    chains=cfg.chains, warmup=cfg.warmup, samples=cfg.samples, instrument=instrument,
                                    lift=lift, resolution=resolution, measurements=measurements,
                                    history=history or "unknown", cluster=cluster, **_model_box(film, model))
        elif routed is not None:
            from .period import estimate_period

            result = estimate_period(image, film, pixel_size=pixel_size, key=key if isinstance(key, int) else 0,
                                     invert=invert, flatten=flatten)
        if routed is not None:
            if routed:
                result.report["warnings"].insert(len(result.report["reasons"]), routed)
            return result
    config = PosteriorConfig() if posterior is True else (posterior or None)
    if config is not None and not isinstance(config, PosteriorConfig):
        raise DomainfitError(f"posterior={posterior!r}: pass True or a PosteriorConfig")
    fixes = parse_fixes(fix)
    measurements = list(measurements or ())
    if config is None and (fixes or priors is not None or measurements):
        what = "fix" if fixes else "priors" if priors is not None else "measurements"
        raise DomainfitError(f"{what} only applies with a posterior (posterior=True, --posterior)")
    if measurements:  # the measurement module pulls in the inference package: not on the CNN-only path
        from ..observations.measurements import Measurement
    for m in measurements:
        if not isinstance(m, Measurement):
            raise DomainfitError(f"measurement {m!r}: build it with observations.Measurement or "
                                 "observations.parse_measurement('dmi_field', '28mT±3mT')")
    images = list(image) if isinstance(image, (list, tuple)) else [image]
    if not images:
        raise DomainfitError("an empty list of images: give at least one")
    if isinstance(image, (list, tuple)) and any(isinstance(x, (list, tuple, int, float)) for x in images):
        raise DomainfitError("a list is read as several images, and this one holds numbers or lists: give one image "
                             "as an array, np.asarray(rows), or several as a list of arrays or paths")
    several = len(images) > 1
    sizes = list(pixel_size) if isinstance(pixel_size, (list, tuple)) else [pixel_size] * len(images)
    if len(sizes) != len(images):
        raise DomainfitError(f"{len(images)} images but {len(sizes)} pixel sizes: give one for all or one per image")
    if sets:
        from .sets import check_sets_options

        check_sets_options(emulator=None if config is None else config.emulator, priors=priors)
        if several:
            raise DomainfitError("sets=True (--sets) weighs the parameter sets on one image; the comparison of "
                                 "several images of one film is not built: compare each image (domainfit compare)")
    if config is not None:
        config.check()
    seed = key if isinstance(key, int) else None
    key = jax.random.key(units.check_seed(key, "key")) if isinstance(key, int) else key
    bar = StageBar(2, enabled=config is not None and progress)
    loaded = load_model(model)
    # A model trained on instrument views reads images with their background removed: do it before
    # the loader's contrast scaling clips the brightest and darkest pixels, as training did. A
    # DomainImage was read already: it is taken as it is.
    flattens = [loaded.flatten if flatten is None and not is_domain_image(im) else flatten for im in images]
    imgs = []
    for i, (im, ps, fl) in enumerate(zip(images, sizes, flattens)):
        try:
            imgs.append(read_image(im, ps, invert=invert, flatten=fl, channel=channel, level=level, force=force,
                                   page=page))
        except DomainfitError as err:
            if not several:
                raise
            raise DomainfitError(f"image {i + 1}: {err}") from None
    candidates = _prepare_posterior(loaded, config, fixes, priors) if config is not None else []
    t1 = time.perf_counter()
    bar(f"CNN estimates of {len(imgs)} images" if several else "CNN estimate")
    settings = instrument_settings(loaded, instrument, lift, resolution)
    cnns = [cnn_estimate(loaded, img.data, img.pixel_size, symmetries=False if single_view else None, family=instrument,
                         settings=settings["settings"]) for img in imgs]
    from ..features.domain_likeness import colour_notice  # a colour-mapped file: known from its reading only

    cnns = [dataclasses.replace(c, reasons=c.reasons + tuple(filter(None, [colour_notice(img.meta)]))) for c, img in zip(cnns, imgs)]
    paths = [str(im) if isinstance(im, (str, Path)) else str(img.source) for im, img in zip(images, imgs)]
    cnn = _combined(cnns, imgs, settings) if several else _with_notices(cnns[0], imgs[0], settings)
    report = _report_head(cnn, settings, loaded)
    per_image = [{"path": path, "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9,
                  "reading": reading(img)} for path, img in zip(paths, imgs)]
    report["image"] = per_image[0]
    if several:
        report["images"] = [dict(p, cnn=c.to_json()) for p, c in zip(per_image, cnns)]
    report["timing"] = {"estimate_s": round(cnn.wall_time_s, 4), "total_s": round(time.perf_counter() - t0, 4),
                        "load_s": round(t1 - t0, 4)}
    run = {"command": "estimate", "image": paths[0], **({"images": paths} if several else {}),
           "pixel_size_m": [img.pixel_size for img in imgs] if several else imgs[0].pixel_size, "invert": invert,
           "flatten": flatten if several else flattens[0], "model": str(loaded.path),
           "instrument": settings["given"] or None, "single_view": single_view, "seed": seed,
           "domainfit_version": __version__}
    result = EstimateResult(report=report, config=run, cnn=cnn, image=imgs[0], model=loaded,
                            images=imgs if several else None, cnns=cnns if several else None)
    if sets:
        from .sets import weigh_sets

        key, k_sets = jax.random.split(key)
        choice = weigh_sets(imgs[0], loaded, fixes=fixes, key=k_sets, posterior=config is not None)
        report["parameter_set"] = choice.block
        report["reasons"] = choice.reasons + report["reasons"]
        report["trustworthy"] = not report["reasons"]
        report["warnings"] = choice.reasons + choice.warnings + report.get("warnings", [])
        run["parameter_set"] = choice.block["best"]
        if config is not None:
            candidates = [choice.candidate]
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
    if config is not None:
        from .posterior import run_posterior

        if sets and not choice.block["decided"]:  # undecided: the sets' posteriors averaged by their probabilities
            from .sets import average_posteriors

            average_posteriors(result, config, choice, fixes, priors, key=key, progress=progress, bar=bar,
                               measurements=measurements)
        else:
            run_posterior(result, config, candidates, fixes, priors, key=key, progress=progress, bar=bar,
                          measurements=measurements)
        if sets:  # the sets' verdict leads the posterior's warnings too
            report["warnings"] = choice.reasons + choice.warnings + report["warnings"]
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
    _film_block(report, loaded, given_film)
    return result


def _route_film(film, method: str, model, *, posterior, priors, fix, measurements, sets, several, other) -> str | None:
    """None when the CNN path reads ``film`` (its model's film, within 2 %); else the period law runs, and
    the returned note (empty for ``method="period"``) says why. Raises for requests the period law
    cannot serve and for ``method="cnn"`` with a film the model does not know."""
    from .inputs import load_model, model_film

    known = model_film(load_model(model))
    if method not in ("period", "simulator") and known is not None and film.matches(known):
        return None
    if method == "cnn":
        diff = "; ".join(film.differences(known)) if known is not None else "the model records no film"
        raise DomainfitError(f"the CNN was trained for the {known.name if known else 'unknown'} film, not this one ({diff}): "
                             "its estimate would be the other film's; use --method period")
    simulator = bool(posterior) and method != "period"  # the simulator path reads measurements and instruments
    asked = [n for n, v in (("--prior", priors), ("--fix", fix), ("--dmi-field/--measure", not simulator and measurements),
                            ("--sets", sets), ("several images", several)) if v]
    if not simulator:
        asked += [f"--{k}" for k, v in other.items() if v is not None]
    if isinstance(posterior, PosteriorConfig) and posterior.emulator is not None:
        asked.append("--emulator")
    if isinstance(posterior, PosteriorConfig) and posterior.hdi_prob != PosteriorConfig().hdi_prob:
        asked.append("--hdi")
    if method == "period" and posterior:
        asked.insert(0, "--posterior")
    if asked:
        why = "" if method == "period" else (f" (the CNN and its emulator know the {known.name} film only: "
                                             + "; ".join(film.differences(known)) + ")" if known else "")
        raise DomainfitError(f"{asked[0]} is not available {'with --method period' if method == 'period' else 'for a film other than the model' + chr(39) + 's'}{why}: "
                             "give the film's constants with their uncertainties instead (--film); the simulator posterior "
                             "(--posterior) reads D and σ from one image")
    if method == "period":
        return ""
    differs = "; ".join(film.differences(known)) if known else "the model records no film"
    theirs = f"the {known.name} film" if known else "the model's film"
    if method == "simulator":
        return ""
    if posterior:
        return (f"the CNN and its emulator know {theirs} only ({differs}): the posterior comes from simulations "
                "of this film (the simulator path)")
    return (f"the CNN and its emulator know {theirs} only ({differs}): D was "
            "read from the domain period by the stripe law (--method period); --posterior simulates the film instead")


def _model_box(film, model) -> dict:
    """For the model's own film, the simulator path's prior boxes of D and σ are the CNN's training box
    (the CNN path's prior: the two answers compare); for any other film, the defaults."""
    from .inputs import load_model, model_film

    loaded = load_model(model)
    known = model_film(loaded)
    ranges = loaded.ranges
    if known is None or not film.matches(known) or "D" not in ranges or "sigma" not in ranges:
        return {}
    return {"d_range": tuple(ranges["D"]), "sigma_range": tuple(ranges["sigma"])}


def _film_block(report: dict, loaded, given) -> None:
    """The report's ``film`` block; without a film given, a first warning names the film assumed."""
    from ..films import preset_film
    from .inputs import model_film

    chosen = report.get("parameter_set")
    known = preset_film(chosen["best"]) if chosen else model_film(loaded)  # --sets: the winning set's film
    report["film"] = known.to_json() if known is not None else None
    if given is None:
        what = known.describe() if known is not None else "the model records no film"
        report["film_assumed"] = True
        warnings = list(report.get("warnings", []))
        first = next((i for i, w in enumerate(warnings) if w not in report["reasons"]), len(warnings))
        if chosen:  # the sets' verdict names the film; it leads
            first = len(warnings)
        warnings.insert(first, f"film assumed: {what} — if yours differs, give it: --film FILE.toml or "
                               "--film \"Ms=…kA/m±3%,Ku=…MJ/m3,A=…pJ/m±15%,thickness=…nm,dmi=interfacial\"")
        report["warnings"] = warnings


def _with_notices(cnn, img, settings: dict):
    """One image's CNN estimate with the instrument's reasons and warnings, the image's own notes, and a
    reason when the image is copies of itself (``features.duplication``)."""
    from ..features.duplication import duplication_notices

    copies = tuple(duplication_notices(img.data))
    if not (settings["reasons"] or settings["warnings"] or img.notes or copies):
        return cnn
    return dataclasses.replace(cnn, reasons=cnn.reasons + copies + tuple(settings["reasons"]),
                               warnings=cnn.warnings + tuple(settings["warnings"]) + img.notes)


def _combined(cnns: list, imgs: list, settings: dict):
    """The CNN block of several images of one film: their means combined by inverse variance, but the
    smallest single-image spread kept (the CNN's error is mostly the D–σ ridge, shared by every image
    of the film, so it does not average away); each image's reasons and warnings, numbered."""
    from ..features.duplication import duplication_notices

    first = cnns[0]
    mean, sd = {}, {}
    for t in first.targets:
        sds = [c.sd[t] for c in cnns]
        if min(sds) > 0:
            w = [1.0 / s**2 for s in sds]
            mean[t] = sum(wi * c.mean[t] for wi, c in zip(w, cnns)) / sum(w)
        else:
            mean[t] = first.mean[t]
        sd[t] = min(sds)
    reasons = tuple(f"image {i + 1}: {r}" for i, c in enumerate(cnns) for r in c.reasons) + tuple(settings["reasons"])
    reasons += tuple(f"image {i + 1}: {n}" for i, img in enumerate(imgs) for n in duplication_notices(img.data))
    warns = tuple(f"image {i + 1}: {w}" for i, c in enumerate(cnns) for w in c.warnings) + tuple(settings["warnings"])
    warns += tuple(f"image {i + 1}: {n}" for i, img in enumerate(imgs) for n in img.notes)
    return dataclasses.replace(first, mean=mean, sd=sd, reasons=reasons, warnings=warns,
                               wall_time_s=sum(c.wall_time_s for c in cnns))


def _report_head(cnn, settings: dict, loaded) -> dict:
    """The report's CNN block, the instrument the user named and the model that read the image(s)."""
    report = cnn.to_json()
    if settings["given"]:
        report["instrument"] = settings["given"]
    report["model"] = {"path": str(loaded.path), "pixel_size_nm": loaded.pixel_size * 1e9,
                       "input_pixels": loaded.in_pixels, "training_steps": loaded.training.steps,
                       "data_hash": loaded.training.data_hash}
    return report


def _prepare_posterior(loaded, config: PosteriorConfig, fixes, priors) -> list[dict]:
    """The model's emulators with their priors, built before any estimate runs (so errors come first)."""
    from ..surrogate.learned import check_same_model
    from .setup import build_prior, find_emulators

    candidates = []
    for emulator, path in find_emulators(loaded.path, config.emulator):
        check_same_model(emulator, loaded)
        prior, boxed = build_prior(emulator, fixes, priors)
        candidates.append(dict(emulator=emulator, emulator_path=path, prior_model=prior, boxed=boxed))
    return candidates


