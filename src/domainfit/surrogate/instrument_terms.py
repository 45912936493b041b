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

Several images recorded by one instrument share its settings (resolution, lift, noise level,
saturation, …), so part of each image's own scatter recurs in all of them: the family's ``repeat`` ρ_f
(per statistic, in [0, 1]) is that share, measured on calibration films with several fields of view,
each film's recorded by one instrument (``fit_repeats``; ``studies/fov_repeat.py``). Between two such
images i, j the covariance gains L_i diag(ρ_f) L_jᵀ, L the Cholesky factor of each image's own
covariance (``measurements.JointLikelihood``): a valid joint Gaussian (e_i = L_i(√ρ u + √(1−ρ) v_i),
u common, v_i each image's) whose single-image variance is unchanged.

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
        repeat: ρ_f, the share of an image's own scatter that one instrument of the family repeats on
            every image it records (None: not measured).
    """

    bias: tuple[float, ...]
    bias_se: tuple[float, ...]
    scale: tuple[float, ...]
    films: int = 0
    views: int = 0
    repeat: tuple[float, ...] | None = None


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
            if t.repeat is not None and (len(t.repeat) != n or not all(0.0 <= v <= 1.0 for v in t.repeat)):
                raise DomainfitError(f"instrument term of {f}: repeat {list(t.repeat)} must be {n} shares in [0, 1]")
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

    def repeat(self, family: str | None) -> np.ndarray | None:
        """ρ of an instrument of ``family`` (None or a family never calibrated: the training mixture's
        weighted mean), or None where a family in play was not measured."""
        if family in self.families:
            r = self.families[family].repeat
            return None if r is None else np.asarray(r, float)
        if any(t.repeat is None for t in self.families.values()):
            return None
        w = np.array([self.weights[f] for f in self.families], float)
        return (w / w.sum()) @ np.array([self.families[f].repeat for f in self.families], float)

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


RHO_MAX = 0.95
"""The largest repeat ``fit_repeats`` gives: at ρ = 1 the joint covariance of identical images is singular,
and two fields of view never read exactly alike (their states differ)."""


def fit_repeats(z: np.ndarray, shared: np.ndarray, films: Sequence, families: Sequence[str]) -> dict:
    """ρ per family and statistic from calibration films with several fields of view, each film's
    recorded by one instrument: ``z`` [N, n] the views' residuals under the likelihood's own moments
    without repeat (s − mean) / sd_tot, ``shared`` [N, n] the share of each view's variance the
    likelihood already holds in common (``moment_parts``' shared over own + shared), ``films`` each view's
    film id and ``families`` its family. The covariance of two views of one film, estimated by the mean
    product of their residuals over the pairs, less the share already shared, over the own share:

        ρ = (mean z_k z_l − shared) / (1 − shared),   clipped to [0, ``RHO_MAX``].

    Returns {family: dict(repeat, se, films, pairs)} (se from the spread of the films' mean products)
    and "all" pooled over the families."""
    z, shared = np.asarray(z, float), np.asarray(shared, float)
    films, families = np.asarray(films), np.asarray(families)
    if z.shape != shared.shape or z.ndim != 2 or len(z) != len(films) or len(z) != len(families):
        raise DomainfitError(f"{z.shape} residuals, {shared.shape} shares, {len(films)} film ids, "
                             f"{len(families)} families: need one row per view")
    per_film: dict = {}
    for fid in np.unique(films):
        sel = np.flatnonzero(films == fid)
        if len(sel) < 2:
            continue
        fams = set(families[sel])
        if len(fams) != 1:
            raise DomainfitError(f"film {fid}: views of {sorted(fams)}; a film's views must share one instrument")
        prods = [z[i] * z[j] for a, i in enumerate(sel) for j in sel[a + 1:]]
        per_film[fid] = (fams.pop(), np.mean(prods, axis=0), shared[sel].mean(axis=0), len(prods))
    out = {}
    groups = {f: [v for v in per_film.values() if v[0] == f] for f in sorted({v[0] for v in per_film.values()})}
    groups["all"] = list(per_film.values())
    for fam, rows in groups.items():
        if len(rows) < 3:
            continue
        c = np.array([r[1] for r in rows])
        sh = np.array([r[2] for r in rows]).mean(axis=0)
        rho = np.clip((c.mean(axis=0) - sh) / (1 - sh), 0.0, RHO_MAX)
        se = c.std(axis=0, ddof=1) / math.sqrt(len(rows)) / (1 - sh)
        out[fam] = dict(repeat=[float(v) for v in rho], se=[float(v) for v in se], films=len(rows),
                        pairs=int(sum(r[3] for r in rows)))
    return out


def with_repeats(terms: InstrumentTerms, repeats: Mapping[str, Sequence[float]], source: str = "") -> InstrumentTerms:
    """``terms`` with each calibrated family's ρ (``repeats``: family → one share per statistic)."""
    missing = [f for f in terms.families if f not in repeats]
    if missing:
        raise DomainfitError(f"no repeat measured for {', '.join(missing)}: every calibrated family needs one")
    fams = {f: dataclasses.replace(t, repeat=tuple(float(v) for v in repeats[f])) for f, t in terms.families.items()}
    return InstrumentTerms(fams, dict(terms.weights), tuple(terms.stat_names),
                           terms.source + (f"; repeat: {source}" if source else ""))


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
