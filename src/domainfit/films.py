"""``Film``: the sample a domain image was taken of — its constants, each with an optional uncertainty.

D and σ are what an image is read for; the film's other constants come from elsewhere (magnetometry,
the growth recipe, the literature) and shape the domains as much as D does: the period grows
exponentially with the wall energy 4√(A K_eff) − π|D| over μ0Ms²t. A constant given with an
uncertainty is a nuisance parameter of the posterior (a normal prior, truncated at zero, with that
standard deviation); a range is a uniform prior over it; a bare value is held exact.

One syntax for a TOML file and for the command line::

    # film.toml: "value unit", optionally "± sd" (absolute, or a percentage of the value)
    Ms = "1100 kA/m ± 3%"
    Ku = "0.95 MJ/m3 ± 5%"      # or K_eff = "0.19 MJ/m3 ± 10%" (Ku − μ0Ms²/2)
    A = "16 pJ/m ± 15%"
    thickness = "1.0 nm"
    dmi = "interfacial"          # or "bulk"
    grain_size = "20 nm"         # optional, 20 nm when not given
    name = "Pt/Co/MgO"           # optional

    --film "Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial"
    --film co-pt                 # a preset; a range is written "200..700 kA/m"

``+-`` and ``+/-`` stand for ±. Every number is SI inside (A/m, J/m³, J/m, m).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from .errors import DomainfitError
from .parameters import PRESETS
from .units import MU0, parse_length, parse_quantity

CONSTANTS: tuple[str, ...] = ("Ms", "Ku", "A", "thickness")
"""The film's constants, in the order of reports (Ku stands for K_eff when the film gives that)."""

USER_UNITS: dict[str, tuple[str, float]] = {"Ms": ("kA/m", 1e3), "Ku": ("MJ/m^3", 1e6), "K_eff": ("MJ/m^3", 1e6), "A": ("pJ/m", 1e-12),
         "thickness": ("nm", 1e-9), "grain_size": ("nm", 1e-9)}
"""The unit a film's constant is written and reported in, and its factor to SI."""
_KEYS = ("Ms", "Ku", "K_eff", "A", "thickness", "dmi", "grain_size", "name")
_EXAMPLE = 'Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial'
DEFAULT_GRAIN_SIZE = 20e-9
"""Grain diameter [m] of a film that does not give one (the presets' and the training data's)."""


@dataclasses.dataclass(frozen=True)
class Constant:
    """One constant of a film, SI.

    Attributes:
        value: the value (the centre of a range).
        sd: standard deviation of its normal prior; 0 when exact (or a range).
        low, high: bounds of a uniform prior (a range "200..700 kA/m"), else None.
    """

    value: float
    sd: float = 0.0
    low: float | None = None
    high: float | None = None

    @property
    def exact(self) -> bool:
        return self.sd == 0 and self.low is None

    def text(self, name: str) -> str:
        """The constant as a user writes it: "1100 kA/m ± 3%"."""
        unit, f = USER_UNITS[name]
        if self.low is not None:
            return f"{self.low / f:.4g}..{self.high / f:.4g} {unit}"
        out = f"{self.value / f:.4g} {unit}"
        return out + (f" ± {100 * self.sd / self.value:.3g}%" if self.sd else "")

    def to_json(self, name: str) -> dict:
        unit, f = USER_UNITS[name]
        out = {"value": self.value / f, "unit": unit, "sd": self.sd / f}
        if self.low is not None:
            out.update(low=self.low / f, high=self.high / f)
        return out


@dataclasses.dataclass(frozen=True)
class Film:
    """A perpendicular film: constants (``Constant``, SI), DMI kind and grain size.

    Attributes:
        Ms: saturation magnetisation [A/m].
        Ku: uniaxial anisotropy [J/m³] — or, with ``effective``, K_eff = Ku − μ0Ms²/2 [J/m³].
        A: exchange stiffness [J/m].
        thickness: film thickness t [m].
        dmi: "interfacial" (Néel walls) or "bulk" (Bloch walls).
        grain_size: grain diameter of the anisotropy disorder [m].
        effective: ``Ku`` holds K_eff (the film was given as K_eff; its uncertainty is K_eff's own).
        name: a label for reports ("co-pt", "Pt/Co/MgO").
        source: where it came from ("film.toml", "inline", "preset").
    """

    Ms: Constant
    Ku: Constant
    A: Constant
    thickness: Constant
    dmi: str = "interfacial"
    grain_size: float = DEFAULT_GRAIN_SIZE
    effective: bool = False
    name: str = ""
    source: str = ""

    def __post_init__(self):
        if self.dmi not in ("interfacial", "bulk"):
            raise DomainfitError(f"film dmi = {self.dmi!r}: use \"interfacial\" or \"bulk\"")
        for n in ("Ms", "A", "thickness"):
            c = getattr(self, n)
            if not c.value > 0 or (c.low is not None and not c.low > 0):
                raise DomainfitError(f"film {n} = {c.text(n)}: must be positive")
        if not (math.isfinite(self.grain_size) and self.grain_size > 0):
            raise DomainfitError(f"film grain_size = {self.grain_size} m: must be a positive length")
        if not self.K_eff > 0:
            raise DomainfitError(f"film K_eff = Ku − μ0Ms²/2 = {self.K_eff / 1e6:.3g} MJ/m³ ≤ 0: the film is not "
                                 "perpendicular (no up and down domains); check Ku and Ms")

    @property
    def K_eff(self) -> float:
        """K_eff = Ku − μ0Ms²/2 at the constants' values [J/m³]."""
        return self.Ku.value if self.effective else self.Ku.value - 0.5 * MU0 * self.Ms.value**2

    @property
    def Ku_value(self) -> float:
        """Ku at the constants' values [J/m³]."""
        return self.K_eff + 0.5 * MU0 * self.Ms.value**2

    @property
    def wall_width(self) -> float:
        """Wall parameter Δ = √(A/K_eff) [m]."""
        return math.sqrt(self.A.value / self.K_eff)

    @property
    def exchange_length(self) -> float:
        """l_ex = √(2A/(μ0Ms²)) [m]."""
        return math.sqrt(2 * self.A.value / (MU0 * self.Ms.value**2))

    @property
    def critical_dmi(self) -> float:
        """D_c = 4√(A K_eff)/π [J/m²]: walls cost nothing at |D| ≥ D_c."""
        return 4 * math.sqrt(self.A.value * self.K_eff) / math.pi

    def values(self) -> dict[str, float]:
        """SI values {Ms, Ku, A, thickness} (Ku itself, also for a film given by K_eff)."""
        return {"Ms": self.Ms.value, "Ku": self.Ku_value, "A": self.A.value, "thickness": self.thickness.value}

    def uncertain(self) -> tuple[str, ...]:
        """The constants with a prior (nuisance parameters); "K_eff" for a film given by K_eff."""
        return tuple(("K_eff" if n == "Ku" and self.effective else n) for n in CONSTANTS if not getattr(self, n).exact)

    def draw(self, n: int, rng) -> dict:
        """``n`` draws of {Ms, Ku, A, thickness} (numpy arrays, SI) from the constants' priors: normal
        truncated at zero for "± sd", uniform for ranges, the value for exact ones; Ku = K_eff + μ0Ms²/2
        for a film given by K_eff (its own uncertainty, not Ms's twice). Draws with K_eff ≤ 0 are drawn
        again: a film with domains is perpendicular (the prior conditioned on it)."""
        out = self._draw_once(n, rng)
        for _ in range(100):  # a film that shows domains is perpendicular: K_eff > 0 (Ku − μ0Ms²/2 is a near-cancellation)
            bad = out["Ku"] - 0.5 * MU0 * out["Ms"] ** 2 <= 0
            if not bad.any():
                return out
            more = self._draw_once(int(bad.sum()), rng)
            for name in out:
                out[name][bad] = more[name]
        raise DomainfitError(f"film {self.describe()}: its constants' uncertainties leave K_eff ≤ 0 (not perpendicular) "
                             "in most draws; narrow them")

    def _draw_once(self, n: int, rng) -> dict:
        import numpy as np

        out = {}
        for name in CONSTANTS:
            c = getattr(self, name)
            if c.low is not None:
                out[name] = rng.uniform(c.low, c.high, n)
            elif c.sd:
                x = rng.normal(c.value, c.sd, n)
                while np.any(bad := x <= 0):
                    x[bad] = rng.normal(c.value, c.sd, int(bad.sum()))
                out[name] = x
            else:
                out[name] = np.full(n, float(c.value))
        if self.effective:
            out["Ku"] = out["Ku"] + 0.5 * MU0 * out["Ms"] ** 2
        return out

    def describe(self) -> str:
        """One line: "Pt/Co/MgO: Ms 1100 kA/m ± 3%, Ku 0.95 MJ/m^3 ± 5%, …, interfacial DMI, grains 20 nm"."""
        parts = [f"{'K_eff' if n == 'Ku' and self.effective else n} {getattr(self, n).text('K_eff' if n == 'Ku' and self.effective else n)}"
                 for n in CONSTANTS]
        head = f"{self.name}: " if self.name else ""
        return head + ", ".join(parts) + f", {self.dmi} DMI, grains {self.grain_size * 1e9:.3g} nm"

    def to_json(self) -> dict:
        """The report's ``film`` block (user units, with the derived K_eff, Δ and D_c)."""
        out = {"name": self.name, "source": self.source}
        for n in CONSTANTS:
            key = "K_eff" if n == "Ku" and self.effective else n
            out[key] = getattr(self, n).to_json(key)
        out.update(dmi=self.dmi, grain_size_nm=self.grain_size * 1e9,
                   derived={"K_eff_MJ_per_m3": self.K_eff / 1e6, "wall_width_nm": self.wall_width * 1e9,
                            "exchange_length_nm": self.exchange_length * 1e9, "critical_dmi_mJ_per_m2": self.critical_dmi * 1e3})
        return out

    def matches(self, other: Film, rtol: float = 0.02) -> bool:
        """Whether the two films have the same DMI kind and constants within ``rtol`` (values only)."""
        if self.dmi != other.dmi:
            return False
        a, b = self.values(), other.values()
        return all(abs(a[n] - b[n]) <= rtol * abs(b[n]) for n in a)

    def differences(self, other: Film) -> list[str]:
        """Plain words for how this film differs from ``other`` ("Ms 1100 kA/m, not 1500 kA/m")."""
        out = [f"{self.dmi} DMI, not {other.dmi}"] if self.dmi != other.dmi else []
        a, b = self.values(), other.values()
        for n in a:
            if abs(a[n] - b[n]) > 0.02 * abs(b[n]):
                unit, f = USER_UNITS[n]
                out.append(f"{n} {a[n] / f:.4g} {unit}, not {b[n] / f:.4g} {unit}")
        return out


def preset_film(name: str) -> Film:
    """The film of a parameter set (``parameters.PRESETS``): its fixed constants exact, a free one
    (low-ms's Ms) a range over the set's box."""
    if name not in PRESETS:
        raise DomainfitError(f"unknown preset film {name!r}: choose one of {', '.join(PRESETS)}, or give the film's "
                             f"constants, e.g. --film \"{_EXAMPLE}\"")
    p = PRESETS[name]
    consts = {}
    for n in ("Ms", "Ku", "A"):
        lo, hi = p.box[n]
        consts[n] = Constant(p.reference[n]) if lo == hi else Constant(0.5 * (lo + hi), low=lo, high=hi)
    return Film(**consts, thickness=Constant(p.thickness), dmi=p.dmi, name=name, source="preset")


_PM = re.compile(r"±|\+/-|\+-")


def parse_constant(name: str, text: str) -> Constant:
    """``"1100 kA/m ± 3%"``, ``"16pJ/m+-2pJ/m"``, ``"200..700 kA/m"`` → ``Constant`` (SI) for ``name``."""
    text = str(text).strip()
    unit_name = "Ku" if name == "K_eff" else name
    reader = (lambda s: parse_length(s)) if name in ("thickness", "grain_size") else (lambda s: parse_quantity(unit_name, s))
    if ".." in text:
        lo_text, _, hi_text = text.partition("..")
        unit = re.sub(r"^\s*[-+0-9.eE]+", "", hi_text).strip()
        lo, hi = reader(lo_text.strip() + ("" if re.search(r"[A-Za-zµμ]", lo_text) else unit)), reader(hi_text)
        if not lo < hi:
            raise DomainfitError(f"film {name} = {text!r}: a range needs low < high, e.g. Ms=\"200..700 kA/m\"")
        return Constant(0.5 * (lo + hi), low=lo, high=hi)
    parts = _PM.split(text)
    if len(parts) > 2:
        raise DomainfitError(f"film {name} = {text!r}: one ± at most, e.g. {name}=\"{_example(name)}\"")
    value = reader(parts[0])
    if not (math.isfinite(value) and value > 0) and name != "K_eff":
        raise DomainfitError(f"film {name} = {text!r}: must be positive")
    if len(parts) == 1:
        return Constant(value)
    err = parts[1].strip()
    if err.endswith("%"):
        try:
            sd = abs(value) * float(err[:-1]) / 100.0
        except ValueError:
            raise DomainfitError(f"film {name} = {text!r}: cannot read the uncertainty {err!r}") from None
    else:
        sd = reader(err)
    if not (math.isfinite(sd) and sd >= 0):
        raise DomainfitError(f"film {name} = {text!r}: the uncertainty must be a finite non-negative number")
    if sd >= abs(value):
        raise DomainfitError(f"film {name} = {text!r}: an uncertainty as large as the value says nothing; "
                             "give a range instead, e.g. \"200..700 kA/m\"")
    return Constant(value, sd=sd)


def _example(name: str) -> str:
    return {"Ms": "1100 kA/m ± 3%", "Ku": "0.95 MJ/m3 ± 5%", "K_eff": "0.19 MJ/m3 ± 10%", "A": "16 pJ/m ± 15%",
            "thickness": "1 nm", "grain_size": "20 nm"}.get(name, "")


def film_from_mapping(values: dict, source: str = "") -> Film:
    """A ``Film`` from {key: text} as in a film file (module docstring); one-line errors for bad input."""
    unknown = [k for k in values if k not in _KEYS]
    if unknown:
        raise DomainfitError(f"film {source or 'description'}: unknown key {unknown[0]!r} (keys: {', '.join(_KEYS)})")
    if "Ku" in values and "K_eff" in values:
        raise DomainfitError("film: give Ku or K_eff, not both")
    missing = [k for k in ("Ms", "A", "thickness", "dmi") if k not in values]
    if "Ku" not in values and "K_eff" not in values:
        missing.insert(1, "Ku (or K_eff)")
    if missing:
        raise DomainfitError(f"film {source or 'description'}: missing {', '.join(missing)} — e.g. --film \"{_EXAMPLE}\"")
    for k, v in values.items():
        if not isinstance(v, str):
            raise DomainfitError(f"film {k} = {v!r}: write it as a string with its unit, e.g. {k} = \"{_example(k) or 'interfacial'}\"")
    effective = "K_eff" in values
    consts = {n: parse_constant(n, values[n]) for n in ("Ms", "A", "thickness")}
    consts["Ku"] = parse_constant("K_eff" if effective else "Ku", values["K_eff" if effective else "Ku"])
    dmi = values["dmi"].strip().lower()
    grain = parse_length(values["grain_size"]) if "grain_size" in values else DEFAULT_GRAIN_SIZE
    return Film(**consts, dmi=dmi, grain_size=grain, effective=effective, name=values.get("name", "").strip(), source=source)


def parse_film(spec) -> Film:
    """A ``Film`` from a ``Film`` (returned as is), a preset name, a TOML file path, or an inline
    description "Ms=1100kA/m±3%,Ku=…,dmi=interfacial" (module docstring)."""
    if isinstance(spec, Film):
        return spec
    if isinstance(spec, dict):
        return film_from_mapping(spec, "mapping")
    if not isinstance(spec, (str, Path)):
        raise DomainfitError(f"film {spec!r}: give a Film, a preset name, a .toml file or \"{_EXAMPLE}\"")
    text = str(spec).strip()
    if text in PRESETS:
        return preset_film(text)
    path = Path(text)
    if "=" not in text or path.suffix == ".toml":
        return _read_toml(path)
    values = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise DomainfitError(f"film {item!r}: write each constant as KEY=VALUE, e.g. \"{_EXAMPLE}\"")
        if key.strip() in values:
            raise DomainfitError(f"film: {key.strip()} given twice")
        values[key.strip()] = value.strip().strip("\"'")
    return film_from_mapping(values, "inline")


def _read_toml(path: Path) -> Film:
    import tomllib

    if not path.exists():
        raise DomainfitError(f"film file {str(path)!r} not found (give a .toml file, a preset name "
                             f"({', '.join(PRESETS)}) or the constants inline: \"{_EXAMPLE}\")")
    if not path.is_file():
        raise DomainfitError(f"film file {str(path)!r} is not a regular file")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise DomainfitError(f"cannot read film file {str(path)!r}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise DomainfitError(f"film file {str(path)!r} is not valid TOML: {err}") from None
    return film_from_mapping(values, path.name)
