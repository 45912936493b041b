"""``DomainImage``: a contrast image with its physical pixel size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DomainfitError

MIN_PIXELS: int = 32
"""Smallest accepted image side [px]: fewer pixels cannot hold a domain pattern and its spectrum."""


@dataclass(frozen=True, eq=False)
class DomainImage:
    """A domain image in physical units (immutable).

    Attributes:
        data: contrast [y, x], float32, normalised to [-1, 1] (up domains > 0 after any inversion).
        pixel_size: side of a square pixel [m].
        source: where it came from (file path, or a description).
        meta: how it was loaded and normalised (format, bit depth, pixel-size source, percentiles…).
    """

    data: np.ndarray
    pixel_size: float
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        data = np.asarray(self.data, dtype=np.float32)
        if data.ndim != 2:
            raise DomainfitError(f"a domain image is 2D [y, x], got shape {data.shape}")
        object.__setattr__(self, "data", data)
        check_pixel_size(self.pixel_size)
        object.__setattr__(self, "pixel_size", float(self.pixel_size))

    @property
    def notes(self) -> tuple[str, ...]:
        """What loading did that the user should know (a lossy JPEG read, colour converted to grey)."""
        return tuple(self.meta.get("notes", ()))

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) in pixels."""
        return self.data.shape  # type: ignore[return-value]

    @property
    def field_of_view(self) -> tuple[float, float]:
        """Physical extent (Ly, Lx) [m] = (ny, nx) × pixel_size."""
        ny, nx = self.data.shape
        return (ny * self.pixel_size, nx * self.pixel_size)

    def __repr__(self) -> str:
        ny, nx = self.shape
        return (
            f"DomainImage({ny}×{nx} px, pixel {self.pixel_size * 1e9:.4g} nm, "
            f"field of view {self.field_of_view[0] * 1e6:.3g}×{self.field_of_view[1] * 1e6:.3g} µm, source={self.source!r})"
        )


MIN_PIXEL_SIZE = 0.1e-9
"""Finest pixel accepted [m]: no microscope resolves magnetisation below the atomic spacing."""


def check_pixel_size(pixel_size, what: str = "pixel size") -> float:
    """Return ``pixel_size`` [m] as a float, or raise ``DomainfitError`` if it is not a plausible length."""
    try:
        value = float(pixel_size)
    except (TypeError, ValueError):
        raise DomainfitError(f"{what} {pixel_size!r}: need a length in metres, e.g. 15.6e-9") from None
    if not (math.isfinite(value) and value > 0):
        raise DomainfitError(f"{what} {pixel_size!r} m: need a finite positive length (e.g. --pixel-size 15.6nm)")
    if value > 1e-3:
        raise DomainfitError(f"{what} {value:.3g} m is implausible for a domain image: check the unit (15.6 nm = 15.6e-9 m)")
    if value < MIN_PIXEL_SIZE:
        raise DomainfitError(f"{what} {value:.3g} m is below {MIN_PIXEL_SIZE * 1e9:g} nm, finer than atoms: check the unit "
                             "(15.6 nm = 15.6e-9 m; pm is picometres)")
    return value
