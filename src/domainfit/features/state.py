"""One-line-per-quantity summary of a relaxed state, in user units, for reports and the CLI."""

from __future__ import annotations

import jax.numpy as jnp

from . import statistics as stats
from ..physics.grid import Grid
from ..physics.relax import Relaxed


def relaxed_summary(result: Relaxed, grid: Grid) -> dict[str, float | int | bool]:
    """Energy [J], torque, steps, convergence, ⟨m_z⟩, wall density [1/µm] and period [nm] of a state."""
    mz = result.m[2]
    return {
        "energy_J": float(result.energy),
        "max_torque": float(result.max_torque),
        "steps": int(result.steps),
        "converged": bool(result.converged),
        "mean_mz": float(jnp.mean(mz)),
        "wall_density_per_um": float(stats.wall_density(mz, grid.cell_size)) * 1e-6,
        "period_nm": float(stats.domain_period_smooth(mz, grid.cell_size)) * 1e9,
    }
