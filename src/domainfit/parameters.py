"""The film's parameters, once: their names and order, SI and user units, meaning, and the presets.

Every other module takes these from here: the columns of a dataset's parameter array, the leaves of
``physics.Material``, the CNN's targets, the units of priors and reports, the constants and boxes of
the two parameter sets (the imaging-scale paper's Table 1) and each set's DMI kind.
"""

from __future__ import annotations

import dataclasses

MATERIAL: tuple[str, ...] = ("D", "Ms", "sigma", "Ku", "A")
"""Order of a parameter array ``params[n, 5]`` (datasets, emulator inputs, ``Material``'s leaves)."""

TARGETS: tuple[str, ...] = ("D", "Ms", "sigma")
"""What the CNN estimates, in this order."""

SI_UNITS: dict[str, str] = {
    "D": "J/m^2",
    "Ms": "A/m",
    "sigma": "1",
    "Ku": "J/m^3",
    "A": "J/m",
    "thickness": "m",
    "blur_fwhm": "m",
    "contrast": "1",
    "offset": "1",
}
"""SI unit of every parameter a likelihood may ask for."""

DESCRIPTIONS: dict[str, str] = {
    "D": "DMI constant",
    "Ms": "saturation magnetisation",
    "sigma": "anisotropy dispersion ΔKu/Ku",
    "Ku": "uniaxial anisotropy",
    "A": "exchange stiffness",
    "thickness": "film thickness",
    "blur_fwhm": "imaging point-spread FWHM",
    "contrast": "imaging contrast factor",
    "offset": "imaging contrast offset",
}

USER: dict[str, tuple[str, float]] = {
    # parameter: (user unit, factor to SI); "1" for dimensionless ones
    "D": ("mJ/m^2", 1e-3),  # → J/m²
    "Ms": ("kA/m", 1e3),  # → A/m
    "sigma": ("1", 1.0),
    "Ku": ("MJ/m^3", 1e6),  # → J/m³
    "A": ("pJ/m", 1e-12),  # → J/m
    "thickness": ("nm", 1e-9),  # → m
    "blur_fwhm": ("nm", 1e-9),
    "contrast": ("1", 1.0),
    "offset": ("1", 1.0),
}
"""User units of every parameter the inference can free or fix (priors, reports, ``--fix``)."""


@dataclasses.dataclass(frozen=True)
class Preset:
    """One parameter set of the imaging-scale paper (Table 1), SI units.

    Attributes:
        reference: a representative film of the set (what ``make_material(preset)`` builds).
        box: (low, high) of each ``MATERIAL`` parameter over the set; low == high holds it fixed.
        dmi: the DMI kind the set is simulated with.
        thickness: film thickness [m] (one 4 nm cell).
    """

    reference: dict[str, float]
    box: dict[str, tuple[float, float]]
    dmi: str
    thickness: float = 4e-9

    def fixed(self) -> dict[str, float]:
        """The parameters the set holds at one value."""
        return {n: lo for n, (lo, hi) in self.box.items() if lo == hi}

    def free(self) -> dict[str, tuple[float, float]]:
        """The parameters the set lets vary, with their ranges."""
        return {n: (lo, hi) for n, (lo, hi) in self.box.items() if lo != hi}


PRESETS: dict[str, Preset] = {
    "co-pt": Preset(
        reference=dict(Ms=1.5e6, A=31e-12, Ku=1.6e6, D=1.0e-3, sigma=0.1),
        box=dict(D=(0.1e-3, 1.0e-3), Ms=(1.5e6, 1.5e6), sigma=(0.05, 0.2), Ku=(1.6e6, 1.6e6), A=(31e-12, 31e-12)),
        dmi="bulk",
    ),
    "low-ms": Preset(
        reference=dict(Ms=450e3, A=10e-12, Ku=0.4e6, D=0.0, sigma=0.1),
        box=dict(D=(0.0, 0.0), Ms=(200e3, 700e3), sigma=(0.05, 0.2), Ku=(0.4e6, 0.4e6), A=(10e-12, 10e-12)),
        dmi="interfacial",
    ),
}
"""The parameter sets. ``co-pt``: D spans 0.1–1.0 mJ/m² (bulk DMI, docs/physics.md); ``low-ms``: Ms spans
200–700 kA/m, D = 0."""
