"""The period law: the equilibrium period of straight stripe domains of a thin film, and D from a period.

A film of thickness t at zero field splits into up and down stripes of period P (one up plus one down
domain). Relative to the uniform state, the energy per film area of stripes whose walls have the
one-dimensional profile m_z = tanh(x/Δ), Δ = √(A/K_eff), is (SI; K_d = μ0Ms²/2, K_eff = Ku − K_d)

    e(P) = 2 σ_w t / P − K_d t Σ_{n odd} (8/(n²π²)) F_z(k_n)² (1 − f(k_n t))
                      + K_d t Σ_{n odd} (8π²Δ²/P²) F_x(k_n)² (1 − f(k_n t))      [Néel walls only]

with k_n = 2πn/P, σ_w = 4√(A K_eff) − π|D| the wall energy with the local thin-film demagnetisation,
f(x) = (1 − e^{−x})/x the thickness-averaged kernel the simulator uses (``demag``), F_z(k) =
(πkΔ/2)/sinh(πkΔ/2) the form factor of a tanh wall's m_z and F_x(k) = sech(πkΔ/2) that of a Néel wall's
m_x = sech(x/Δ) (its volume charges; the m_x of consecutive walls alternate in sign, a fixed chirality).
The first sum is the surface charges' long-range relief that makes domains; walls of width Δ cut it
off at k ~ 1/Δ, a film of thickness t at k ~ 1/t.

``equilibrium_period`` minimises e(P) numerically (no asymptotic expansion). Its two limits are the
laws in use:
- sharp walls (Δ → 0; Kooy–Enz, Malek–Kámberský): P = π e^{−1/2} t exp(π l_c / t), l_c = σ_w/(μ0Ms²)
  (``sharp_wall_period``, checked against the series in the tests);
- walls wider than the film (t ≪ Δ, the ultrathin films of spintronics: Δ 5–15 nm over t ≤ 2 nm):
  P ∝ Δ exp(π σ_w/(μ0Ms² t)) (Bernand-Mantel, Slastikov & Muratov, arXiv 2410.20373), with the
  Néel walls' volume charges raising the prefactor.
For t ≪ Δ the sharp-wall law is too short by about Δ/t; the full series covers both regimes and is the
energy of the simulator's own model (docs/films.md compares it with relaxed stripes of the simulator).

``dmi_from_period`` inverts the law for D. It knows equilibrium stripes only: a maze relaxed from a
random state or pinned by grains is no equilibrium, and reads a different period (docs/films.md).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from ..errors import DomainfitError
from ..units import MU0

_N_PER_WIDTH = 12.0  # harmonics up to k = 12/min(Δ, t): the summands fall as e^{−πkΔ/2} and 1/k
_MAX_HARMONICS = 2_000_000


def effective_anisotropy(Ms: float, Ku: float) -> float:
    """K_eff = Ku − μ0 Ms²/2 [J/m³]."""
    return Ku - 0.5 * MU0 * Ms**2


def wall_energy(Ms: float, A: float, Ku: float, D: float) -> float:
    """σ_w = 4√(A K_eff) − π|D| [J/m²], the energy of a straight wall with the local thin-film demagnetisation."""
    return 4.0 * math.sqrt(A * effective_anisotropy(Ms, Ku)) - math.pi * abs(D)


def critical_dmi(Ms: float, A: float, Ku: float) -> float:
    """D_c = 4√(A K_eff)/π [J/m²]: at |D| ≥ D_c walls cost no energy and no domains of a period exist."""
    return 4.0 * math.sqrt(A * effective_anisotropy(Ms, Ku)) / math.pi


def _check(Ms: float, A: float, Ku: float, thickness: float) -> None:
    for name, value in (("Ms", Ms), ("A", A), ("thickness", thickness)):
        if not (math.isfinite(value) and value > 0):
            raise DomainfitError(f"{name} = {value}: need a finite positive value (SI)")
    if not (math.isfinite(Ku) and effective_anisotropy(Ms, Ku) > 0):
        raise DomainfitError(f"K_eff = Ku − μ0Ms²/2 = {effective_anisotropy(Ms, Ku) / 1e6:.3g} MJ/m³ ≤ 0: the film is "
                             "not perpendicular, it has no stripe domains")


def _relief(period: float, Ms: float, A: float, Ku: float, thickness: float, dmi: str) -> float:
    """The long-range part of ``stripe_energy`` [J/m²]: K_d t (Σ_z − Σ_x) (module docstring), D-free."""
    delta = math.sqrt(A / effective_anisotropy(Ms, Ku))
    kd, t = 0.5 * MU0 * Ms**2, thickness
    n_max = min(_MAX_HARMONICS, int(_N_PER_WIDTH * period / (2 * math.pi * min(delta, t))) + 16)
    n = np.arange(1, n_max + 1, 2, dtype=np.float64)
    k = 2 * math.pi * n / period
    x = k * t
    g = 1.0 + np.expm1(-x) / x  # 1 − f(kt)
    a = 0.5 * math.pi * k * delta
    e = np.exp(-2.0 * a)
    sech2 = 4.0 * e / (1.0 + e) ** 2  # sech²(a) without overflow; a/sinh(a) = a·sech(a)/tanh(a)
    out = np.sum(8.0 / (n**2 * math.pi**2) * (a / np.where(a > 0, np.tanh(a), 1.0)) ** 2 * sech2 * g)
    if dmi == "interfacial":
        out -= np.sum(8.0 * math.pi**2 * delta**2 / period**2 * sech2 * g)
    elif dmi != "bulk":
        raise DomainfitError(f"dmi kind {dmi!r}: use 'interfacial' or 'bulk'")
    return float(kd * t * out)


def stripe_energy(period: float, Ms: float, A: float, Ku: float, D: float, thickness: float,
                  dmi: str = "interfacial") -> float:
    """e(P) − e(uniform) [J/m²] of straight stripes of ``period`` [m] (module docstring), SI parameters.

    ``dmi`` "interfacial" gives Néel walls (volume charges counted), "bulk" Bloch walls (none)."""
    _check(Ms, A, Ku, thickness)
    _check_period(period)
    return 2.0 * wall_energy(Ms, A, Ku, D) * thickness / period - _relief(period, Ms, A, Ku, thickness, dmi)


def _check_period(period: float) -> None:
    if not (math.isfinite(period) and period > 0):
        raise DomainfitError(f"period {period} m: need a finite positive length")


def wall_energy_at_period(period: float, Ms: float, A: float, Ku: float, thickness: float,
                          dmi: str = "interfacial") -> float:
    """The wall energy σ_w [J/m²] for which stripes of ``period`` [m] are in equilibrium.

    ``stripe_energy`` is linear in σ_w, so de/dP = 0 gives it in closed form: σ_w = −(P/2t) dR/d ln P,
    R the D-free long-range relief (``_relief``), differentiated by central differences in ln P."""
    _check(Ms, A, Ku, thickness)
    _check_period(period)
    h = 1e-4
    up = _relief(period * math.exp(h), Ms, A, Ku, thickness, dmi)
    down = _relief(period * math.exp(-h), Ms, A, Ku, thickness, dmi)
    return float(-period * (up - down) / (2 * h) / (2 * thickness))


def sharp_wall_period(Ms: float, A: float, Ku: float, D: float, thickness: float) -> float:
    """Kooy–Enz thin-film limit with sharp walls: P = π e^{−1/2} t exp(π σ_w/(μ0 Ms² t)) [m]."""
    _check(Ms, A, Ku, thickness)
    sw = wall_energy(Ms, A, Ku, D)
    if sw <= 0:
        return math.inf if sw == 0 else math.nan
    return math.pi * math.exp(-0.5) * thickness * math.exp(math.pi * sw / (MU0 * Ms**2 * thickness))


def equilibrium_period(Ms: float, A: float, Ku: float, D: float, thickness: float, dmi: str = "interfacial") -> float:
    """The period [m] that minimises ``stripe_energy``: the root in P of ``wall_energy_at_period`` =
    σ_w(D). nan for |D| ≥ D_c (walls of negative energy: a spiral, no domains); inf beyond 10⁷ wall widths
    (or 10⁵ film thicknesses)."""
    _check(Ms, A, Ku, thickness)
    target = wall_energy(Ms, A, Ku, D)
    if target <= 0:
        return math.nan
    delta = math.sqrt(A / effective_anisotropy(Ms, Ku))
    f = lambda lp: wall_energy_at_period(math.exp(lp), Ms, A, Ku, thickness, dmi) - target
    cap = 0.5 * _MAX_HARMONICS * 2 * math.pi * min(delta, thickness) / _N_PER_WIDTH  # the sums stay complete
    lo, hi = math.log(4 * delta), math.log(min(1e7 * delta, cap))
    if f(hi) < 0:
        return math.inf
    if f(lo) > 0:  # walls so cheap that the stripes are a few wall widths: outside the law
        return math.nan
    return float(math.exp(optimize.brentq(f, lo, hi, xtol=1e-7)))


def dmi_from_period(period: float, Ms: float, A: float, Ku: float, thickness: float, dmi: str = "interfacial",
                    law: str = "stripes") -> float:
    """D [J/m²] (≥ 0 for the DMI sign of the film's walls) for which the film's equilibrium stripes
    have ``period`` [m]: D = (4√(A K_eff) − σ_w)/π with σ_w from ``wall_energy_at_period`` (``law``
    "stripes": finite walls, the film's kernel) or from the Kooy–Enz sharp-wall closed form (``law``
    "sharp": σ_w = (μ0Ms²t/π) ln(P/(π e^{−1/2} t))). A negative value means the period is longer than
    the film's stripes at D = 0; above D_c walls would cost nothing: both say the constants or the
    period are wrong for this film, and the caller reports it.
    """
    _check(Ms, A, Ku, thickness)
    _check_period(period)
    if law == "sharp":
        sw = MU0 * Ms**2 * thickness / math.pi * math.log(period / (math.pi * math.exp(-0.5) * thickness))
    elif law == "stripes":
        sw = wall_energy_at_period(period, Ms, A, Ku, thickness, dmi)
    else:
        raise DomainfitError(f"period law {law!r}: use 'stripes' or 'sharp'")
    return float((4 * math.sqrt(A * effective_anisotropy(Ms, Ku)) - sw) / math.pi)
