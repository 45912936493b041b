"""Slow validation: the maze period shortens as D grows (co-pt preset, 512² cells = 2.048 µm)."""

import jax
import numpy as np
import pytest

from domainfit.features import statistics as stats
from domainfit.physics import Grid, make_material, simulate


@pytest.mark.slow
def test_period_decreases_monotonically_with_dmi():
    grid = Grid(nx=512, ny=512, cell_size=4e-9, thickness=4e-9)
    periods, walls, hard = {}, {}, {}
    for D in (0.4e-3, 0.7e-3, 1.0e-3):
        values, densities, hard_values = [], [], []
        for seed in range(3):
            result = simulate(make_material("co-pt", D=D, sigma=0.1), grid, key=jax.random.key(seed), tol=1e-4)
            assert bool(result.converged)
            assert abs(float(result.m[2].mean())) < 0.3
            values.append(float(stats.domain_period_smooth(result.m[2], grid.cell_size)))
            hard_values.append(float(stats.domain_period(result.m[2], grid.cell_size)))
            densities.append(float(stats.wall_density(result.m[2], grid.cell_size)))
        periods[D], walls[D], hard[D] = np.mean(values), np.mean(densities), np.mean(hard_values)
        print(
            f"D = {D * 1e3:.1f} mJ/m²: period {periods[D] * 1e9:.0f} nm (seeds: {[round(v * 1e9) for v in values]}; "
            f"hard-window estimate {hard[D] * 1e9:.0f} nm), "
            f"wall density {walls[D] * 1e-6:.2f} /µm (seeds: {[round(v * 1e-6, 2) for v in densities]})"
        )
    p = [periods[D] for D in sorted(periods)]
    w = [walls[D] for D in sorted(walls)]
    assert p[0] > p[1] > p[2]
    assert w[0] < w[1] < w[2]
