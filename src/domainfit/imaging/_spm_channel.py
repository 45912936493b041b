"""A channel of a scanning-probe file (``SpmChannel``) and what the format readers share: the extra's
import, directions, units and the square-pixel check."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DomainfitError

INSTALL = 'pip install "domainfit[spm]"'

LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "~m": 1e-6, "nm": 1e-9, "pm": 1e-12}
"""Lateral units of the files → metres (Nanoscope writes µm as "~m")."""

_DIRECTION_AT_END = re.compile(r"^(.*?)[\s_\-\(\[]*(forward|backward|retrace|trace|fwd|bwd)[\)\]]?\s*$", re.I)


@dataclass(frozen=True, eq=False)
class SpmChannel:
    """One image channel of a scanning-probe file.

    Attributes:
        name: the channel's name in the file, without its direction ("Phase", "NapPhase", "Z").
        unit: unit of the values as the file gives it ("m", "deg", "Hz", "V"; "" unknown).
        direction: "trace", "retrace" or None (not recorded).
        data: values [y, x], float64, row 0 at the top, x the fast-scan axis.
        pixel_size: pixel side [m] from the calibrated scan size, or None (not a length calibration).
        lift: recorded in the lift (nap, interleave) pass of a two-pass scan.
    """

    name: str
    unit: str
    direction: str | None
    data: np.ndarray
    pixel_size: float | None
    lift: bool = False

    @property
    def label(self) -> str:
        """Name and direction, e.g. "Phase (retrace)": what ``--channel`` takes and the report shows."""
        return f"{self.name} ({self.direction})" if self.direction else self.name

    def describe(self) -> dict:
        """The channel as listed by ``domainfit inspect FILE --channels`` (pixel size in nm)."""
        return {"name": self.label, "unit": self.unit, "direction": self.direction, "shape": list(self.data.shape),
                "pixel_size_nm": None if self.pixel_size is None else self.pixel_size * 1e9, "lift": self.lift}


def require(module: str, what: str):
    """Import ``module`` for reading ``what`` files, or raise one line naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DomainfitError(f"reading {what} files needs the package {module.split('.')[0]}: "
                             f"{INSTALL}") from None


def direction_of(text: str) -> str | None:
    """"trace"/"retrace" from a word of the file ("Forward", "Backward", "Trace", "Retrace"), else None."""
    word = text.strip().lower()
    return {"forward": "trace", "trace": "trace", "fwd": "trace", "backward": "retrace", "retrace": "retrace",
            "bwd": "retrace"}.get(word)


def unit_from_name(name: str) -> str:
    """A unit from a channel name where the file stores none (Asylum's layers): Gwyddion's guesses."""
    n = name.lower()
    if "phase" in n:
        return "deg"
    if "freq" in n:
        return "Hz"
    if "current" in n:
        return "A"
    if any(k in n for k in ("height", "zsensor", "amplitude", "deflection", "topo")):
        return "m"
    return ""


def split_direction(title: str) -> tuple[str, str | None]:
    """"Phase (Backward)" → ("Phase", "retrace"); "HeightTrace" → ("Height", "trace"); "Z" → ("Z", None)."""
    m = _DIRECTION_AT_END.match(title.strip())
    if m and m.group(1).strip():
        return m.group(1).strip(), direction_of(m.group(2))
    return title.strip(), None


def is_lift(name: str) -> bool:
    """Whether a channel name says it was recorded in the lift pass (Asylum "Nap…", "lift", "interleave")."""
    n = name.lower()
    return n.startswith("nap") or "lift" in n or "interleave" in n


def square_pixel(xreal: float, yreal: float, nx: int, ny: int, name: str) -> float:
    """Pixel side [m] of a scan frame xreal × yreal [m] of nx × ny pixels; refuses non-square pixels."""
    px, py = xreal / nx, yreal / ny
    if not (np.isfinite(px) and px > 0 and np.isfinite(py) and py > 0):
        raise DomainfitError(f"{name}: the scan size {xreal:g} × {yreal:g} m is not a valid calibration")
    if abs(px - py) > 0.01 * px:
        raise DomainfitError(f"{name} has non-square pixels ({px * 1e9:.4g} × {py * 1e9:.4g} nm): resample it to "
                             "square pixels first")
    return px
