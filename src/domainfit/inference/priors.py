"""Priors over the film and imaging parameters θ, and the normalised space the samplers work in.

A prior is a set of ``Prior`` specs, one per parameter, each a numpyro distribution in SI units or a
fixed value — or, for correlated priors, a user function that calls ``numpyro.sample`` itself and
returns ``{name: SI value}`` (``PriorModel.from_function``). Either way ``PriorModel`` turns it into
a bijection between θ (SI, constrained) and a flat vector u ∈ ℝᵈ in which every coordinate is O(1):

    y = numpyro's unconstrained coordinates of the sample sites (``biject_to(support)⁻¹``),
    u = (y − c) / s,     c, s = median and spread of y under 2,000 prior draws,

so a D prior in J/m² (1e-4 … 1e-3) and an Ms prior in A/m (1e5 … 1e6) both reach the optimiser and
NUTS as numbers of order one. ``log_prior(u)`` is the prior density *in u* (Jacobians of both maps
included), so it integrates to one over ℝᵈ and evidences computed in u are evidences in θ.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer.util import constrain_fn, log_density, unconstrain_fn

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ..parameters import DESCRIPTIONS, PRESETS as PARAMETER_SETS, SI_UNITS

PARAMETERS: dict[str, tuple[str, str]] = {name: (SI_UNITS[name], DESCRIPTIONS[name]) for name in SI_UNITS}
"""Known parameter names with their SI unit and meaning (others are allowed, with unit "?")."""



@dataclasses.dataclass(frozen=True)
class Prior:
    """Prior of one parameter: a numpyro distribution over its SI value, or a fixed SI value.

    Attributes:
        name: parameter name (see ``PARAMETERS``), e.g. "D".
        dist: numpyro distribution of the SI value (e.g. ``dist.Uniform(0.1e-3, 1.0e-3)`` for D in
            J/m²), or None when the parameter is fixed.
        value: the fixed SI value when ``dist`` is None.
        unit: SI unit, filled from ``PARAMETERS`` when left empty.
    """

    name: str
    dist: dist.Distribution | None = None
    value: float | None = None
    unit: str = ""

    def __post_init__(self):
        if not self.unit:
            object.__setattr__(self, "unit", PARAMETERS.get(self.name, ("?", ""))[0])
        if (self.dist is None) == (self.value is None):
            raise DomainfitError(f"prior of {self.name}: give either a distribution or a fixed value, not both/neither")
        if self.dist is not None:
            if not isinstance(self.dist, dist.Distribution):
                raise DomainfitError(f"prior of {self.name}: {self.dist!r} is not a numpyro distribution")
            if self.dist.event_shape != () or self.dist.batch_shape != ():
                raise DomainfitError(f"prior of {self.name}: need a scalar distribution, got shape "
                                     f"{self.dist.batch_shape + self.dist.event_shape}")
        elif not math.isfinite(float(self.value)):
            raise DomainfitError(f"prior of {self.name}: fixed value {self.value} is not finite")

    @property
    def fixed(self) -> bool:
        return self.dist is None

    @classmethod
    def uniform(cls, name: str, low: float, high: float) -> "Prior":
        """A box prior U(low, high) in SI units."""
        if not (high > low):
            raise DomainfitError(f"prior of {name}: empty box [{low}, {high}]")
        return cls(name, dist.Uniform(float(low), float(high)))

    @classmethod
    def fix(cls, name: str, value: float) -> "Prior":
        """A parameter held at ``value`` (SI)."""
        return cls(name, value=float(value))


def default_priors(preset: str = "co-pt", *, free: tuple[str, ...] = ()) -> dict[str, Prior]:
    """Box priors of the training set (imaging-scale paper, Table 1) for ``preset``, in SI.

    co-pt: D ∈ [0.1, 1.0] mJ/m², σ ∈ [0.05, 0.2]; Ms 1.5 MA/m, Ku 1.6 MJ/m³, A 31 pJ/m, t 4 nm fixed.
    low-ms: Ms ∈ [200, 700] kA/m, σ ∈ [0.05, 0.2]; D = 0, Ku 0.4 MJ/m³, A 10 pJ/m, t 4 nm fixed.
    Imaging: blur 0 nm and contrast 1 fixed. ``free`` frees nuisance parameters with a ±10 % box
    (blur: 0–30 nm; contrast: 0.8–1.2).
    """
    if preset not in PARAMETER_SETS:
        raise DomainfitError(f"no default priors for preset {preset!r}: choose one of {', '.join(PARAMETER_SETS)}")
    box = PARAMETER_SETS[preset]
    # the set's free parameters first (their order is the order of the samplers' u), then the held ones
    spec: dict[str, Any] = dict(box.free(), **box.fixed(), thickness=box.thickness, blur_fwhm=0.0, contrast=1.0)
    nuisance_box = {"blur_fwhm": (0.0, 30e-9), "contrast": (0.8, 1.2)}
    for name in free:
        if name not in spec:
            raise DomainfitError(f"cannot free {name!r}: parameters are {', '.join(spec)}")
        if not isinstance(spec[name], tuple):
            v = spec[name]
            spec[name] = nuisance_box.get(name, (0.9 * v, 1.1 * v))
    return {
        name: Prior.uniform(name, *v) if isinstance(v, tuple) else Prior.fix(name, v) for name, v in spec.items()
    }


def _dist_key(d: dist.Distribution) -> tuple:
    """A distribution as a hashable value: its type and its parameters (scalars, exact)."""
    params = []
    for name in sorted(getattr(d, "arg_constraints", {})):
        v = getattr(d, name, None)
        if v is None:
            continue
        a = np.asarray(v)
        params.append((name, str(a.dtype), a.shape, a.tobytes()))
    return (type(d).__module__, type(d).__qualname__, tuple(params))


class SpecPrior:
    """The numpyro prior function of a set of ``Prior`` specs, equal (and hashing equal) to any other
    built from equal specs: a compiled posterior keyed on it is reused by the next image with the same
    prior instead of being compiled again (issue 32: a long-lived process stays flat)."""

    def __init__(self, priors: Mapping[str, Prior]):
        self.priors = dict(priors)
        self.key = tuple(
            (name, p.unit, ("fixed", float(p.value)) if p.fixed else _dist_key(p.dist)) for name, p in self.priors.items()
        )

    def __call__(self) -> dict[str, Any]:
        theta = {}
        for name, p in self.priors.items():
            theta[name] = p.value if p.fixed else numpyro.sample(name, p.dist)
        return theta

    def __eq__(self, other) -> bool:
        return isinstance(other, SpecPrior) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


_SETUP_CACHE: dict = {}
"""(prior function, n_draws, 64-bit mode) → the normalised space of a ``SpecPrior`` at key 0: built once per prior."""


class PriorModel:
    """A prior over θ with the map u ↔ θ to the normalised unconstrained space (see module docstring).

    Build it from ``Prior`` specs (``PriorModel(specs)``) or from a user function
    (``PriorModel.from_function(fn, units=...)``). ``names`` lists the free sample sites (the order
    of u); ``theta(u)`` returns every parameter (free and fixed) in SI.
    """

    def __init__(self, priors: Mapping[str, Prior] | list[Prior], *, key: Key[Array, ""] | None = None, n_draws: int = 2000):
        if not isinstance(priors, Mapping):
            priors = {p.name: p for p in priors}
        for name, p in priors.items():
            if name != p.name:
                raise DomainfitError(f"prior stored under {name!r} is named {p.name!r}")
        self.priors = dict(priors)
        units = {name: p.unit for name, p in priors.items()}
        self._setup(SpecPrior(self.priors), units, key=key, n_draws=n_draws)

    @classmethod
    def from_function(cls, fn: Callable[[], Mapping[str, Any]], *, units: Mapping[str, str] | None = None,
                      key: Key[Array, ""] | None = None, n_draws: int = 2000) -> "PriorModel":
        """A prior built by a user function that calls ``numpyro.sample`` and returns ``{name: SI value}``.

        Example (D and σ correlated, Ms fixed)::

            def my_prior():
                D = numpyro.sample("D", dist.Uniform(0.1e-3, 1e-3))
                sigma = numpyro.sample("sigma", dist.TruncatedNormal(0.05 + 100 * D, 0.02, low=0.0))
                return {"D": D, "sigma": sigma, "Ms": 1.5e6}
        """
        self = cls.__new__(cls)
        self.priors = {}
        self._setup(fn, dict(units or {}), key=key, n_draws=n_draws)
        return self

    def _setup(self, fn, units, *, key, n_draws):
        self.fn = fn
        # The draws that set the space differ between 32- and 64-bit mode: a space set up under
        # jax_enable_x64 is not the 32-bit one, and reusing it made the same call give other numbers
        # depending on what ran before it in the process.
        x64 = bool(jax.config.jax_enable_x64)
        cache_key = (fn, n_draws, x64) if key is None and isinstance(fn, SpecPrior) else None
        key = jax.random.key(0) if key is None else key
        self._identity = (fn, n_draws, np.asarray(jax.random.key_data(key)).tobytes(), x64)
        cached = _SETUP_CACHE.get(cache_key) if cache_key is not None else None
        if cached is not None:  # the same specs were set up before: same draws, same space
            self.names, self.parameters, self._unravel, self.center, self.scale, self.dim = cached
            self.units = {name: units.get(name) or PARAMETERS.get(name, ("?", ""))[0] for name in self.parameters}
            return
        try:
            draws = numpyro.infer.Predictive(fn, num_samples=n_draws)(key)
            trace = handlers.trace(handlers.seed(fn, key)).get_trace()
            returned = handlers.seed(fn, key)()
        except Exception as err:  # a broken user function: say so plainly
            raise DomainfitError(f"the prior function failed when sampled: {err}") from err
        if not isinstance(returned, Mapping):
            raise DomainfitError("the prior function must return a dict {parameter name: SI value}")
        self.names = tuple(n for n, site in trace.items() if site["type"] == "sample" and not site["is_observed"])
        if not self.names:
            raise DomainfitError("the prior has no free parameter: nothing to infer")
        self.parameters = tuple(returned)
        self.units = {name: units.get(name) or PARAMETERS.get(name, ("?", ""))[0] for name in self.parameters}
        draws = {n: draws[n] for n in self.names}
        y = jax.vmap(lambda d: ravel_pytree(unconstrain_fn(fn, (), {}, d))[0])(draws)
        if not bool(jnp.all(jnp.isfinite(y))):
            raise DomainfitError("prior draws fall outside the prior's own support (improper prior?)")
        _, self._unravel = ravel_pytree({n: draws[n][0] for n in self.names})
        self.center = jnp.median(y, axis=0)
        spread = (jnp.quantile(y, 0.8413, axis=0) - jnp.quantile(y, 0.1587, axis=0)) / 2
        self.scale = jnp.where(spread > 0, spread, 1.0)
        self.dim = int(y.shape[1])
        if cache_key is not None:
            if len(_SETUP_CACHE) >= 64:
                _SETUP_CACHE.pop(next(iter(_SETUP_CACHE)))
            _SETUP_CACHE[cache_key] = (self.names, self.parameters, self._unravel, self.center, self.scale, self.dim)

    def __eq__(self, other) -> bool:
        """Equal priors define the same space: the same prior function (equal specs, or the same
        function object), draws and units. A compiled posterior is reused across equal priors."""
        return (isinstance(other, PriorModel) and other._identity == self._identity
                and other.units == self.units)

    def __hash__(self) -> int:
        return hash(self._identity)

    # --- maps between u (normalised, unconstrained), the sample sites and θ ---------------------------
    def sites(self, u: Float[Array, " d"]) -> dict[str, Array]:
        """Constrained sample-site values at u."""
        y = self.center + self.scale * u
        return constrain_fn(self.fn, (), {}, self._unravel(y))

    def theta(self, u: Float[Array, " d"]) -> dict[str, Array]:
        """Every parameter (free and fixed) in SI at u."""
        sites = self.sites(u)
        return dict(handlers.substitute(handlers.seed(self.fn, 0), data=sites)())

    def to_u(self, theta: Mapping[str, float]) -> Float[Array, " d"]:
        """u of the free parameters in ``theta`` (SI). Raises ``DomainfitError`` where the prior has no support.

        Free parameters absent from ``theta`` take the prior median; a value on the edge of a box prior
        is moved just inside it.
        """
        median = self.sites(jnp.zeros(self.dim))  # free parameters missing from the seed start at the prior median
        sites = {n: jnp.asarray(theta[n] if n in theta else median[n], dtype=jnp.result_type(float)) for n in self.names}
        self.check_support(sites)
        y = ravel_pytree(unconstrain_fn(self.fn, (), {}, sites))[0]
        u = (y - self.center) / self.scale
        # A seed exactly on the edge of a box maps to ±∞: start just inside instead (3 normalised units).
        return jnp.where(jnp.isfinite(u), u, jnp.where(u > 0, 3.0, -3.0))

    def check_support(self, theta: Mapping[str, float]) -> None:
        """Raise ``DomainfitError`` when the prior density vanishes at the free values in ``theta`` (SI)."""
        sites = {n: jnp.asarray(theta[n], dtype=jnp.result_type(float)) for n in self.names if n in theta}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpyro's own out-of-support warning; we raise below
                lp, _ = log_density(handlers.substitute(self.fn, data=sites), (), {}, {})
        except Exception:
            lp = -jnp.inf
        if not bool(jnp.isfinite(lp)):
            where = ", ".join(f"{n} = {float(v):.4g}" + _unit_suffix(self.units.get(n, "")) for n, v in sites.items())
            raise DomainfitError(
                f"the prior has no support at the starting estimate ({where}): widen the prior or check the seed"
            )

    def log_prior(self, u: Float[Array, " d"]) -> Float[Array, ""]:
        """log p(u): the prior density in the normalised space (Jacobians included)."""
        y = self.center + self.scale * u
        params = self._unravel(y)
        lp = -numpyro.infer.util.potential_energy(self.fn, (), {}, params)
        return lp + jnp.sum(jnp.log(self.scale))

    def sample_u(self, n: int, *, key: Key[Array, ""]) -> Float[Array, "n d"]:
        """``n`` draws of u from the prior."""
        return _sample_u(self, n, key)

    def describe(self) -> dict[str, str]:
        """Plain-words description per parameter (for reports)."""
        out = {}
        for name in self.parameters:
            p = self.priors.get(name)
            if p is None:
                out[name] = "user prior function"
            elif p.fixed:
                out[name] = f"fixed at {p.value:g} {p.unit}"
            else:
                out[name] = f"{type(p.dist).__name__}({_dist_args(p.dist)}) [{p.unit}]"
        return out


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample_u(prior: PriorModel, n: int, key: Key[Array, ""]) -> Float[Array, "n d"]:
    """``PriorModel.sample_u``, compiled once per prior (priors compare by value) and number of draws."""
    draws = numpyro.infer.Predictive(prior.fn, num_samples=n)(key)
    draws = {k: draws[k] for k in prior.names}
    y = jax.vmap(lambda d: ravel_pytree(unconstrain_fn(prior.fn, (), {}, d))[0])(draws)
    return (y - prior.center) / prior.scale


def _unit_suffix(unit: str) -> str:
    return "" if unit in ("", "1", "?") else f" {unit}"


def _dist_args(d: dist.Distribution) -> str:
    parts = []
    for k in getattr(d, "arg_constraints", {}):
        v = getattr(d, k, None)
        if v is not None and np.ndim(v) == 0:
            parts.append(f"{k}={float(v):g}")
    return ", ".join(parts)
