"""Which parameter set made the image: the part of ``domainfit.estimate(sets=True)`` that weighs them.

The shipped parameter sets (``comparison.SETS``: co-pt and low-ms of DESIGN.md) are compared on the
image as ``domainfit compare IMAGE`` compares them (each set's emulator under its own box, tempered
SMC evidence with an error bar). ``weigh_sets`` returns the report block and what ``estimate`` needs
next: the winning set's emulator and prior for the posterior, and the notices that lead the output —
that the sets are not distinguishable, or that the winner is a set the CNN was not trained on.
"""

from __future__ import annotations

import dataclasses

from ..errors import DomainfitError

PARTICLES, RUNS = 400, 3
"""SMC particles and independent runs of the sets' comparison (the runs' spread is the error bar)."""

UNDECIDED = "the parameter sets are not distinguishable from this image"
"""Start of the reason given when no set wins by log BF ≥ 3 beyond twice its error."""


@dataclasses.dataclass
class SetChoice:
    """The sets' comparison of one image.

    Attributes:
        block: ``report["parameter_set"]``: best, decided, probabilities, log evidences and errors.
        emulator, emulator_path, prior_model, boxed: the winning set's, as a posterior candidate.
        reasons: what makes the result untrustworthy (undecided sets; without a posterior, a winner
            outside the CNN's training set); warnings: that winner with a posterior (whose numbers are
            the winner's); start: the MAP start [SI]
            when the CNN's estimate is of another set (the box's middle).
        candidates: every set's posterior candidate {name: candidate} (an undecided comparison
            averages their posteriors: ``average_posteriors``).
    """

    block: dict
    emulator: object
    emulator_path: object
    prior_model: object
    boxed: set
    reasons: list
    warnings: list
    start: dict
    candidates: dict = dataclasses.field(default_factory=dict)

    @property
    def candidate(self) -> dict:
        """The posterior candidate of ``posterior_run``, with the MAP start [SI] that replaces the CNN's
        (a winner the CNN was not trained on)."""
        return dict(emulator=self.emulator, emulator_path=self.emulator_path, prior_model=self.prior_model,
                    boxed=self.boxed, start=self.start)


def weigh_sets(image, loaded, *, fixes: dict, key, posterior: bool, particles: int | None = None,
               runs: int | None = None) -> SetChoice:
    """Compare the shipped sets on ``image`` (a ``DomainImage``) read by ``loaded`` (the CNN the sets'
    emulators were fitted with) and pick the set whose parameters ``estimate`` reports."""
    from .compare import compare, model_emulators, set_prior, shipped_sets

    files = shipped_sets()
    emulators = model_emulators(files)
    c = compare(image, models={name: emu for name, (emu, _) in emulators.items()}, preset=None, fix={name: fixes for name in files}, cnn=loaded,
                particles=particles or PARTICLES, runs=runs or RUNS, key=key)
    t = c.table
    best = t["best"]
    block = {"best": best, "decided": bool(t["decided"]), "probabilities": t["probabilities"],
             "log_evidence": {n: {"value": e["log_evidence"], "error": e["error"]} for n, e in t["evidence"].items()},
             "compared": list(files), "warnings": list(t["warnings"])}
    others = ", ".join(f"{n} {p:.2g}" for n, p in t["probabilities"].items() if n != best)
    reasons = []
    if not t["decided"]:
        reasons.append(f"{UNDECIDED} (posterior probabilities {', '.join(f'{n} {p:.2g}' for n, p in t['probabilities'].items())}; "
                       f"no set wins by log Bayes factor ≥ 3): the numbers below assume {best}, the likelier one")
    trained = _trained_sets(loaded)
    warnings = []
    if trained is not None and best not in trained:  # CNN-only: its numbers are wrong; with a posterior: a notice
        (warnings if posterior else reasons).append(f"the image is explained by the {best} set (probability {t['probabilities'][best]:.2g}; "
                       f"{others}), which the CNN was not trained on ({', '.join(sorted(trained))}): its estimate "
                       "is not this film's; " + (f"the posterior below is the {best} set's" if posterior else
                                                  f"--posterior gives the {best} set's parameters"))
    candidates = {}
    for name, (emulator, path) in emulators.items():
        start = {}
        if trained is not None and name not in trained:  # the CNN's numbers are of another set: start in the box's middle
            start = {n: 0.5 * (lo + hi) for n, (lo, hi) in emulator.box.items()}
        candidates[name] = dict(emulator=emulator, emulator_path=path, prior_model=set_prior(emulator, fixes),
                                boxed={n for n in emulator.box if n not in fixes}, start=start)
    if not t["decided"] and posterior:
        reasons[0] = reasons[0].replace(f"the numbers below assume {best}, the likelier one",
                                        "the posterior below is averaged over the sets by their probabilities")
    c = candidates[best]
    return SetChoice(block=block, emulator=c["emulator"], emulator_path=c["emulator_path"], prior_model=c["prior_model"],
                     boxed=c["boxed"], reasons=reasons, warnings=warnings, start=c["start"], candidates=candidates)


def average_posteriors(result, config, choice: SetChoice, fixes: dict, priors, *, key, progress: bool, bar,
                       measurements=()) -> None:
    """The sets undecided: each set's posterior (``posterior.run_posterior``), and as ``report["posterior"]``
    their mixture Σ_k p_k p(θ | image, set k) with the comparison's probabilities p_k — Bayesian model
    averaging, so that an interval does not condition on a set the image cannot tell apart. Each set's
    own block is kept in ``report["posterior_by_set"]``; ``result.posterior`` and ``result.idata`` are
    the likelier set's draws, its diagnostics and predictive check lead."""
    import copy

    import jax
    import numpy as np

    from .posterior import run_posterior

    probs = choice.block["probabilities"]
    runs = {}
    for name, k in zip(choice.candidates, jax.random.split(key, len(choice.candidates))):
        r = copy.copy(result)
        r.report, r.config = copy.deepcopy(result.report), copy.deepcopy(result.config)
        run_posterior(r, config, [choice.candidates[name]], fixes, priors, key=k, progress=progress, bar=bar,
                      measurements=measurements)
        runs[name] = r
    best = runs[choice.block["best"]]
    result.report.clear()
    result.report.update(best.report)
    result.config.clear()
    result.config.update(best.config)
    result.posterior, result.idata = best.posterior, best.idata
    draws = {name: {p: np.asarray(r.idata.posterior[p]).reshape(-1) for p in r.idata.posterior.data_vars}
             for name, r in runs.items()}
    blocks = {name: r.report["posterior"] for name, r in runs.items()}
    result.report["posterior"] = mixture_block(draws, blocks, probs, config.hdi_prob,
                                               rng=np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1))))
    result.report["posterior_by_set"] = blocks
    result.report["parameter_set"]["averaged"] = True
    unsettled = [f"{name}: {reason}" for name, r in runs.items() if r is not best for reason in r.report["reasons"]
                 if reason not in result.report["reasons"]]
    result.report["reasons"] = result.report["reasons"] + unsettled
    result.report["trustworthy"] = not result.report["reasons"]


def mixture_block(draws: dict, blocks: dict, probabilities: dict, hdi_prob: float, *, rng, n: int = 20_000) -> dict:
    """``posterior.{name}`` (user units) of the mixture Σ_k p_k p_k(θ): n draws, set k's share n p_k
    (largest remainders) resampled from its draws (a parameter a set fixes enters at its fixed value).

    Args:
        draws: {set: {parameter: its posterior draws}}; blocks: {set: its ``report["posterior"]``}.
        probabilities: {set: p_k}; hdi_prob: the HDI's mass.
    """
    import numpy as np
    from arviz import hdi

    sets = list(blocks)
    p = np.array([float(probabilities[k]) for k in sets])
    p = p / p.sum()
    raw = n * p
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n - counts.sum()]] += 1
    out = {}
    for name in dict.fromkeys(q for k in sets for q in blocks[k]):
        parts = []
        for k, c in zip(sets, counts):
            b = blocks[k].get(name)
            if b is None or c == 0:
                continue
            d = draws[k].get(name)
            parts.append(np.full(c, b["mean"]) if b["fixed"] or d is None else rng.choice(d, c, replace=len(d) < c))
        x = np.concatenate(parts)
        lo, hi = (float(v) for v in hdi(x, hdi_prob=hdi_prob))
        fixed = all(blocks[k].get(name, {}).get("fixed", True) for k in sets) and np.ptp(x) == 0
        r_hats = [blocks[k][name]["r_hat"] for k in sets if name in blocks[k] and blocks[k][name].get("r_hat") is not None]
        unit = next(blocks[k][name]["unit"] for k in sets if name in blocks[k])
        out[name] = dict(unit=unit, mean=float(x.mean()), sd=float(x.std()), median=float(np.median(x)), hdi_low=lo,
                         hdi_high=hi, hdi_prob=hdi_prob, r_hat=max(r_hats) if r_hats else None, ess_bulk=None,
                         ess_tail=None, fixed=bool(fixed), averaged_over={k: float(q) for k, q in zip(sets, p)})
    return out


def _trained_sets(loaded) -> set | None:
    """The parameter sets inside the CNN's training ranges: each set's box (``inference.default_priors``)
    meets every range the model records (None when it records none)."""
    from .compare import SETS
    from ..inference import default_priors

    ranges = loaded.ranges
    if not ranges:
        return None
    out = set()
    for name in SETS:
        spec = default_priors(name)
        ok = True
        for param, (lo, hi) in ranges.items():
            p = spec.get(param)
            if p is None:
                continue
            a, b = (p.value, p.value) if p.fixed else (float(p.dist.support.lower_bound), float(p.dist.support.upper_bound))
            slack = 1e-6 * max(abs(lo), abs(hi), abs(a), abs(b), 1e-30)
            ok &= a <= hi + slack and b >= lo - slack
        if ok:
            out.add(name)
    return out


def check_sets_options(*, emulator, priors) -> None:
    """Refuse options that contradict weighing the shipped sets (before any work)."""
    if emulator is not None:
        raise DomainfitError("sets=True (--sets) uses the shipped sets' emulators: do not name one (--emulator)")
    if priors is not None:
        raise DomainfitError("sets=True (--sets) weighs each set under its own box prior: custom priors apply to one "
                             "set's posterior; run without --sets (and --emulator for that set) to give them")
