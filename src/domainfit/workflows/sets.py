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
    """

    block: dict
    emulator: object
    emulator_path: object
    prior_model: object
    boxed: set
    reasons: list
    warnings: list
    start: dict

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
    emulator, path = emulators[best]
    prior = set_prior(emulator, fixes)
    boxed = {n for n in emulator.box if n not in fixes}
    start = {}
    if trained is not None and best not in trained:  # the CNN's numbers are of another set: start in the box's middle
        start = {n: 0.5 * (lo + hi) for n, (lo, hi) in emulator.box.items()}
    return SetChoice(block=block, emulator=emulator, emulator_path=path, prior_model=prior, boxed=boxed,
                     reasons=reasons, warnings=warnings, start=start)


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
