"""The initial magnetisation curve of a demagnetised film, and the fields a magnetometer reads off it.

From the demagnetised (maze) state a perpendicular field is raised in steps; at each step the state is
relaxed by continuation from the one before (a quasi-static virgin curve at zero temperature: walls move
when the field beats the pinning of the grains and the wall energy). What a magnetometer — a polar Kerr,
Hall or VSM loop of the AC-demagnetised film — records is ⟨m_z⟩ against μ0H; the field where the curve
first reaches ⟨m_z⟩ = ½ (H½) rises with the pinning (σ) and with D (lower wall energy, more walls to
sweep); it lies on the same D–σ ridge as the maze's geometry, but it is an average no microscope
renders, so with D known from elsewhere it reads σ free of the instrument (``docs/observations.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Magnetisation
from .grid import Grid
from .material import Material
from .relax import PBB, Minimiser, relax

MU0 = 4e-7 * math.pi


@dataclass(frozen=True)
class Curve:
    """An initial magnetisation curve.

    Attributes:
        field_T: applied perpendicular field μ0H at each point [T], starting at 0 (the demagnetised state).
        mz: spatial mean of m_z at each point.
        steps: minimiser steps each point took (0 for the demagnetised state).
        converged: whether each relaxation reached its tolerance.
    """

    field_T: np.ndarray
    mz: np.ndarray
    steps: np.ndarray
    converged: np.ndarray

    def field_at(self, level: float) -> float:
        """μ0H [T] where the curve first reaches ⟨m_z⟩ = ``level``, linear between its points; nan when
        it never does (the curve stopped below it)."""
        return field_at(self.field_T, self.mz, level)


def field_at(field_T, mz, level: float) -> float:
    """μ0H where the curve (``field_T``, ``mz``) first reaches ``level`` (linear interpolation); nan when
    it never does. A curve that starts above ``level`` reads its first field."""
    field_T, mz = np.asarray(field_T, float), np.asarray(mz, float)
    above = np.nonzero(mz >= level)[0]
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float(field_T[0])
    f0, f1, m0, m1 = field_T[i - 1], field_T[i], mz[i - 1], mz[i]
    return float(f0 + (level - m0) * (f1 - f0) / (m1 - m0)) if m1 > m0 else float(f1)


_RELAXERS: dict = {}


def _relaxer(grid: Grid, tol: float, max_steps: int, minimiser: Minimiser):
    key = (grid, tol, max_steps, minimiser)
    if key not in _RELAXERS:
        _RELAXERS[key] = jax.jit(lambda m0, mat: relax(m0, mat, grid, tol=tol, max_steps=max_steps, implicit=False,
                                                        minimiser=minimiser))
    return _RELAXERS[key]


def initial_curve(
    m_demag: Magnetisation,
    material: Material,
    grid: Grid,
    *,
    step_T: float = 10e-3,
    stop_mz: float = 0.5,
    max_field_T: float = 0.5,
    tilt_deg: float = 0.0,
    tol: float = 1e-3,
    max_steps: int = 6000,
    minimiser: Minimiser = PBB(),
) -> Curve:
    """Raise a perpendicular field on the demagnetised state ``m_demag`` of ``material`` in steps of
    ``step_T`` (μ0H, tesla), relaxing each step from the last, until ⟨m_z⟩ ≥ ``stop_mz`` or the field
    reaches ``max_field_T``. The material's own field (``H_ext``) is replaced by the ladder's; ``tilt_deg``
    tilts it from the film normal towards +x (a misaligned magnet), the ladder giving its magnitude.

    The project's protocol for the H½ observation is the default: 10 mT steps, tolerance 1e-3 on the
    torque, the preconditioned minimiser (its states are those of BB: ``docs/performance.md``).
    """
    if not (step_T > 0 and max_field_T > 0 and -1.0 < stop_mz <= 1.0):
        raise ValueError(f"need step_T > 0, max_field_T > 0 and -1 < stop_mz <= 1; got {step_T}, {max_field_T}, {stop_mz}")
    if m_demag.shape != (3, grid.ny, grid.nx):
        raise ValueError(f"m_demag has shape {m_demag.shape}, the grid needs (3, {grid.ny}, {grid.nx})")
    run = _relaxer(grid, tol, max_steps, minimiser)
    dtype = material.Ms.dtype
    m = jnp.asarray(m_demag, dtype)
    direction = jnp.array([math.sin(math.radians(tilt_deg)), 0.0, math.cos(math.radians(tilt_deg))], dtype)
    fields, mzs, steps, conv = [0.0], [float(jnp.mean(m[2]))], [0], [True]
    n = int(math.floor(max_field_T / step_T + 1e-9))
    for i in range(1, n + 1):
        if mzs[-1] >= stop_mz:
            break
        h = i * step_T
        mat = eqx.tree_at(lambda x: x.H_ext, material, direction * (h / MU0))
        r = run(m, mat)
        m = r.m
        fields.append(h)
        mzs.append(float(jnp.mean(m[2])))
        steps.append(int(r.steps))
        conv.append(bool(r.converged))
    return Curve(np.asarray(fields), np.asarray(mzs), np.asarray(steps), np.asarray(conv))
