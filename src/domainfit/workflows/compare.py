"""``domainfit.compare``: Bayes factors between models of one image, in one call.

Each model is an emulator (e.g. one fitted to interfacial-DMI and one to bulk-DMI simulations, or the
shipped model's, "default") under the same prior — the box priors of a preset, or the user's — with
optionally some parameters fixed ("σ fixed" against "σ free"). The evidence of each comes from
tempered SMC with an error bar from independent runs (``inference.compare_models``)::

    import domainfit as df
    c = df.compare("example", models={"free": "default", "fixed": "default"}, fix={"fixed": {"sigma": 0.1}})
    print(c)            # log-evidences, Bayes factors against the best, warnings
    c.to_json()
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..notices import NO_WALLS, Notice
from .._files import atomic_write
from .. import units
from ..errors import DomainfitError


@dataclasses.dataclass
class Comparison:
    """Evidence per model and Bayes factors against the best (``table`` is the JSON report:
    ``evidence``, ``best``, ``bayes_factors``, ``warnings``, ``image``, ``wall_time_s``)."""

    table: dict

    @property
    def best(self) -> str:
        return self.table["best"]

    @property
    def warnings(self) -> list[str]:
        return list(self.table["warnings"])

    def lines(self) -> list[str]:
        """The text of ``domainfit compare`` (stdout)."""
        t = self.table
        reasons = list(t.get("reasons", ()))
        lines = ["NOT TRUSTWORTHY — do not rely on this comparison:", *(f"  - {x}" for x in reasons)] if reasons else []
        for name, ev in t["evidence"].items():
            mark = "  (best)" if name == t["best"] else ""
            lines.append(f"{name:>16}: log Z = {ev['log_evidence']:.2f} ± {ev['error']:.2f}{mark}")
            film = t.get("films", {}).get(name)
            if film:
                d, sg = film["D"], film["sigma"]
                lines.append(f"{'':>16}  D = {d['mean']:.3f} ± {d['sd']:.3f} mJ/m^2, σ = {sg['mean']:.3f} ± {sg['sd']:.3f}; "
                             f"predictive p = {film['predictive_p']:.2g}"
                             + (f"; emulator's share of the error ±{ev['emulator_error']:.2f}"
                                if math.isfinite(ev.get("emulator_error", math.nan)) else ""))
        for name, bf in t["bayes_factors"].items():
            lines.append(f"{t['best']} vs {name}: {bf['interpretation']}")
        if "probabilities" in t:
            probs = ", ".join(f"{name} {p:.3g}" for name, p in t["probabilities"].items())
            verdict = (f"{t['best']} explains the image best" if t["decided"] else
                       "not distinguishable: no model wins by log BF ≥ 3 (beyond twice its error)")
            lines.append(f"posterior model probabilities (equal prior odds): {probs} — {verdict}")
        return lines + [f"warning: {m}" for m in t["warnings"] if m not in reasons]

    @property
    def trustworthy(self) -> bool:
        """False when the table gives reasons not to rely on the comparison."""
        return not self.table.get("reasons")

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_json(self) -> str:
        return json.dumps(self.table, indent=2)

    def save(self, path: str | Path) -> Path:
        """Write the JSON report to ``path`` atomically."""
        return atomic_write(path, self.to_json())


SETS = ("co-pt", "low-ms")
"""The parameter sets of DESIGN.md whose emulators ship with domainfit (``assets/set_<name>.emulator.npz``):
each fitted to held-out states of its set recorded by instruments and read by the shipped CNN, with
the geometry of the sign (``emulator --learned --geometry``), so that every set explains the same
statistics of an image and their evidences compare."""


def _with_emulator(prior, s_obs, area: float, emulator):
    """The comparison's problem of one model with another emulator (``emulator_error``'s variants)."""
    from .. import inference
    from ..surrogate import EmulatorLikelihood

    return inference.Problem(prior, EmulatorLikelihood(emulator, s_obs, area_ratio=emulator.area / area), s_obs=s_obs,
                             stat_names=emulator.stat_names)


def shipped_sets() -> dict[str, Path]:
    """{set: emulator file} of the shipped parameter sets; refuses when one is not installed."""
    from .._assets import asset_path

    found = {name: asset_path(f"set_{name}.emulator.npz") for name in SETS}
    missing = [name for name, path in found.items() if not path.is_file()]
    if missing:
        raise DomainfitError(f"this installation ships no emulator of the parameter set{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}: compare the sets with --model NAME=EMULATOR for each")
    return found


def set_prior(emulator, fixes: Mapping[str, float]):
    """The prior of a parameter set: its preset's constants (``inference.default_priors``) with the box
    its emulator was fitted over, and the model's fixed values."""
    from ..inference import Prior, PriorModel, default_priors

    preset = emulator.component
    if preset not in SETS:
        raise DomainfitError(f"emulator of prior component {preset!r}: a parameter set is one of {', '.join(SETS)}")
    spec = default_priors(preset)
    spec.update({n: Prior.uniform(n, lo, hi) for n, (lo, hi) in emulator.box.items()})
    spec.update({n: Prior.fix(n, v) for n, v in fixes.items()})
    return PriorModel(spec)


def model_emulators(models: Mapping) -> dict:
    """{name: (emulator, path or None)} from {name: emulator file | "default" | Emulator}."""
    from ..surrogate import Emulator

    if len(models) < 2:
        raise DomainfitError("model comparison needs at least two models")
    out = {}
    for name, spec in models.items():
        if isinstance(spec, Emulator):
            out[name] = (spec, None)
            continue
        if str(spec) == "default":
            from ..nn import emulator_path, load_default

            spec = emulator_path(load_default().path)
        if not Path(spec).is_file():
            raise DomainfitError(f"model {name!r}: no emulator file {spec}")
        out[name] = (Emulator.load(spec), Path(spec))
    return out


def check_same_statistics(emulators: Mapping) -> None:
    """Refuse models that read different statistics of the image: a Bayes factor compares the
    evidence of the same data under two models; p(s₁ | M₁) / p(s₂ | M₂) with s₁ ≠ s₂ is no Bayes factor."""
    seen = {name: tuple(emu.stat_names) for name, (emu, _) in emulators.items()}
    if len(set(seen.values())) > 1:
        listing = "; ".join(f"{name}: {', '.join(stats)}" for name, stats in seen.items())
        raise DomainfitError(f"the models read different statistics of the image ({listing}): their evidences are "
                             "of different data and cannot be compared. Fit every model's emulator to the same "
                             "statistics (the same CNN with --learned, or none)")


def comparison_prior(preset: str, priors, fixes: Mapping[str, float]):
    """The prior of one model: the preset's box priors (``inference.default_priors``), with the user's
    ``priors`` (as for ``estimate``: Prior(s), a PriorModel, a numpyro function or a prior file)
    and the model's fixed values."""
    from ..inference import Prior, PriorModel, default_priors
    from .setup import user_prior

    spec = default_priors(preset)
    box = {n: (float(p.dist.support.lower_bound), float(p.dist.support.upper_bound)) for n, p in spec.items()
           if not p.fixed}
    user, _ = user_prior(priors, box, fixes=bool(fixes))
    if isinstance(user, PriorModel):
        return user
    spec.update(user or {})
    spec.update({n: Prior.fix(n, v) for n, v in fixes.items()})
    return PriorModel(spec)


def compare(
    image,
    *,
    models: Mapping | None = None,
    pixel_size: float | str | None = None,
    fix: Mapping[str, Mapping[str, float | str]] | None = None,
    priors=None,
    preset: str | None = "co-pt",
    cnn=None,
    particles: int = 1000,
    runs: int = 4,
    key=0,
    invert: bool = False,
    films=None,
    instrument: str | None = None,
    lift=None,
    resolution=None,
    measurements=(),
    progress: bool = False,
    history: str | None = None,
    channel: str | None = None,
    level: str | None = "auto",
    force: bool = False,
    page: int | None = None,
) -> Comparison:
    """Log-evidence of each model of ``image`` with its error, and Bayes factors against the best.

    Args:
        image: file, array of raw levels (with ``pixel_size``) or ``DomainImage``, as for ``estimate``.
        models: {name: emulator .npz | "default" (the shipped model's emulator) | ``Emulator``}, ≥ 2;
            None: the shipped parameter sets (``SETS``), each under its own box prior (``set_prior``),
            read by the shipped CNN.
        fix: {model: {parameter: value}} held fixed in that model (numbers SI; strings with units).
        priors: one prior for every model (as for ``estimate``); default: the preset's box priors.
        preset: box priors of "co-pt" or "low-ms" for every model; None: each model under the box of its
            own emulator's parameter set (``set_prior``), as the shipped sets are compared.
        cnn: the CNN whose estimates are statistics of emulators fitted with ``emulator --learned``
            (a model path, "default" or a ``LoadedModel``); "default" when a model is "default".
        particles: SMC particles per run.
        runs: independent SMC runs (their spread is the error bar).
        key: seed (int) or JAX key.
        invert: contrast sign flip.
        films: two or more films (``films.Film``, TOML files, presets or inline; a list, or a dict name →
            film) to compare instead of emulators: each through the simulator path, its evidence for the
            image over its own prior (``workflows.film_compare``); ``instrument``, ``lift``,
            ``resolution``, ``measurements`` and ``history`` (``estimate``'s) apply to them.
        channel: the channel of a scanning-probe file, as for ``estimate``.
        level: scan-line levelling, as for ``estimate``.
        force: use a ``pixel_size`` that contradicts the file's own calibration.
        page: the plane of a multi-page TIFF or a stack.
    """
    import jax

    from .. import inference
    from ..surrogate import EmulatorLikelihood
    from .inputs import is_domain_image, load_model, parse_fixes, read_image, reading as image_reading
    from ..surrogate.learned import check_same_model, learned_names, summary_with_cnn
    from .setup import check_fixes
    from ..nn import estimate as cnn_estimate
    from ..features.statistics import summary_vector

    if films is not None:
        if channel is not None or level not in (None, "auto") or force or page is not None:
            raise DomainfitError("channel, level, force and page are not passed to the film path yet: read the image "
                                 "with domainfit.imaging.load(…) and give the DomainImage")
        given = [n for n, v in (("models", models), ("fix", fix), ("priors", priors), ("cnn", cnn)) if v]
        if given:
            raise DomainfitError(f"{given[0]} does not apply to comparing films: each is simulated at its own constants")
        from .film_compare import compare_films

        return Comparison(compare_films(image, films, pixel_size=pixel_size, instrument=instrument, lift=lift,
                             resolution=resolution, measurements=measurements, particles=particles, runs=runs,
                             key=key if isinstance(key, int) else 0, invert=invert, progress=progress,
                             history=history or "unknown"))
    if instrument is not None or lift is not None or resolution is not None or measurements or history is not None:
        raise DomainfitError("instrument, lift, resolution and measurements apply to comparing films (films=…)")
    t0 = time.perf_counter()
    if particles < 10 or runs < 2:
        raise DomainfitError(f"{particles} particles × {runs} runs: need ≥ 10 particles and ≥ 2 runs (the error bar)")
    sets = models is None or preset is None
    if models is None:
        if priors is not None:
            raise DomainfitError("the parameter sets are compared under their own box priors: give models "
                                 "(--model NAME=EMULATOR) to compare under a prior of yours")
        models = shipped_sets()
        cnn = "default" if cnn is None else cnn
    emulators = model_emulators(models)
    check_same_statistics(emulators)
    fixes = {name: {} for name in emulators}
    for name, values in (fix or {}).items():
        if name not in emulators:
            raise DomainfitError(f"fixed values for {name!r}, which is no model (models: {', '.join(emulators)})")
        fixes[name] = parse_fixes(values)
    notices = [n for name, (emu, _) in emulators.items() for n in check_fixes(emu, fixes[name], model=name)]
    if cnn is None and any(str(spec) == "default" for spec in models.values()):
        cnn = "default"  # the shipped emulator's statistics are the shipped CNN's estimates
    loaded = None if cnn is None else load_model(cnn)
    # a CNN trained on instrument views reads images with their background removed before clipping
    # (a DomainImage was read already, background and all: as it is)
    read_already = is_domain_image(image)
    img = read_image(image, pixel_size, invert=invert, flatten=None if loaded is None or read_already else loaded.flatten,
                     channel=channel, level=level, force=force, page=page)
    data = jax.numpy.asarray(img.data)
    area = img.shape[0] * img.shape[1] * img.pixel_size**2
    notices = list(img.notes) + notices
    reading = None if loaded is None else cnn_estimate(loaded, img.data, img.pixel_size)
    cnn_mean = None if reading is None else reading.mean
    from ..features.walls import shows_walls

    walls = shows_walls(np.asarray(img.data))
    if not walls or len({emu.presence is None for emu, _ in emulators.values()}) > 1:
        # Every model says how likely a film keeps walls (``surrogate.presence``): for a wall-free image
        # that is the whole likelihood, and with walls a model without p_w(θ) would be spared its factor;
        # an emulator fitted before the hurdle model gets the all-walls model its fit assumed.
        emulators = {name: (emu.with_presence(), path) for name, (emu, path) in emulators.items()}
    if not walls:
        notices.insert(0, Notice(NO_WALLS, "the image shows no domain walls: its statistics carry nothing, so the "
                                 "models are compared only on how likely each makes a film that keeps no walls "
                                 "(their parameters are not identifiable from it)"))
    problems, outside, rebuilders = {}, [], {}
    for name, (emulator, _) in emulators.items():
        prior = set_prior(emulator, fixes[name]) if sets else comparison_prior(preset, priors, fixes[name])
        if not walls:
            likelihood = EmulatorLikelihood(emulator, jax.numpy.zeros(len(emulator.stat_names)), walls=False)
            problems[name] = inference.Problem(prior, likelihood)
            continue
        if learned_names(emulator.stat_names):
            if loaded is None:
                raise DomainfitError(f"model {name!r}: its emulator's statistics include a CNN's estimates; name "
                                     "that CNN (cnn=MODEL, --cnn MODEL)")
            check_same_model(emulator, loaded)
            s_obs = summary_with_cnn(cnn_mean, emulator.stat_names, support=reading.support)(data, img.pixel_size)
        else:
            s_obs = summary_vector(data, img.pixel_size)
        if s_obs.shape[0] != len(emulator.stat_names):
            raise DomainfitError(f"model {name!r}: the image gives {s_obs.shape[0]} statistics, its emulator "
                                 f"expects {len(emulator.stat_names)}")
        likelihood = EmulatorLikelihood(emulator, s_obs, area_ratio=emulator.area / area)
        problems[name] = inference.Problem(prior, likelihood, s_obs=s_obs, stat_names=emulator.stat_names)
        rebuilders[name] = functools.partial(_with_emulator, prior, s_obs, area)
        notices += [f"{name}: {m}" for m in emulator.check_observation(s_obs)]
        if emulator.extrapolates(s_obs):
            outside.append(name)
    key = jax.random.key(units.check_seed(key, "key")) if isinstance(key, int) else key
    table = inference.compare_models(problems, key=key, n_particles=particles, n_runs=runs, keep_particles=True)
    particles_u = table.pop("particles")
    if walls:  # the emulators' own uncertainty joins the Monte-Carlo error (workflows.emulator_error)
        from .emulator_error import bayes_factor_errors, emulator_errors

        same = {}  # models that read one emulator file share its variants
        shared = {name: same.setdefault(str(path) if path is not None else id(emu), emu)
                  for name, (emu, path) in emulators.items()}
        errors, shifts = emulator_errors(problems, particles_u, shared, lambda n, v: rebuilders[n](v))
        inference.with_extra_errors(table, errors, bayes_factor_errors(shifts, list(problems), table["best"]),
                                    "emulator_error")
    table["warnings"] = notices
    table["extrapolated"] = outside
    if table["best"] in outside:  # the winner's evidence is an extrapolation: no Bayes factor rests on it
        table["reasons"] = [f"the image's statistics lie outside the training set of {', '.join(outside)} (the best "
                            f"model {table['best']!r} among them): its evidence is extrapolated, and so is every Bayes "
                            "factor against it — the image is likely of neither set (give your film: compare --film)"]
    table["walls"] = bool(walls)
    table["models"] = {name: {"emulator": None if path is None else str(path), "fixed_SI": fixes[name]}
                       for name, (_, path) in emulators.items()}
    table["image"] = {"path": str(image) if isinstance(image, (str, Path)) else img.source, "reading": image_reading(img),
                      "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9}
    table["wall_time_s"] = round(time.perf_counter() - t0, 3)
    return Comparison(table)
