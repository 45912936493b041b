"""The instrument term of the image likelihood: what the named instrument family does to the statistics.

The emulator of learned statistics (``surrogate.learned``) is fitted on views recorded by instruments
drawn from the network's training mixture, so μ(θ), Σ(θ) describe that mixture. An image comes from
one instrument, which the user usually names (``--instrument mfm``). Its family reads the film with
its own bias and its own scatter, and a family training never drew reads it with a bias nobody has
measured. The instrument term is measured on calibration films (no dataset's, no test's): each
state recorded by several instruments of every training family, read by the network exactly as a
user's image, standardised by the pooled emulator at the film's θ,

    z = (s − μ(θ)) / σ_tot(θ),   σ_tot² = diag(Σ_emu · a_train/a_obs + V_μ + e² σ²)    (``EmulatorLikelihood``),

and summarised per family f (per statistic): the mean bias b_f, its standard error se_f (from the
films' means: the views of one film share its state) and the scatter c_f = Var(z − b_f). With that,
for an image of family f

    mean  = μ(θ) + b_f σ_emu(θ)                 (the bias does not shrink with the image's area)
    own   = c_f · own_pooled                     (this image's noise)
    shared= c_f · shared_pooled + se_f² σ_emu²   (the calibration's own error, shared by images of one instrument)

For a family not calibrated (never drawn in training, e.g. ``lorentzian``) the bias is unknown: it is
taken as a draw from the families' spread, b ~ N(b̄, τ²), τ² the weighted variance of the b_f (weights
the training mixture's), added to ``shared`` with the scatter of the mixture, c̄ + τ². An unnamed
instrument gets the mixture: b̄ and c̄ + τ² (with τ² in ``own``, since each image may come from another
family). A term with n films has se ≈ 1/√n: it is only as good as its calibration set
(docs/observations.md, "The instrument term").
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import DomainfitError


@dataclasses.dataclass(frozen=True)
class FamilyTerm:
    """One family's term (per statistic, in units of the pooled emulator's sd at θ).

    Attributes:
        bias: b_f, the mean standardised residual; bias_se: its standard error.
        scale: c_f, the variance of the standardised residuals about b_f (1 = the pooled scatter).
        films, views: how many calibration films and views measured it.
    """

    bias: tuple[float, ...]
    bias_se: tuple[float, ...]
    scale: tuple[float, ...]
    films: int = 0
    views: int = 0


@dataclasses.dataclass(frozen=True)
class InstrumentTerms:
    """The instrument terms of one emulator (module docstring).

    Attributes:
        families: calibrated family → ``FamilyTerm``.
        weights: family → weight of the training mixture (for b̄, c̄, τ²).
        stat_names: the emulator statistics the terms belong to (checked on use).
        source: how they were measured (command, films, date), for the report.
    """

    families: Mapping[str, FamilyTerm]
    weights: Mapping[str, float]
    stat_names: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        n = len(self.stat_names)
        if not self.families:
            raise DomainfitError("instrument terms need at least one calibrated family")
        for f, t in self.families.items():
            if not (len(t.bias) == len(t.bias_se) == len(t.scale) == n):
                raise DomainfitError(f"instrument term of {f}: {len(t.bias)} values for {n} statistics")
            if not all(math.isfinite(v) for v in (*t.bias, *t.bias_se, *t.scale)) or min(t.scale) <= 0:
                raise DomainfitError(f"instrument term of {f}: non-finite values or a scale ≤ 0")
        missing = [f for f in self.families if f not in self.weights]
        if missing:
            raise DomainfitError(f"instrument terms: no mixture weight for {', '.join(missing)}")

    # --- the mixture ------------------------------------------------------------------------------------
    def bias_spread(self) -> np.ndarray:
        """T = Σ_f w_f (b_f − b̄)(b_f − b̄)ᵀ [n, n]: the covariance of the families' bias vectors (σ_emu
        units), whose diagonal is τ² — the bias of an unnamed instrument, correlated between statistics
        as the families' biases are."""
        w = np.array([self.weights[f] for f in self.families], float)
        w = w / w.sum()
        b = np.array([self.families[f].bias for f in self.families])
        d = b - w @ b
        return (w[:, None] * d).T @ d

    def _mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(b̄, c̄, τ², se² of b̄) over the calibrated families, weighted as training drew them."""
        fams = list(self.families)
        w = np.array([self.weights[f] for f in fams], float)
        w = w / w.sum()
        b = np.array([self.families[f].bias for f in fams])
        c = np.array([self.families[f].scale for f in fams])
        se = np.array([self.families[f].bias_se for f in fams])
        bbar = w @ b
        tau2 = w @ (b - bbar) ** 2
        return bbar, w @ c, tau2, (w**2) @ se**2

    def term(self, family: str | None) -> dict[str, np.ndarray | str]:
        """The term for an image of ``family`` (None: not named): ``bias``, ``own_scale`` (multiplies the
        image's own noise), ``own_extra`` (the image's own covariance [n, n] in σ_emu units at the
        training area, not scaled by the observed area: the unnamed family's bias, ``bias_spread``),
        ``shared_scale`` (multiplies the pooled shared error), ``shared_extra``
        (added to the shared error, in σ_emu² units) and ``kind`` ("calibrated", "uncalibrated family",
        "unnamed")."""
        bbar, cbar, tau2, se2bar = self._mixture()
        none = np.zeros((len(cbar), len(cbar)))
        if family in self.families:
            t = self.families[family]
            c = np.asarray(t.scale)
            return dict(kind="calibrated", bias=np.asarray(t.bias), own_scale=c, own_extra=none,
                        shared_scale=c, shared_extra=np.asarray(t.bias_se) ** 2)
        if family is None:  # another image may be another instrument: the families' spread is per image,
            # and a family's bias is the image's whatever its size (own_extra: not scaled by the area)
            return dict(kind="unnamed", bias=bbar, own_scale=cbar, own_extra=self.bias_spread(),
                        shared_scale=np.ones_like(cbar), shared_extra=se2bar)
        # a family never calibrated: one instrument, whose unknown bias every image of it shares
        return dict(kind="uncalibrated family", bias=bbar, own_scale=cbar, own_extra=none,
                    shared_scale=np.ones_like(cbar), shared_extra=tau2 + se2bar)

    def describe(self, family: str | None) -> str:
        t = self.term(family)
        name = family or "not named"
        return (f"instrument term ({name}: {t['kind']}): bias "
                + ", ".join(f"{s} {b:+.2f} sd" for s, b in zip(self.stat_names, t["bias"])))

    # --- storage ----------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"families": {f: dataclasses.asdict(t) for f, t in self.families.items()},
                "weights": dict(self.weights), "stat_names": list(self.stat_names), "source": self.source}

    @classmethod
    def from_json(cls, d: Mapping) -> "InstrumentTerms":
        fams = {f: FamilyTerm(**{k: tuple(v) if isinstance(v, list) else v for k, v in t.items()})
                for f, t in d["families"].items()}
        return cls(fams, dict(d["weights"]), tuple(d["stat_names"]), str(d.get("source", "")))


def fit_instrument_terms(
    z: np.ndarray, families: Sequence[str], films: Sequence, weights: Mapping[str, float], stat_names: Sequence[str],
    source: str = "",
) -> InstrumentTerms:
    """Fit the terms to standardised residuals ``z`` [N, n] of N calibration views, each with its
    ``families`` name and the id of the film it recorded (``films``): per family the mean (b_f), its
    standard error from the spread of the films' means (se_f = sd / √n_films: a film's views share its
    state) and the variance about the mean (c_f). Families absent from ``weights`` (never drawn in
    training) are not fitted: their bias is what the term must not assume."""
    z = np.asarray(z, float)
    families, films = np.asarray(families), np.asarray(films)
    if z.ndim != 2 or len(z) != len(families) or len(z) != len(films):
        raise DomainfitError(f"{z.shape} residuals, {len(families)} families, {len(films)} film ids: need one per view")
    if not np.all(np.isfinite(z)):
        raise DomainfitError("non-finite standardised residuals: a view's statistics or the emulator failed")
    out = {}
    for fam in weights:
        sel = families == fam
        ids = np.unique(films[sel])
        if len(ids) < 5:
            raise DomainfitError(f"{fam}: {len(ids)} calibration films; need at least 5 per family")
        zf = z[sel]
        means = np.array([zf[films[sel] == i].mean(axis=0) for i in ids])
        bias = zf.mean(axis=0)
        se = means.std(axis=0, ddof=1) / math.sqrt(len(ids))
        scale = ((zf - bias) ** 2).sum(axis=0) / (len(zf) - 1)
        out[fam] = FamilyTerm(tuple(map(float, bias)), tuple(map(float, se)), tuple(map(float, scale)),
                              films=int(len(ids)), views=int(sel.sum()))
    return InstrumentTerms(out, dict(weights), tuple(stat_names), source)


def attach(emulator, terms: InstrumentTerms):
    """The emulator with ``terms`` in its report (saved with it by ``Emulator.save``)."""
    from .emulator import Emulator, fields_of

    if tuple(terms.stat_names) != tuple(emulator.stat_names):
        raise DomainfitError(f"instrument terms for statistics {terms.stat_names}, the emulator has {emulator.stat_names}")
    report = dict(emulator.error_report, instrument_terms=terms.to_json())
    return Emulator(**{**fields_of(emulator), "report": json.dumps(report)})


def terms_of(emulator) -> InstrumentTerms | None:
    """The emulator's instrument terms, or None when it has none."""
    d = emulator.provenance.instrument_terms
    if not d:
        return None
    terms = InstrumentTerms.from_json(d)
    if tuple(terms.stat_names) != tuple(emulator.stat_names):
        raise DomainfitError("the emulator's instrument terms belong to other statistics: refit them")
    return terms
