"""The posterior part of ``domainfit.estimate``: emulator choice, MAP seed, NUTS, report blocks, text.

``estimation.estimate`` calls ``run_posterior`` after the CNN estimate; it adds the posterior blocks to
the result's report (user units) and config, the SI ``PosteriorResult`` and the full user-unit
``InferenceData`` (``inference.idata``).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..notices import NO_WALLS, code_of
from ..units import user_unit

_SYMBOL = {"D": "D", "Ms": "Ms", "sigma": "σ"}

MULTI_IMAGE_REASON = (
    "the intervals of several images may be too narrow: this emulator does not carry how much of an image's "
    "scatter one instrument repeats on every image it records (measured for the shipped default emulator: "
    "studies/fov_repeat.py; without it 3 fields of view + the DMI field held the truth in 80 % of 40 held-out "
    "films, docs/inference.md) — read them as a lower bound on the uncertainty")
"""Why the posterior of several images of one film is not trusted as calibrated (the joint-observation study)."""


def multi_image_reasons(images, emulator, family: str | None) -> list[str]:
    """Why a joint posterior of several images (``DomainImage``) is not to be trusted as calibrated: one
    image given twice, or an emulator that does not carry the share of an image's scatter that one
    instrument repeats (``InstrumentTerms.repeat``)."""
    import numpy as np

    from ..surrogate.instrument_terms import terms_of

    if len(images) < 2:
        return []
    out = [f"image {i + 1} is image {j + 1} again: one field of view given twice holds no more than it does once, "
           "and the joint intervals would be too narrow; give each field of view once"
           for i in range(len(images)) for j in range(i)
           if images[i].data.shape == images[j].data.shape and np.array_equal(images[i].data, images[j].data)]
    terms = terms_of(emulator)
    if terms is None or terms.repeat(family) is None:
        out.append(MULTI_IMAGE_REASON)
    return out


def posterior_block(summary: dict, prior, cnn_json: dict, hdi: float) -> tuple[dict, dict]:
    """``posterior.{name}`` in user units (sampled and fixed parameters; fixed ones have zero width)
    and ``posterior_sd_over_cnn_sd`` per CNN target."""
    import jax.numpy as jnp

    post = {name: dict(p, fixed=False) for name, p in summary["parameters"].items()}
    theta0 = prior.theta(jnp.zeros(prior.dim))
    for name in prior.parameters:
        if name in post or name in prior.names:
            continue
        unit, factor = user_unit(name)
        v = float(theta0[name]) / factor
        post[name] = dict(unit=unit, mean=v, sd=0.0, median=v, hdi_low=v, hdi_high=v, hdi_prob=hdi, r_hat=None,
                          ess_bulk=None, ess_tail=None, fixed=True)
    ratio = {}
    for name, c in cnn_json.get("parameters", {}).items():
        p = post.get(name)
        ratio[name] = None if p is None or not c.get("sd") else p["sd"] / c["sd"]
    return post, ratio


def run_posterior(result, config, candidates: list[dict], fixes: dict[str, float], priors, *, key, progress: bool,
                  bar, measurements=()) -> None:
    """Sample the posterior of ``result.image`` (or jointly of ``result.images``, with ``measurements``)
    seeded by ``result.cnn`` and fill in ``result``."""
    import jax

    from ..inference.idata import inference_data
    from .pipeline import posterior_from_images
    from ..surrogate.learned import summary_with_cnn
    from .setup import check_fixes, choose_emulator, seed_from_cnn

    cnn, image, report = result.cnn, result.image, result.report
    chosen = candidates[choose_emulator(cnn.mean, cnn.sd, [c["emulator"] for c in candidates])]
    emulator, emu_path = chosen["emulator"], chosen["emulator_path"]
    prior, boxed = chosen["prior_model"], chosen["boxed"]
    seed, notices = seed_from_cnn({**cnn.mean, **chosen.get("start", {})}, emulator.box, boxed)
    notices += check_fixes(emulator, fixes)
    if not math.isfinite(emulator.surrogate_error):
        notices.append(f"the emulator's cross-validated error is unknown ({emu_path} has no finite "
                       "surrogate_error): the intervals do not include the emulator's own error")
    notices += multi_image_reasons(result.images or [], emulator, (report.get("instrument") or {}).get("family"))
    prior.check_support({n: seed[n] for n in prior.names if n in seed})
    bar("MAP + NUTS + predictive check (emulator likelihood)")
    k_run, k_idata = jax.random.split(key)
    images = result.images or [image]
    cnns = result.cnns or [cnn]
    post = posterior_from_images(
        [im.data for im in images], [im.pixel_size for im in images], emulator=emulator, seed=seed, key=k_run,
        priors=prior, measurements=measurements,
        num_chains=config.chains, num_warmup=config.warmup, num_samples=config.samples, hdi_prob=config.hdi_prob,
        progress=progress, predictive_draws=config.predictive, extra_warnings=notices, emit_warnings=False,
        summary_fn=[summary_with_cnn(c.mean, emulator.stat_names, support=c.support) for c in cnns],
        instrument=(report.get("instrument") or {}).get("family"),
    )
    s = post.summary
    block, ratio = posterior_block(s, prior, report, config.hdi_prob)
    report["posterior"] = block
    report["posterior_sd_over_cnn_sd"] = ratio
    report["diagnostics"] = s["diagnostics"]
    report["warnings"] = list(cnn.warnings) + s["warnings"]
    # Warnings of the posterior that say its intervals should not be believed (sampler diagnostics,
    # emulator extrapolation, a failed predictive check) join the reasons, which lead the output.
    # An image without walls (surrogate.presence) says why every number below is what it is: first.
    reasons = report["reasons"] + s["untrustworthy"]
    report["reasons"] = sorted(reasons, key=lambda r: code_of(r) != NO_WALLS)
    report["trustworthy"] = not report["reasons"]
    report["posterior_predictive"] = s["posterior_predictive"]
    report["map"] = {n: dict(unit=user_unit(n)[0], value=float(v) / user_unit(n)[1]) for n, v in s["map"].items()}
    report["observation"] = s["observation"]
    if "observations" in s:
        report["observations"] = s["observations"]
    if measurements:
        report["measurements"] = s["measurements"]
        result.config["measurements"] = s["measurements"]
    report["prior"] = prior.describe()
    report["emulator"] = {"path": str(emu_path), "component": emulator.component,
                          "candidates": [str(c["emulator_path"]) for c in candidates], "inputs": list(emulator.names),
                          "surrogate_error": emulator.surrogate_error, "cross_validation": emulator.error_report}
    result.config.update({
        "command": "estimate --posterior", "emulator": str(emu_path), "chains": config.chains,
        "warmup": config.warmup, "samples": config.samples, "hdi_prob": config.hdi_prob,
        "predictive_draws": config.predictive, "fixed_SI": dict(fixes),
        "prior_file": str(Path(priors).resolve()) if isinstance(priors, (str, Path)) else None,
        "prior": prior.describe(), "map_start_SI": {n: float(seed[n]) for n in prior.names if n in seed},
    })
    report["config"] = result.config
    result.posterior = post
    result.idata = inference_data(post.problem, post.idata, key=k_idata)


def posterior_lines(report: dict) -> list[str]:
    """The text of the posterior block of a report."""
    d, cfg = report["diagnostics"], report["config"]
    joint = []
    if report.get("observations"):
        joint.append(f"{len(report['observations'])} images")
    for m in report.get("measurements", []):
        from ..observations.measurements import Measurement

        joint.append(Measurement.from_json(m).describe())
    lines = [f"posterior ({cfg['hdi_prob']:.0%} HDI; {cfg['chains']} chains × {cfg['samples']} draws, "
             f"{d['wall_time_s']:.1f} s" + (f"; jointly from {' and '.join(joint)}" if joint else "") + "):"]
    for name, p in report["posterior"].items():
        unit = "" if p["unit"] == "1" else " " + p["unit"].replace("^2", "²").replace("^3", "³")
        if p["fixed"]:
            lines.append(f"{_SYMBOL.get(name, name):>5} = {p['mean']:.4g}{unit} (fixed)")
            continue
        r = report["posterior_sd_over_cnn_sd"].get(name)
        rtext = f", sd/CNN sd {r:.2f}" if r is not None else ""
        lines.append(f"{_SYMBOL.get(name, name):>5} = {p['median']:.4g} [{p['hdi_low']:.4g}, {p['hdi_high']:.4g}]"
                     f"{unit} (mean {p['mean']:.4g} ± {p['sd']:.2g}{rtext})")
    term = (report.get("observation") or {}).get("instrument_term")
    if term:
        what = {"calibrated": "bias and scatter measured for this family",
                "uncalibrated family": "never calibrated: its bias is unknown, drawn from the calibrated families' spread",
                "unnamed": "not named: the training mixture of instruments"}[term["kind"]]
        label = f"{term['family']}; {what}" if term["family"] else what
        lines.append(f"instrument term ({label}): bias "
                     + ", ".join(f"{n} {b:+.2f} sd" for n, b in zip(term["statistics"], term["bias_over_sd"])))
    rhat = "n/a" if d["r_hat_max"] is None else f"{d['r_hat_max']:.3f}"
    surr = "n/a" if d["surrogate_error"] is None else f"{d['surrogate_error']:.2f} noise sd"
    lines.append(f"R-hat max {rhat}, ESS bulk/tail min {d['ess_bulk_min']:.0f}/{d['ess_tail_min']:.0f}, "
                 f"{d['divergences']} divergences, emulator error {surr}")
    return lines
