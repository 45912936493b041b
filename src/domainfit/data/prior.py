"""The prior box of training data: per-parameter uniform ranges in SI, possibly a mixture of presets.

A ``PriorBox`` is a mixture of ``PriorComponent``s, each a box of independent uniform ranges for the
five material parameters (D, Ms, σ, Ku, A). The defaults are the two parameter sets of the
imaging-scale paper (Table 1): ``co-pt`` (D ∈ [0.1, 1.0] mJ/m², σ ∈ [0.05, 0.2], Ms = 1500 kA/m,
Ku = 1.6 MJ/m³, A = 31 pJ/m) and ``low-ms`` (Ms ∈ [200, 700] kA/m, σ ∈ [0.05, 0.2], D = 0,
Ku = 0.4 MJ/m³, A = 10 pJ/m); ``mix`` draws either with probability ½.

Sample ``i`` of a dataset depends only on its 32-bit seed (``sample_seeds``), never on batching,
sharding or restarts: the component and the parameters come from ``fold_in(key(seed), 1)``, and the
simulation (initial state and grains) from ``key(seed)`` itself, exactly as
``domainfit simulate --seed SEED`` would use it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DomainfitError
from ..parameters import MATERIAL, PRESETS as PARAMETER_SETS, SI_UNITS

PARAMETERS: tuple[str, ...] = MATERIAL
"""Order of the columns of a parameter array ``params[n, 5]`` (SI: J/m², A/m, 1, J/m³, J/m)."""

UNITS_SI: dict[str, str] = {n: SI_UNITS[n] for n in MATERIAL}

_PRESET_BOXES: dict[str, dict[str, tuple[float, float]]] = {name: dict(p.box) for name, p in PARAMETER_SETS.items()}
PRESETS: tuple[str, ...] = (*PARAMETER_SETS, "mix")


@dataclasses.dataclass(frozen=True)
class PriorComponent:
    """One box of independent uniform ranges (SI), chosen with probability ``weight``/Σweights.

    Attributes:
        name: label (the preset it came from).
        weight: relative probability of this component (> 0).
        bounds: (low, high) per name of ``PARAMETERS`` in SI; low == high fixes the parameter.
    """

    name: str
    weight: float
    bounds: tuple[tuple[float, float], ...]  # in the order of PARAMETERS

    def __post_init__(self):
        if len(self.bounds) != len(PARAMETERS):
            raise DomainfitError(f"prior component {self.name!r}: need bounds for {', '.join(PARAMETERS)}")
        for name, (lo, hi) in zip(PARAMETERS, self.bounds):
            if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
                raise DomainfitError(f"prior range of {name} [{lo}, {hi}] (SI): need finite low ≤ high")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise DomainfitError(f"prior component {self.name!r}: weight {self.weight} must be positive")

    def bound(self, name: str) -> tuple[float, float]:
        return self.bounds[PARAMETERS.index(name)]


@dataclasses.dataclass(frozen=True)
class PriorBox:
    """A mixture of uniform boxes over (D, Ms, σ, Ku, A) in SI units."""

    components: tuple[PriorComponent, ...]

    def __post_init__(self):
        if not self.components:
            raise DomainfitError("a prior needs at least one component")

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Overall (low, high) per parameter over all components [SI]."""
        out = {}
        for k, name in enumerate(PARAMETERS):
            out[name] = (min(c.bounds[k][0] for c in self.components), max(c.bounds[k][1] for c in self.components))
        return out

    def to_json(self) -> dict:
        return {
            "parameters": list(PARAMETERS),
            "units": UNITS_SI,
            "components": [
                {"name": c.name, "weight": c.weight, "bounds": {n: list(b) for n, b in zip(PARAMETERS, c.bounds)}}
                for c in self.components
            ],
        }

    @classmethod
    def from_json(cls, obj: Mapping) -> "PriorBox":
        comps = []
        for c in obj["components"]:
            comps.append(
                PriorComponent(
                    name=str(c["name"]),
                    weight=float(c["weight"]),
                    bounds=tuple((float(c["bounds"][n][0]), float(c["bounds"][n][1])) for n in PARAMETERS),
                )
            )
        return cls(tuple(comps))

    def sample(self, seeds: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parameters of the samples with these 32-bit seeds.

        Returns:
            params: float64 array [n, 5] in SI, columns in the order of ``PARAMETERS``.
            component: int array [n], the index of the mixture component of each sample.
        """
        seeds = np.asarray(seeds, dtype=np.uint32).reshape(-1)
        if seeds.size == 0:
            return np.zeros((0, len(PARAMETERS))), np.zeros((0,), np.int64)
        u = np.asarray(_uniforms(jnp.asarray(seeds)), dtype=np.float64)  # [n, 1 + 5], exact float32 values
        w = np.array([c.weight for c in self.components], dtype=np.float64)
        edges = np.cumsum(w / w.sum())
        comp = np.minimum(np.searchsorted(edges, u[:, 0], side="right"), len(self.components) - 1)
        lo = np.array([[b[0] for b in c.bounds] for c in self.components])[comp]
        hi = np.array([[b[1] for b in c.bounds] for c in self.components])[comp]
        # The affine map runs in NumPy float64, so a value never depends on how XLA fuses a batch.
        params = lo + u[:, 1:] * (hi - lo)
        return params, comp.astype(np.int64)


@jax.jit
def _uniforms(seeds):
    def one(seed):
        return jax.random.uniform(jax.random.fold_in(jax.random.key(seed), 1), (1 + len(PARAMETERS),))

    return jax.vmap(one)(seeds)


def preset_prior(preset: str = "mix") -> PriorBox:
    """The default prior of a preset: ``co-pt``, ``low-ms`` or ``mix`` (both, weight ½ each)."""
    if preset == "mix":
        names = ["co-pt", "low-ms"]
    elif preset in _PRESET_BOXES:
        names = [preset]
    else:
        raise DomainfitError(f"unknown prior preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return PriorBox(
        tuple(PriorComponent(n, 1.0, tuple(_PRESET_BOXES[n][p] for p in PARAMETERS)) for n in names)
    )


def with_bounds(prior: PriorBox, **bounds: tuple[float, float]) -> PriorBox:
    """``prior`` with the ranges of the named parameters [SI] replaced in every component."""
    unknown = set(bounds) - set(PARAMETERS)
    if unknown:
        raise DomainfitError(f"unknown prior parameter(s) {sorted(unknown)}: use {', '.join(PARAMETERS)}")
    comps = []
    for c in prior.components:
        b = list(c.bounds)
        for name, (lo, hi) in bounds.items():
            b[PARAMETERS.index(name)] = (float(lo), float(hi))
        comps.append(PriorComponent(c.name, c.weight, tuple(b)))
    out = PriorBox(tuple(comps))
    for c in out.components:
        Ms, A = c.bound("Ms"), c.bound("A")
        if Ms[0] <= 0 or A[0] <= 0 or c.bound("sigma")[0] < 0:
            raise DomainfitError("prior ranges need Ms > 0, A > 0 and sigma ≥ 0")
    return out


_M32 = 0xFFFFFFFF


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 that mixes all bits."""
    h = np.asarray(h, dtype=np.uint64) & _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def sample_seeds(base_seed: int, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """32-bit seeds of samples ``indices`` of a dataset with ``base_seed`` (int64 array).

    seed_i = fmix32((i + fmix32(base_seed)) mod 2³²): distinct for distinct i < 2³² (a bijection),
    scattered pseudo-randomly, so datasets with different base seeds share almost no sample.
    """
    if not (0 <= int(base_seed) <= _M32):
        raise DomainfitError(f"seed {base_seed}: need an integer in [0, 2^32)")
    idx = np.asarray(indices, dtype=np.uint64)
    offset = _fmix32(np.uint64(base_seed ^ 0x9E3779B9))
    return _fmix32((idx + offset) & _M32).astype(np.int64)
