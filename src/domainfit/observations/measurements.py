"""Scalar measurements of a film beside its images: what they predict from θ and their likelihood.

An experimentalist often has one number about the film besides its domain images: the DMI field from
the in-plane-field shift of the domain-wall depinning (coercive) field or of bubble expansion, a D from
Brillouin light scattering, an Ms from a magnetometer. Each is a ``Measurement`` — a value with its
standard uncertainty and a forward model θ → predicted value — and enters the posterior as a Gaussian
likelihood term, log N(value; f(θ), sd² + (rel · f(θ))²), summed with the images' terms
(``JointLikelihood``). The relative term carries the uncertainty of the forward model itself (for
``dmi_field`` the wall parameter Δ, known only as well as A and K_eff are).

Kinds (SI inside; ``parse_measurement`` reads user units):

- ``dmi_field``: μ0 H_DMI [T], predicted μ0 H_DMI = D / (Ms Δ), Δ = √(A / K_eff), K_eff = Ku − μ0 Ms²/2
  (Je et al., Phys. Rev. B 88, 214401 (2013); Thiaville et al., EPL 100, 57002 (2012)). Default
  relative model error 7.5 % (Δ with A known to ±15 %).
- ``half_field``: μ0H½ [T], the field where the initial magnetisation curve of the demagnetised film
  (virgin curve of a polar Kerr, Hall or VSM loop) reaches ⟨m_z⟩ = ½; predicted by the fitted model
  of ``observations.half_field`` (co-pt set only), whose film-to-film scatter is added to the variance.
  It lies on the same D–σ ridge as the image (docs/observations.md), but no microscope renders it:
  with the DMI field fixing D it reads σ free of the instrument's bias.
- ``D``, ``Ms``, ``sigma``, ``Ku``, ``A``: a direct measurement of that parameter (relative model
  error 0 unless given).

This is the observation that separates D from σ where images cannot (docs/observations.md): every
image statistic moves along the same D–σ ridge, the DMI field depends on D (and Ms, A, Ku) only.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import jax.scipy.linalg  # noqa: F401  (block_diag)

from .._types import Array, Float
from ..errors import DomainfitError
from ..units import MU0, PARAMETER_UNITS, parse_quantity

KINDS: dict[str, tuple[str, str, float]] = {
    # kind: (quantity of parse_quantity, user unit, default relative model error)
    "dmi_field": ("field", "mT", 0.075),
    "half_field": ("field", "mT", 0.0),
    "D": ("D", "mJ/m^2", 0.0),
    "Ms": ("Ms", "kA/m", 0.0),
    "sigma": ("sigma", "1", 0.0),
    "Ku": ("Ku", "MJ/m^3", 0.0),
    "A": ("A", "pJ/m", 0.0),
}
"""Measurement kinds: the quantity their value is read as, its user unit, the default relative model error."""

_USER_FACTOR = {"field": 1e-3, **{k: PARAMETER_UNITS[k][1] for k in ("D", "Ms", "sigma", "Ku", "A")}}


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One scalar measurement of the film.

    Attributes:
        kind: one of ``KINDS`` ("dmi_field", "half_field", "D", "Ms", "sigma", "Ku", "A").
        value: the measured value, SI (T for ``dmi_field`` and ``half_field``: μ0 H).
        sd: its standard uncertainty (reading error), SI, > 0.
        rel_model_sd: relative uncertainty of the forward model (default: the kind's, ``KINDS``).
    """

    kind: str
    value: float
    sd: float
    rel_model_sd: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DomainfitError(f"measurement kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if not math.isfinite(self.value):
            raise DomainfitError(f"{self.kind} measurement {self.value}: not a finite number")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise DomainfitError(f"{self.kind} measurement uncertainty {self.sd}: give a positive uncertainty "
                                 "(a measurement without error would pin the parameter: fix it instead)")
        if self.rel_model_sd is None:
            object.__setattr__(self, "rel_model_sd", KINDS[self.kind][2])
        if not (math.isfinite(self.rel_model_sd) and self.rel_model_sd >= 0):
            raise DomainfitError(f"relative model error {self.rel_model_sd}: give a number ≥ 0")

    @property
    def needs(self) -> tuple[str, ...]:
        """The parameters its forward model reads."""
        return {"dmi_field": ("D", "Ms", "A", "Ku"), "half_field": ("D", "sigma")}.get(self.kind, (self.kind,))

    @property
    def model_floor(self) -> float:
        """Absolute model error [SI] added in quadrature (the H½ model's film-to-film scatter; else 0)."""
        if self.kind == "half_field":
            from .half_field import shipped

            return shipped().residual_sd_T
        return 0.0

    def variance(self, theta: Mapping[str, Float[Array, ""] | float]) -> Float[Array, ""]:
        """sd² + (rel_model_sd · f(θ))² + model_floor²: the Gaussian's variance at θ."""
        return self.sd**2 + (self.rel_model_sd * self.predict(theta)) ** 2 + self.model_floor**2

    def predict(self, theta: Mapping[str, Float[Array, ""] | float]) -> Float[Array, ""]:
        """The value the film θ (SI) would give."""
        missing = [n for n in self.needs if n not in theta]
        if missing:
            raise DomainfitError(f"the {self.kind} measurement needs {', '.join(missing)}: give a prior or a fixed "
                                 "value (the emulator's constants are used when it holds them)")
        if self.kind == "half_field":
            from .half_field import shipped

            return shipped().predict(theta["D"], theta["sigma"])
        if self.kind != "dmi_field":
            return jnp.asarray(theta[self.kind])
        return jnp.asarray(theta["D"]) / (jnp.asarray(theta["Ms"]) * wall_parameter(theta))

    def log_likelihood(self, theta: Mapping[str, Float[Array, ""] | float]) -> Float[Array, ""]:
        """log N(value; f(θ), ``variance(θ)``)."""
        pred = self.predict(theta)
        var = self.variance(theta)
        return -0.5 * (self.value - pred) ** 2 / var - 0.5 * jnp.log(2 * jnp.pi * var)

    def describe(self) -> str:
        """E.g. "μ0H_DMI = 28.2 ± 3 mT (model ± 7.5 %)"."""
        unit = KINDS[self.kind][1]
        f = _USER_FACTOR[KINDS[self.kind][0]]
        name = {"dmi_field": "μ0H_DMI", "half_field": "μ0H½", "sigma": "σ"}.get(self.kind, self.kind)
        u = "" if unit == "1" else " " + unit
        model = f" (model ± {self.rel_model_sd:.1%})" if self.rel_model_sd else ""
        if self.model_floor:
            model += f" (model ± {self.model_floor / f:.2g}{u})"
        return f"{name} = {self.value / f:.4g} ± {self.sd / f:.3g}{u}{model}"

    def to_json(self) -> dict:
        unit = KINDS[self.kind][1]
        f = _USER_FACTOR[KINDS[self.kind][0]]
        return dict(kind=self.kind, unit=unit, value=self.value / f, sd=self.sd / f, rel_model_sd=self.rel_model_sd)

    @classmethod
    def from_json(cls, d: Mapping) -> "Measurement":
        """The inverse of ``to_json`` (values in the kind's user unit)."""
        f = _USER_FACTOR[KINDS[d["kind"]][0]]
        return cls(d["kind"], d["value"] * f, d["sd"] * f, d.get("rel_model_sd"))


def wall_parameter(theta: Mapping[str, Float[Array, ""] | float]) -> Float[Array, ""]:
    """Δ = √(A / K_eff), K_eff = Ku − μ0 Ms²/2 [m] (thin-film limit); NaN where K_eff ≤ 0."""
    k_eff = jnp.asarray(theta["Ku"]) - 0.5 * MU0 * jnp.asarray(theta["Ms"]) ** 2
    return jnp.sqrt(jnp.asarray(theta["A"]) / jnp.where(k_eff > 0, k_eff, jnp.nan))


def dmi_field_of(D: float, Ms: float, A: float, Ku: float) -> float:
    """μ0 H_DMI = D / (Ms Δ) [T] of a film (SI inputs): what an in-plane-field measurement reads."""
    return float(D / (Ms * wall_parameter({"Ms": Ms, "A": A, "Ku": Ku})))


_PM = re.compile(r"\s*(.+?)\s*(?:±|\+/-|\+-)\s*(.+?)\s*")


def parse_measurement(kind: str, text: str) -> Measurement:
    """``parse_measurement("dmi_field", "28mT±3mT")``, ``("D", "0.5±0.05mJ/m2")``, ``("sigma", "0.1±0.01")``.

    The uncertainty takes the value's unit when it has none ("28±3mT" and "28mT±3" read the same).
    An optional "model" error: ``"28mT±3mT,model=5%"``.
    """
    if kind not in KINDS:
        raise DomainfitError(f"measurement kind {kind!r}: use one of {', '.join(KINDS)}")
    quantity, unit, _ = KINDS[kind]
    example = {"dmi_field": "28mT±3mT", "half_field": "48mT±2mT", "D": "0.5mJ/m2±0.05mJ/m2", "Ms": "1500kA/m±50kA/m",
               "sigma": "0.1±0.01", "Ku": "1.6MJ/m3±0.1MJ/m3", "A": "31pJ/m±3pJ/m"}[kind]
    body, _, model = str(text).partition(",")
    m = _PM.fullmatch(body)
    if not m:
        raise DomainfitError(f"cannot read the {kind} measurement {text!r}: write value ± uncertainty, e.g. {example}")
    v_text, e_text = m.group(1), m.group(2)
    num = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    v_unit = re.fullmatch(rf"\s*{num}\s*(.*?)\s*", v_text)
    e_unit = re.fullmatch(rf"\s*{num}\s*(.*?)\s*", e_text)
    if not (v_unit and e_unit):
        raise DomainfitError(f"cannot read the {kind} measurement {text!r}: write value ± uncertainty, e.g. {example}")
    if not v_unit.group(1) and e_unit.group(1):
        v_text += e_unit.group(1)
    if not e_unit.group(1) and v_unit.group(1):
        e_text += v_unit.group(1)
    try:
        value, sd = parse_quantity(quantity, v_text), parse_quantity(quantity, e_text)
    except DomainfitError as err:
        raise DomainfitError(f"the {kind} measurement {text!r}: {err}") from None
    rel = None
    if model:
        key, _, val = model.partition("=")
        if key.strip() != "model" or not val.strip():
            raise DomainfitError(f"the {kind} measurement {text!r}: after the comma write the model error, "
                                 "e.g. model=7.5%")
        rel = parse_quantity("sigma", val.strip())
    return Measurement(kind, value, sd, rel)


class JointLikelihood(eqx.Module):
    """log p(all observations | θ): the images' likelihood (``EmulatorLikelihood`` of each image's
    statistics and area; images read through one emulator share its error at θ, so their joint
    Gaussian has that error on its off-diagonal blocks) plus each ``Measurement``'s independent term.

    ``defaults`` ({name: SI}) supply parameters a measurement needs that θ lacks (the emulator's
    constants: co-pt holds Ms, A, Ku fixed). ``inputs`` is the union of the terms' inputs.

    A pytree: the images' arrays are its leaves, so the posterior of the next set of images reuses the
    compiled sampler. Which images share an emulator is decided here, once (``groups``), not by object
    identity at trace time (a traced pytree's parts are new objects).
    """

    images: tuple
    measurements: tuple = eqx.field(static=True)
    default_items: tuple = eqx.field(static=True)
    groups: tuple = eqx.field(static=True)

    def __init__(self, images: Sequence = (), measurements: Sequence[Measurement] = (),
                 defaults: Mapping[str, float] | None = None):
        self.images = tuple(images)
        self.measurements = tuple(measurements)
        if not self.images and not self.measurements:
            raise DomainfitError("a joint likelihood needs at least one image or measurement")
        merged = {k: float(v) for k, v in (defaults or {}).items()}
        for lik in self.images:
            for name, value in getattr(lik, "constants", {}).items():
                merged.setdefault(name, float(value))
        self.default_items = tuple(merged.items())
        # images read through one emulator object share its error at θ: the same group number
        owners: list[int] = []
        groups = []
        for lik in self.images:
            emu = getattr(lik, "emulator", None) if hasattr(lik, "moment_parts") else None
            if emu is None:
                groups.append(None)
                continue
            match = next((g for g, o in enumerate(owners) if o == id(emu)), None)
            if match is None:
                owners.append(id(emu))
                match = len(owners) - 1
            groups.append(match)
        self.groups = tuple(groups)
        if any(m.kind == "half_field" for m in self.measurements):
            self._check_half_field_set()

    @property
    def defaults(self) -> dict[str, float]:
        return dict(self.default_items)

    def _check_half_field_set(self) -> None:
        """The H½ model was fitted to one parameter set: refuse a film it does not describe."""
        from .half_field import shipped

        model = shipped()
        free = [n for n in model.constants if n in (self.inputs or ())]
        off = [n for n, v in model.constants.items()
               if n in self.defaults and abs(float(self.defaults[n]) - v) > 1e-3 * abs(v)]
        if free or off:
            const = ", ".join(f"{n} = {v:.4g}" for n, v in model.constants.items())
            raise DomainfitError(f"the H½ model holds for the film it was fitted to ({const}, SI); here "
                                 f"{', '.join(free + off)} {'is' if len(free + off) == 1 else 'are'} "
                                 f"{'free' if free else 'different'}: use H½ only with that set")

    @property
    def inputs(self) -> tuple[str, ...] | None:
        names: list[str] = []
        for lik in self.images:
            got = getattr(lik, "inputs", None)
            if got is None:
                return None
            names += [n for n in got if n not in names]
        for m in self.measurements:
            names += [n for n in m.needs if n not in names and n not in self.defaults]
        return tuple(names)

    @property
    def constants(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for lik in self.images:
            out.update(getattr(lik, "constants", {}))
        return out

    @property
    def s_obs(self) -> Float[Array, " n"]:
        """Every observed number in one vector: the images' statistics in order, then the measurements."""
        parts = [jnp.asarray(lik.s_obs) for lik in self.images]
        if self.measurements:
            dtype = parts[0].dtype if parts else jnp.float32
            parts.append(jnp.asarray([m.value for m in self.measurements], dtype))
        return jnp.concatenate(parts)

    def _image_moments(self, theta) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
        """Mean and covariance of the images' statistics together: each image's own block on the
        diagonal, and between two images read through the same emulator its shared error at θ
        (``EmulatorLikelihood.moment_parts``: V_μ and the model error are systematic, not per image)
        plus the part of their own scatter that one instrument repeats, L_i diag(ρ) L_jᵀ
        (``InstrumentTerms.repeat``; the images given together are taken as recorded by one instrument)."""
        parts = []
        for lik in self.images:
            if hasattr(lik, "moment_parts"):
                mean, own, shared = lik.moment_parts(theta)
                rho = lik.repeat() if hasattr(lik, "repeat") else None
                chol = None if rho is None else jnp.linalg.cholesky(own)
                parts.append((lik, mean, own, shared, rho, chol))
            else:
                mean, cov = lik.moments(theta)
                parts.append((lik, mean, cov, None, None, None))
        means = [p[1] for p in parts]
        rows = []
        for i, (li, _, own_i, sh_i, rho_i, l_i) in enumerate(parts):
            row = []
            for j, (lj, mean_j, own_j, sh_j, rho_j, l_j) in enumerate(parts):
                if i == j:
                    row.append(own_i if sh_i is None else own_i + sh_i)
                elif sh_i is not None and self.groups[i] is not None and self.groups[i] == self.groups[j]:
                    same = (rho_i is not None and rho_j is not None and np.array_equal(rho_i, rho_j)
                            and getattr(li, "instrument", None) == getattr(lj, "instrument", None))
                    row.append(sh_i + (l_i * jnp.asarray(rho_i, l_i.dtype)) @ l_j.T if same else sh_i)
                else:
                    row.append(jnp.zeros((own_i.shape[0], own_j.shape[0]), own_i.dtype))
            rows.append(jnp.concatenate(row, axis=1))
        return jnp.concatenate(means), jnp.concatenate(rows, axis=0)

    def _correlated(self) -> bool:
        """Whether two images share an emulator (their terms do not simply add)."""
        shared = [g for g in self.groups if g is not None]
        return len(shared) != len(set(shared))

    def moments(self, theta) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
        """Mean and covariance of ``s_obs`` at θ: the images' block (``_image_moments``) and each
        measurement's N(f(θ), ``Measurement.variance``) on a diagonal (measurements are independent of
        the images and of each other). The Gaussian of these moments at ``s_obs`` is the joint
        likelihood, so predictive checks and pointwise log-likelihoods treat a measurement like one more
        statistic."""
        means, covs = [], []
        if self.images:
            mean, cov = self._image_moments(theta)
            means.append(mean)
            covs.append(cov)
        if self.measurements:
            full = {**self.defaults, **theta}
            dtype = means[0].dtype if means else jnp.float32
            pred = jnp.stack([jnp.asarray(m.predict(full), dtype) for m in self.measurements])
            var = jnp.stack([jnp.asarray(m.variance(full), dtype) for m in self.measurements])
            means.append(pred)
            covs.append(jnp.diag(var))
        return jnp.concatenate(means), jax.scipy.linalg.block_diag(*covs)

    def image_terms(self, theta) -> list:
        """The images' log-likelihood: one term per image, or one joint term when images share an
        emulator (its error is common to them); plus, once, log p_w(θ) that the film keeps walls
        (``surrogate.presence``: every image of one film shows them or none does, so the term is not
        repeated per image)."""
        for lik in self.images:
            if not getattr(lik, "walls", True):
                raise DomainfitError("an image without domain walls cannot join a joint likelihood of several "
                                     "images: estimate it alone (its likelihood is only that the film kept no walls)")
        presence = next((t for t in (lik.presence_term(theta) for lik in self.images if hasattr(lik, "presence_term"))
                         if t is not None), None)
        extra = [] if presence is None else [presence]
        if self._correlated():
            from ..inference.likelihood import gaussian_log_density

            mean, cov = self._image_moments(theta)
            s = jnp.concatenate([jnp.asarray(lik.s_obs) for lik in self.images])
            return [gaussian_log_density(s, mean, cov)] + extra
        return [lik.gaussian(theta) if hasattr(lik, "gaussian") else lik(theta) for lik in self.images] + extra

    def measurement_terms(self, theta) -> list:
        full = {**self.defaults, **theta}
        return [m.log_likelihood(full) for m in self.measurements]

    def __call__(self, theta) -> Float[Array, ""]:
        terms = self.image_terms(theta) + self.measurement_terms(theta)
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total
