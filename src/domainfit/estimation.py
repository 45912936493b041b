"""``domainfit.estimate``: D, Ms and σ of one domain image in one call, optionally with a posterior.

The CNN reads the image (``nn.estimate``); with ``posterior=`` its estimate seeds a MAP and NUTS on the
emulator likelihood of the model (``inference.posterior_from_image``), with a posterior-predictive
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
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from . import units
from ._files import atomic_write
from .errors import DomainfitError

INSTRUMENTS = ("ideal", "gaussian", "mfm", "probe", "lorentzian", "kerr")
"""Instrument families a user can name (``data.instruments.FAMILIES`` without the bound's ``binary``)."""

_SYMBOL = {"D": "D", "Ms": "Ms", "sigma": "σ"}


@dataclasses.dataclass(frozen=True)
class PosteriorConfig:
    """How the posterior of ``estimate`` is sampled (defaults: 4 chains × 1000 draws, 90 % HDIs).

    Attributes:
        hdi_prob: probability of the highest-density intervals.
        chains, samples, warmup: NUTS chains, draws per chain after warm-up, warm-up steps per chain.
        predictive: posterior-predictive draws of the check (0 skips it).
        emulator: emulator .npz file, or several to choose from by the CNN estimate; default: the
            one(s) kept beside the model.
    """

    hdi_prob: float = 0.9
    chains: int = 4
    samples: int = 1000
    warmup: int = 500
    predictive: int = 200
    emulator: str | Path | tuple | None = None

    def check(self) -> None:
        """Refuse settings that cannot give a usable posterior, saying what to change."""
        from .inference import check_budget

        if not 0 < self.hdi_prob < 1:
            raise DomainfitError(f"HDI probability {self.hdi_prob}: give a probability strictly between 0 and 1, e.g. 0.9")
        if self.predictive < 0:
            raise DomainfitError(f"{self.predictive} predictive draws: give 0 (skip the check) or more draws")
        if self.samples < 1 or self.chains < 1:
            raise DomainfitError(f"{self.chains} chains × {self.samples} samples: need at least one chain and one "
                                 "sample per chain (4 × 1000 recommended)")
        check_budget(self.chains, self.warmup, self.samples)
        files = [self.emulator] if isinstance(self.emulator, (str, Path)) else list(self.emulator or [])
        for f in files:
            if not Path(f).is_file():
                raise DomainfitError(f"emulator {f}: no such file")


def parse_fixes(fix: Mapping[str, float | str] | None) -> dict[str, float]:
    """``{"Ku": "1.6MJ/m3", "sigma": 0.1}`` → SI values; numbers are taken as SI, strings carry their unit."""
    out = {}
    for name, value in (fix or {}).items():
        if name not in units.PARAMETER_UNITS:
            raise DomainfitError(f"cannot fix {name!r}: parameters are {', '.join(units.PARAMETER_UNITS)}")
        out[name] = units.parse_quantity(name, value) if isinstance(value, str) else float(value)
    return out


def load_model(model):
    """A ``LoadedModel`` from "default" (the shipped one), a path, or a ``LoadedModel``."""
    from .nn import load_default, load_model as load_path
    from .nn.checkpoint import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    return load_default() if model in (None, "default") else load_path(model)


def read_image(image, pixel_size=None, *, invert: bool = False, flatten: int | None = None, binarise: bool = False):
    """A ``DomainImage`` from a file path (or "example"), an array of raw levels, or a ``DomainImage``.
    ``pixel_size``: metres, or a string with its unit ("15.6nm"); ``binarise``: two-level (Otsu)."""
    import numpy as np

    from . import imaging

    if isinstance(pixel_size, str):
        pixel_size = imaging.parse_pixel_size(pixel_size)
    if isinstance(image, imaging.DomainImage):
        if invert or flatten is not None or binarise:
            raise DomainfitError("invert/flatten/binarise apply when reading an image: pass the file or the raw array")
        return image
    if isinstance(image, (str, Path)):
        return imaging.load(image, pixel_size=pixel_size, invert=invert, flatten=flatten, binarise=binarise)
    if pixel_size is None:
        raise DomainfitError("an image given as an array needs its pixel size: pixel_size=15.6e-9 (m) or '15.6nm'")
    return imaging.from_array(np.asarray(image), pixel_size, invert=invert, flatten=flatten, binarise=binarise)


def instrument_settings(loaded, instrument: str | None, lift=None, resolution=None) -> dict:
    """The instrument the user named and its settings (``lift``, ``resolution``: metres or "25nm"),
    checked against what the model was trained on: ``given`` (for the report, nm), ``settings`` (SI,
    for the spread calibration), ``reasons`` not to trust the estimate, ``warnings``."""
    from .data.instruments import FAMILY_RANGES

    if instrument is not None and instrument not in INSTRUMENTS:
        raise DomainfitError(f"instrument {instrument!r}: use one of {', '.join(INSTRUMENTS)}")
    given, reasons, warnings, settings = {}, [], [], {}
    if instrument:
        given["family"] = instrument
    prior = loaded.instruments
    trained = set(prior.family_names()) if prior is not None else set()
    if not instrument and prior is not None:
        # measured (docs/cnn.md, microscope benchmark): pooled spreads hold σ for most instruments, but a
        # saturated image from a stray-field probe high over the film reads σ low with too narrow a spread
        warnings.append("the instrument is not named, so the spreads are pooled over all the instruments of "
                        "training: for a scanning-probe image σ's interval is too narrow (it held the truth in 79 % "
                        "of probe test images, 88 % with the probe and its settings named); name yours: --instrument (--lift, "
                        "--resolution)")
    if instrument and prior is not None and instrument not in trained:
        warnings.append(f"the network was never trained on {instrument} images (it was on: "
                        f"{', '.join(sorted(trained))}): the estimate relies on what it learnt from the others")
    for name, value, key in (("height", lift, "lift"), ("resolution", resolution, "resolution")):
        if value is None:
            continue
        if not instrument:
            raise DomainfitError(f"--{key} needs --instrument (which kind of instrument it belongs to)")
        value = units.parse_length(value, default_unit="nm") if isinstance(value, str) else float(value)
        given[f"{key}_nm"] = value * 1e9
        settings[name] = value
        lo, hi = FAMILY_RANGES.get(instrument, {}).get(name, (None, None))
        if lo is None:
            raise DomainfitError(f"--{key} does not apply to a {instrument} instrument")
        if not lo * 1e-9 <= value <= hi * 1e-9:
            reasons.append(f"{key} {value * 1e9:.3g} nm is outside the {instrument} settings the network was "
                           f"trained on ({lo:.3g}–{hi:.3g} nm)")
    return {"given": given, "reasons": reasons, "warnings": warnings, "settings": settings or None}


class StageBar:
    """One line per stage on stderr ("[2/3] MAP + NUTS …"); the stages' own bars (tqdm) follow it."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.k, self.t0 = total, enabled, 0, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.k += 1
        if self.enabled:
            print(f"[{self.k}/{self.total}] {text} (t = {time.perf_counter() - self.t0:.1f} s)", file=sys.stderr,
                  flush=True)


@dataclasses.dataclass
class EstimateResult:
    """What ``estimate`` found: the report (user units), the CNN estimate, and with a posterior its draws.

    Attributes:
        report: the JSON report of ``domainfit estimate`` (``to_json``); ``report["trustworthy"]`` and
            ``report["reasons"]`` say whether to believe it and why not.
        config: what was run (image, model, emulator, budget, priors, seed): ``config.json``.
        cnn: the ``nn.Estimate`` (SI); image: the ``DomainImage`` read; model: the ``LoadedModel``.
            With several images: ``images`` and ``cnns`` hold each one's, ``image`` is the first and
            ``cnn`` their combination.
        posterior: the ``inference.PosteriorResult`` (SI draws, MAP, predictive check), or None.
        idata: the full ArviZ ``InferenceData`` in user units (``inference.idata``), or None.
    """

    report: dict
    config: dict
    cnn: object
    image: object
    model: object
    posterior: object | None = None
    idata: object | None = None
    images: list | None = None
    cnns: list | None = None

    @property
    def trustworthy(self) -> bool:
        return not self.report["reasons"]

    @property
    def reasons(self) -> list[str]:
        return list(self.report["reasons"])

    @property
    def warnings(self) -> list[str]:
        """Notices that do not make the result untrustworthy (those are ``reasons``)."""
        return [w for w in self.report.get("warnings", []) if w not in self.report["reasons"]]

    def lines(self) -> list[str]:
        """The text report (what ``domainfit estimate`` prints on stdout), without the warnings."""
        return _text_lines(self)

    def __str__(self) -> str:
        return "\n".join(self.lines() + [f"warning: {w}" for w in self.warnings])

    def to_json(self) -> str:
        return json.dumps(self.report, indent=2, default=_plain)

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write report.json and config.json into folder ``out`` (created), and with a posterior
        idata.nc (the full InferenceData), pair.png and predictive.png; each file atomically."""
        from . import inference, plots

        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DomainfitError(f"cannot create folder {out}: {err.strerror or err}") from None
        files = {}
        if self.idata is not None:
            files["netcdf"] = inference.save_netcdf(self.idata, out / "idata.nc")
            files["pair"] = plots.save_pair_plot(self.posterior.idata, out / "pair.png",
                                                 hdi_prob=self.config["hdi_prob"])
            if self.posterior.check is not None:
                files["predictive"] = plots.save_predictive_plot(self.posterior.check, out / "predictive.png")
        files["config"] = atomic_write(out / "config.json", json.dumps(self.config, indent=2, default=_plain))
        files["json"] = out / "report.json"
        self.report["files"] = {k: str(v) for k, v in files.items()}
        atomic_write(files["json"], self.to_json())
        return files

    def plot(self, path: str | Path | None = None):
        """The posterior pair plot (marginals and 2D densities with the HDIs; CNN-only: the image).
        Saved to ``path`` when given; returns the matplotlib figure."""
        from . import plots

        if self.posterior is None:
            return plots.image_figure(self.image.data, self.image.pixel_size, path=path,
                                      title=_one_line(self))
        return plots.pair_figure(self.posterior.idata, path=path, hdi_prob=self.config["hdi_prob"])


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
) -> EstimateResult:
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
            file (``inference.setup``); default: uniform over the emulator's training box.
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
        measurements: scalar measurements of the film (``inference.Measurement``, e.g.
            ``inference.parse_measurement("dmi_field", "28mT±3mT")``), joined to the posterior's
            likelihood; they need ``posterior``.
        sets: first weigh the shipped parameter sets (co-pt, low-ms) on the image as ``compare``
            does (``set_choice``): the report names the set that explains it with posterior
            probabilities, says first when they are not distinguishable or when the winner is a set
            the CNN was not trained on, and the posterior uses the winning set's emulator and box.
    """
    import jax

    from ._compiled import release_if_crowded
    from .nn import estimate as cnn_estimate

    release_if_crowded()  # a process that estimates image after image must not reach the kernel's mapping limit
    t0 = time.perf_counter()
    config = PosteriorConfig() if posterior is True else (posterior or None)
    if config is not None and not isinstance(config, PosteriorConfig):
        raise DomainfitError(f"posterior={posterior!r}: pass True or a PosteriorConfig")
    fixes = parse_fixes(fix)
    measurements = list(measurements or ())
    if config is None and (fixes or priors is not None or measurements):
        what = "fix" if fixes else "priors" if priors is not None else "measurements"
        raise DomainfitError(f"{what} only applies with a posterior (posterior=True, --posterior)")
    if measurements:  # the measurement module pulls in the inference package: not on the CNN-only path
        from .inference.measurements import Measurement
    for m in measurements:
        if not isinstance(m, Measurement):
            raise DomainfitError(f"measurement {m!r}: build it with inference.Measurement or "
                                 "inference.parse_measurement('dmi_field', '28mT±3mT')")
    several = isinstance(image, (list, tuple))
    if several:
        if not image:
            raise DomainfitError("an empty list of images: give at least one")
        if len(image) == 1:
            image, several = image[0], False
            pixel_size = pixel_size[0] if isinstance(pixel_size, (list, tuple)) else pixel_size
    if sets:
        from .set_choice import check_sets_options

        check_sets_options(emulator=None if config is None else config.emulator, priors=priors)
        if several:
            raise DomainfitError("sets=True (--sets) weighs the parameter sets on one image; the comparison of "
                                 "several images of one film is not built: compare each image (domainfit compare)")
    if several:
        return _estimate_several(list(image), pixel_size=pixel_size, model=model, config=config, priors=priors,
                                 fixes=fixes, key=key, invert=invert, flatten=flatten, instrument=instrument, lift=lift,
                                 resolution=resolution, single_view=single_view, progress=progress,
                                 measurements=measurements, t0=t0)
    if config is not None:
        config.check()
    seed = key if isinstance(key, int) else None
    key = jax.random.key(key) if isinstance(key, int) else key
    bar = StageBar(2, enabled=config is not None and progress)
    loaded = load_model(model)
    # A model trained on instrument views reads images with their background removed: do it before
    # the loader's contrast scaling clips the brightest and darkest pixels, as training did.
    if flatten is None and not _is_domain_image(image):  # a DomainImage was read already: as it is
        flatten = loaded.flatten
    img = read_image(image, pixel_size, invert=invert, flatten=flatten)
    candidates = _prepare_posterior(loaded, config, fixes, priors) if config is not None else []
    t1 = time.perf_counter()
    bar("CNN estimate")
    settings = instrument_settings(loaded, instrument, lift, resolution)
    cnn = cnn_estimate(loaded, img.data, img.pixel_size, symmetries=False if single_view else None,
                       family=instrument, settings=settings["settings"])
    if settings["reasons"] or settings["warnings"] or img.notes:
        cnn = dataclasses.replace(cnn, reasons=cnn.reasons + tuple(settings["reasons"]),
                                  warnings=cnn.warnings + tuple(settings["warnings"]) + img.notes)
    report = _report_head(cnn, settings, loaded)
    report["image"] = {"path": str(img.source if not isinstance(image, (str, Path)) else image),
                       "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9}
    report["timing"] = {"estimate_s": round(cnn.wall_time_s, 4), "total_s": round(time.perf_counter() - t0, 4),
                        "load_s": round(t1 - t0, 4)}
    run = {"command": "estimate", "image": report["image"]["path"], "pixel_size_m": img.pixel_size,
           "invert": invert, "flatten": flatten, "model": str(loaded.path), "instrument": settings["given"] or None,
           "single_view": single_view, "seed": seed, "domainfit_version": _version()}
    result = EstimateResult(report=report, config=run, cnn=cnn, image=img, model=loaded)
    if sets:
        from .set_choice import weigh_sets

        key, k_sets = jax.random.split(key)
        choice = weigh_sets(img, loaded, fixes=fixes, key=k_sets, posterior=config is not None)
        report["parameter_set"] = choice.block
        report["reasons"] = choice.reasons + report["reasons"]
        report["trustworthy"] = not report["reasons"]
        report["warnings"] = choice.reasons + choice.warnings + report.get("warnings", [])
        run["parameter_set"] = choice.block["best"]
        if config is not None:
            candidates = [choice.candidate]
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
    if config is not None:
        from .posterior_run import run_posterior

        run_posterior(result, config, candidates, fixes, priors, key=key, progress=progress, bar=bar,
                      measurements=measurements)
        if sets:  # the sets' verdict leads the posterior's warnings too
            report["warnings"] = choice.reasons + choice.warnings + report["warnings"]
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
    return result


def _estimate_several(images: list, *, pixel_size, model, config, priors, fixes, key, invert, flatten, instrument, lift,
                      resolution, single_view, progress, measurements, t0) -> EstimateResult:
    """``estimate`` of several images of one film: the CNN reads each, the posterior is joint.

    The report's ``parameters`` (the CNN block) combine the images' CNN means by inverse variance but keep
    the smallest single-image spread: the CNN's error is mostly the D–σ ridge, shared by every image of
    the film, so it does not average away. ``images`` lists each image's own CNN estimate.
    """
    import jax

    from .nn import estimate as cnn_estimate

    sizes = list(pixel_size) if isinstance(pixel_size, (list, tuple)) else [pixel_size] * len(images)
    if len(sizes) != len(images):
        raise DomainfitError(f"{len(images)} images but {len(sizes)} pixel sizes: give one for all or one per image")
    seed = key if isinstance(key, int) else None
    key = jax.random.key(key) if isinstance(key, int) else key
    bar = StageBar(2, enabled=config is not None and progress)
    loaded = load_model(model)
    imgs = []
    for i, (im, ps) in enumerate(zip(images, sizes)):
        try:
            imgs.append(read_image(im, ps, invert=invert,
                                   flatten=loaded.flatten if flatten is None and not _is_domain_image(im) else flatten))
        except DomainfitError as err:
            raise DomainfitError(f"image {i + 1}: {err}") from None
    candidates = _prepare_posterior(loaded, config, fixes, priors) if config is not None else []
    t1 = time.perf_counter()
    bar(f"CNN estimates of {len(imgs)} images")
    settings = instrument_settings(loaded, instrument, lift, resolution)
    cnns, per_image = [], []
    for i, img in enumerate(imgs):
        cnn = cnn_estimate(loaded, img.data, img.pixel_size, symmetries=False if single_view else None,
                           family=instrument, settings=settings["settings"])
        cnns.append(cnn)
        per_image.append({"path": str(images[i]) if isinstance(images[i], (str, Path)) else str(img.source),
                          "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9, "cnn": cnn.to_json()})
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
    warns = tuple(f"image {i + 1}: {w}" for i, c in enumerate(cnns) for w in c.warnings) + tuple(settings["warnings"])
    warns += tuple(f"image {i + 1}: {n}" for i, img in enumerate(imgs) for n in img.notes)
    combined = dataclasses.replace(first, mean=mean, sd=sd, reasons=reasons, warnings=warns,
                                   wall_time_s=sum(c.wall_time_s for c in cnns))
    report = _report_head(combined, settings, loaded)
    report["image"] = {k: v for k, v in per_image[0].items() if k != "cnn"}
    report["images"] = per_image
    report["timing"] = {"estimate_s": round(combined.wall_time_s, 4), "total_s": round(time.perf_counter() - t0, 4),
                        "load_s": round(t1 - t0, 4)}
    run = {"command": "estimate", "image": report["image"]["path"], "images": [p["path"] for p in per_image],
           "pixel_size_m": [img.pixel_size for img in imgs], "invert": invert, "flatten": flatten,
           "model": str(loaded.path), "instrument": settings["given"] or None, "single_view": single_view,
           "seed": seed, "domainfit_version": _version()}
    result = EstimateResult(report=report, config=run, cnn=combined, image=imgs[0], model=loaded, images=imgs,
                            cnns=cnns)
    if config is not None:
        from .posterior_run import run_posterior

        run_posterior(result, config, candidates, fixes, priors, key=key, progress=progress, bar=bar,
                      measurements=measurements)
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
    return result


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
    from .inference.learned import check_same_model
    from .inference.setup import build_prior, find_emulators

    candidates = []
    for emulator, path in find_emulators(loaded.path, config.emulator):
        check_same_model(emulator, loaded)
        prior, boxed = build_prior(emulator, fixes, priors)
        candidates.append(dict(emulator=emulator, emulator_path=path, prior_model=prior, boxed=boxed))
    return candidates


def _is_domain_image(image) -> bool:
    from .imaging import DomainImage

    return isinstance(image, DomainImage)


def _spread_text(result: EstimateResult) -> str:
    if result.model.instruments is None:
        return ""
    return {"pooled": "spreads pooled over the training instruments (name yours: --instrument)",
            "family": f"spreads calibrated for {result.cnn.family} images",
            "family and settings": f"spreads calibrated for {result.cnn.family} images at the given settings",
            }.get(result.cnn.spread_calibration, "")


def _one_line(result: EstimateResult) -> str:
    return ", ".join(f"{_SYMBOL.get(t, t)} = {e['mean']:.3g} ± {e['sd']:.2g}"
                     for t, e in result.report["parameters"].items() if not e.get("fixed"))


def _text_lines(result: EstimateResult) -> list[str]:
    report = result.report
    lines = []
    for t, e in report["parameters"].items():
        unit = "" if e["unit"] == "1" else " " + e["unit"].replace("^2", "²")
        if e.get("fixed"):
            lines.append(f"{_SYMBOL.get(t, t):>2} = {e['mean']:.4g}{unit} (not estimated: the model's training set "
                         "held it fixed)")
        else:
            lines.append(f"{_SYMBOL.get(t, t):>2} = {e['mean']:.4g} ± {e['sd']:.2g}{unit}")
    if "posterior" in report:
        from .posterior_run import posterior_lines

        lines = ["CNN estimate:", *lines, *posterior_lines(report)]
    chosen = report.get("parameter_set")
    if chosen:
        probs = ", ".join(f"{n} {p:.2g}" for n, p in chosen["probabilities"].items())
        verdict = "decided" if chosen["decided"] else "not distinguishable"
        lines = [f"parameter set: {chosen['best']} (posterior probabilities {probs}; {verdict})", *lines]
    if report["reasons"]:
        lines = ["NOT TRUSTWORTHY — do not rely on these numbers:", *(f"  - {r}" for r in report["reasons"]), *lines]
    loaded = result.model
    views = f" × {report['views_per_tile']} symmetric views" if report["views_per_tile"] > 1 else ""
    how = _spread_text(result)
    lines.append(f"({report['tiles']} tiles{views} of {loaded.in_pixels}² px at {loaded.pixel_size * 1e9:.3g} nm, "
                 f"{how + ', ' if how else ''}{report['timing']['total_s']:.1f} s)")
    if "files" in report:
        lines.append(f"files in {Path(report['files']['json']).parent}: "
                     + ", ".join(Path(p).name for p in report["files"].values()))
    return lines


def _version() -> str:
    from . import __version__

    return __version__


def _plain(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
