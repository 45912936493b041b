"""Material parameters θ of a perpendicular film as a pytree in SI units, and the named presets."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._types import Array, CellMap, Float
from ..errors import DomainfitError
from ..parameters import PRESETS as PARAMETER_SETS

DmiKind = Literal["interfacial", "bulk"]


class Material(eqx.Module):
    """Material and condition parameters, SI units. Array leaves are what we differentiate.

    Attributes:
        Ms: saturation magnetisation [A/m].
        A: exchange stiffness A_ex [J/m].
        Ku: mean uniaxial anisotropy constant along z [J/m³].
        D: DMI constant [J/m²].
        sigma: anisotropy dispersion σ = ΔKu/Ku (dimensionless); grain i has Ku(1 + σ ξ_i).
        H_ext: applied field H [A/m], shape (3,).
        xi: grain noise ξ per cell (dimensionless, unit variance per grain, see ``disorder``), or
            None for a film without disorder.
        dmi: "interfacial" (Néel walls, Pt/Co type) or "bulk" (Bloch walls). Static.
        grain_size: mean grain diameter used to draw ``xi`` [m]. Static, informational.
    """

    Ms: Float[Array, ""]
    A: Float[Array, ""]
    Ku: Float[Array, ""]
    D: Float[Array, ""]
    sigma: Float[Array, ""]
    H_ext: Float[Array, "3"]
    xi: CellMap | None = None
    dmi: DmiKind = eqx.field(static=True, default="interfacial")
    grain_size: float = eqx.field(static=True, default=20e-9)

    def __check_init__(self):
        if self.dmi not in ("interfacial", "bulk"):
            raise DomainfitError(f"dmi kind {self.dmi!r}: use 'interfacial' or 'bulk'")

    @property
    def K_eff(self) -> Float[Array, ""]:
        """Effective anisotropy of the thin-film limit K_eff = Ku − μ0 Ms²/2 [J/m³]."""
        from ..units import MU0

        return self.Ku - 0.5 * MU0 * self.Ms**2

    def Ku_map(self) -> Float[Array, "ny nx"] | Float[Array, ""]:
        """Per-cell anisotropy Ku_i = Ku (1 + σ ξ_i) [J/m³] (a scalar without disorder)."""
        if self.xi is None:
            return self.Ku
        return self.Ku * (1.0 + self.sigma * self.xi)


PRESETS: dict[str, dict[str, float]] = {name: dict(p.reference) for name, p in PARAMETER_SETS.items()}
"""Reference parameter sets in SI. ``co-pt``: D spans 0.1–1.0 mJ/m²; ``low-ms``: Ms spans 200–700 kA/m, D = 0."""

PRESET_DMI: dict[str, DmiKind] = {name: p.dmi for name, p in PARAMETER_SETS.items()}
"""DMI kind of each preset. ``co-pt`` uses bulk (nearest-neighbour, Bloch-wall) DMI as the imaging-scale
paper does: in the one-cell 4 nm model film the magnetostatic cost of a Néel wall tilts interfacial-DMI
walls only partly towards Néel (cos ψ = D/D_N, fully Néel above D_N = 1.33 mJ/m², measured on relaxed
walls with every term; the t ≪ Δ formula 4ΔK_D/π gives 1.59), so the wall energy falls only ∝ D² (by
1.2 of the π·1.0 = 3.1 mJ/m² at D = 1 mJ/m²) and D hardly shapes the maze. Bulk DMI gives the full −πD, as
interfacial DMI does for the Néel walls of the real sub-nanometre Co film the preset stands for;
m_z images cannot tell Bloch from Néel walls. docs/physics.md, "Which DMI for the co-pt preset"."""

PRESET_THICKNESS = 4e-9
PRESET_CELL_SIZE = 4e-9


def regime_warnings(material: Material, cell_size: float, period: float | None = None) -> list[str]:
    """Plain-word warnings when a simulation of ``material`` on cells of ``cell_size`` [m] cannot be a
    resolved maze of domains: K_eff = Ku − μ0 Ms²/2 ≤ 0 (not perpendicular in the thin-film limit);
    |D| ≥ D_c = 4√(A K_eff)/π (walls of negative energy: a spin spiral of period 4πA/|D|); cells
    larger than the wall parameter Δ = √(A/K_eff) or the exchange length √(2A/(μ0 Ms²)); a relaxed
    ``period`` [m] spanning fewer than 8 cells."""
    from ..units import MU0

    Ms, A, Ku, D = (float(getattr(material, n)) for n in ("Ms", "A", "Ku", "D"))
    out = []
    k_eff = Ku - 0.5 * MU0 * Ms**2
    nm = 1e9
    if k_eff <= 0:
        out.append(f"K_eff = Ku − μ0Ms²/2 = {k_eff / 1e6:.3g} MJ/m³ ≤ 0: the film is not perpendicular in the "
                   "thin-film limit; its m_z pattern is no perpendicular domain maze")
    else:
        d_c = 4 * math.sqrt(A * k_eff) / math.pi
        if abs(D) >= d_c:
            out.append(f"|D| = {abs(D) * 1e3:.3g} mJ/m² exceeds D_c = 4√(A K_eff)/π = {d_c * 1e3:.3g} mJ/m²: walls "
                       f"cost negative energy and the ground state is a spin spiral of period 4πA/|D| = "
                       f"{4 * math.pi * A / abs(D) * nm:.3g} nm, not a domain maze")
        wall = math.sqrt(A / k_eff)
        if cell_size > wall:
            out.append(f"cells of {cell_size * nm:.3g} nm are larger than the wall parameter √(A/K_eff) = "
                       f"{wall * nm:.3g} nm: the walls are not resolved")
    l_ex = math.sqrt(2 * A / (MU0 * Ms**2))
    if cell_size > l_ex:
        out.append(f"cells of {cell_size * nm:.3g} nm are larger than the exchange length √(2A/(μ0Ms²)) = "
                   f"{l_ex * nm:.3g} nm: the magnetisation is not resolved")
    if period is not None and math.isfinite(period) and period < 8 * cell_size:
        out.append(f"the relaxed pattern's period ({period * nm:.3g} nm) spans only {period / cell_size:.1f} cells: "
                   "the grid does not resolve it")
    return out


PLAUSIBLE = {"Ms": (1e7, "A/m"), "A": (1e-9, "J/m"), "Ku": (1e8, "J/m³"), "D": (1.0, "J/m²"), "H_ext": (1e10, "A/m")}
"""Largest magnitude of each parameter a film could have [SI] (Fe65Co35 has Ms 1.95 MA/m; D is a few mJ/m²)."""


def check_parameters(Ms: float, A: float, Ku: float, D: float, sigma: float, H_ext=(0.0, 0.0, 0.0)) -> None:
    """Raise ``DomainfitError`` for parameters no film can have (SI units)."""
    values = dict(Ms=Ms, A=A, Ku=Ku, D=D, sigma=sigma)
    for name, value in values.items():
        if not math.isfinite(float(value)):
            raise DomainfitError(f"{name} = {value}: not a finite number")
    if not all(math.isfinite(float(h)) for h in np.ravel(H_ext)):
        raise DomainfitError(f"applied field {H_ext}: not finite")
    for name, value in (*((n, values[n]) for n in ("Ms", "A", "Ku", "D")), ("H_ext", np.max(np.abs(np.ravel(H_ext))))):
        if abs(float(value)) > PLAUSIBLE[name][0]:  # before any float32 cast could overflow to inf
            raise DomainfitError(f"{name} = {float(value):.3g} {PLAUSIBLE[name][1]}: beyond any film "
                                 f"(|{name}| ≤ {PLAUSIBLE[name][0]:.0e}); check the unit")
    if Ms <= 0:
        raise DomainfitError(f"Ms = {Ms} A/m: saturation magnetisation must be positive")
    if A <= 0:
        raise DomainfitError(f"A = {A} J/m: exchange stiffness must be positive")
    if not 0 <= sigma < 1:
        raise DomainfitError(f"sigma = {sigma}: the anisotropy dispersion ΔKu/Ku must be in [0, 1) (grains have "
                             "Ku(1 + σξ), ξ ~ N(0, 1); thin films have 0.01–0.3)")


def make_material(
    preset: str | None = "co-pt",
    *,
    dtype=jnp.float32,
    dmi: DmiKind | None = None,
    grain_size: float = 20e-9,
    xi: CellMap | None = None,
    **overrides: float,
) -> Material:
    """Build a ``Material`` from a preset and SI overrides (``Ms``, ``A``, ``Ku``, ``D``, ``sigma``, ``H_ext``).

    ``dmi`` defaults to the preset's kind (``PRESET_DMI``), or "interfacial" without a preset.
    Raises ``DomainfitError`` for an unknown preset or impossible values.
    """
    if preset is None:
        values: dict = dict(Ms=1.0, A=1.0, Ku=0.0, D=0.0, sigma=0.0)
    elif preset in PRESETS:
        values = dict(PRESETS[preset])
    else:
        raise DomainfitError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    unknown = set(overrides) - {"Ms", "A", "Ku", "D", "sigma", "H_ext"}
    if unknown:
        raise DomainfitError(f"unknown material parameter(s) {sorted(unknown)}")
    values.update(overrides)
    values.setdefault("H_ext", (0.0, 0.0, 0.0))
    if dmi is None:
        dmi = PRESET_DMI.get(preset, "interfacial") if preset is not None else "interfacial"
    check_parameters(**values)
    if not (math.isfinite(grain_size) and grain_size > 0):
        raise DomainfitError(f"grain size {grain_size} m: need a finite positive length")
    scalars = {k: jnp.asarray(v, dtype=dtype) for k, v in values.items() if k != "H_ext"}
    return Material(
        **scalars,
        H_ext=jnp.asarray(values["H_ext"], dtype=dtype).reshape(3),
        xi=None if xi is None else jnp.asarray(xi, dtype=dtype),
        dmi=dmi,
        grain_size=float(grain_size),
    )
