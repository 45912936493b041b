"""The simulation grid: one layer of nx × ny square cells of a thin film, periodic in x and y."""

from __future__ import annotations

import math

import equinox as eqx
import numpy as np

from ..errors import DomainfitError


class Grid(eqx.Module):
    """A periodic 2D grid of square cells, one cell layer thick.

    All fields are static: a grid fixes array shapes and is hashable, so jitted functions
    specialise on it. Lengths are in metres.

    Attributes:
        nx: number of cells along x (columns).
        ny: number of cells along y (rows).
        cell_size: edge length dx = dy of a cell [m].
        thickness: film thickness t, the cell height [m].
    """

    nx: int = eqx.field(static=True)
    ny: int = eqx.field(static=True)
    cell_size: float = eqx.field(static=True)
    thickness: float = eqx.field(static=True)

    def __check_init__(self):
        for name in ("nx", "ny"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 8:
                raise DomainfitError(f"grid {name} = {value!r}: need an integer of at least 8 cells")
        for name in ("cell_size", "thickness"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0):
                raise DomainfitError(f"grid {name} = {value!r} m: need a finite positive length")

    @property
    def shape(self) -> tuple[int, int]:
        """Array shape (ny, nx) of a per-cell map."""
        return (self.ny, self.nx)

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def cell_volume(self) -> float:
        """Cell volume V = dx² t [m³]."""
        return self.cell_size**2 * self.thickness

    @property
    def size(self) -> tuple[float, float]:
        """Physical extent (Lx, Ly) [m]."""
        return (self.nx * self.cell_size, self.ny * self.cell_size)

    def rfft_wavevectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Angular wave vectors (kx, ky) [rad/m] on the ``rfft2`` half-plane, shapes (1, nx//2+1) and (ny, 1)."""
        kx = 2 * np.pi * np.fft.rfftfreq(self.nx, d=self.cell_size)
        ky = 2 * np.pi * np.fft.fftfreq(self.ny, d=self.cell_size)
        return kx[None, :], ky[:, None]

    def rfft_weights(self) -> np.ndarray:
        """Weights that turn a sum over the ``rfft2`` half-plane into a sum over the full k-plane.

        Columns whose conjugate partner is not stored (0 < kx index < nx/2) count twice.
        """
        w = np.full((1, self.nx // 2 + 1), 2.0)
        w[0, 0] = 1.0
        if self.nx % 2 == 0:
            w[0, -1] = 1.0
        return w
