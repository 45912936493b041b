"""Which states the low-ms preset relaxes to: maze, or one growing domain (docs/physics.md).

For a grid of Ms (the low-ms box, 200–700 kA/m) and two dispersions σ, relax one random state with
grains (the seed fixed, so every Ms sees the same start) exactly as ``domainfit generate`` does, and
print per run: converged?, steps, max |m×H|/Ms, |⟨m_z⟩|, wall density, with the equilibrium stripe
width of an ultrathin film (Kaplan & Gehring, JMMM 128, 111 (1993)),

    w_eq = 0.955 t exp(π l_c / 2t),   l_c = σ_w / (μ0 Ms²),   σ_w = 4 √(A K_eff),   K_eff = Ku − μ0 Ms²/2,

valid where w_eq ≫ t (there the relaxed state of a window L ≪ w_eq holds no equilibrium maze).

    python -m studies.low_ms_states --json docs/figures/low_ms_states.json --plot docs/figures/low_ms_states.png
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from domainfit.features import statistics as stats
from domainfit.physics import Grid, make_material
from domainfit.physics.simulate import simulate

MU0 = 4e-7 * math.pi


def equilibrium_width(Ms: float, Ku: float, A: float, t: float) -> float:
    """Kaplan–Gehring stripe-domain width [m] of an ultrathin film (D = 0); inf past overflow."""
    k_eff = Ku - MU0 * Ms**2 / 2
    if k_eff <= 0:
        return float("nan")
    l_c = 4 * math.sqrt(A * k_eff) / (MU0 * Ms**2)
    x = math.pi * l_c / (2 * t)
    return 0.955 * t * math.exp(x) if x < 700 else float("inf")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=512)
    p.add_argument("--Ms", default="250,400,500,550,600,650,700", help="kA/m, comma separated")
    p.add_argument("--sigma", default="0.05,0.2")
    p.add_argument("--max-steps", type=int, default=12000)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--plot")
    args = p.parse_args()
    cell = 4e-9
    grid = Grid(nx=args.cells, ny=args.cells, cell_size=cell, thickness=4e-9)
    ms_values = [float(v) * 1e3 for v in args.Ms.split(",")]
    sigmas = [float(v) for v in args.sigma.split(",")]
    key = jax.random.key(args.seed)
    rows, states = [], []
    for sigma in sigmas:
        for Ms in ms_values:
            mat = make_material("low-ms", Ms=Ms, sigma=sigma)
            t0 = time.perf_counter()
            r = simulate(mat, grid, key=key, tol=args.tol, max_steps=args.max_steps)
            mz = np.asarray(r.m[2])
            wall = float(stats.wall_density(jnp.asarray(mz), cell))
            row = dict(Ms_kA_m=Ms / 1e3, sigma=sigma, converged=bool(r.converged), steps=int(r.steps),
                       max_torque=float(r.max_torque), abs_mean_mz=float(abs(mz.mean())),
                       wall_density_per_um=wall * 1e-6,
                       w_eq_um=equilibrium_width(Ms, float(mat.Ku), float(mat.A), grid.thickness) * 1e6,
                       wall_time_s=time.perf_counter() - t0)
            rows.append(row)
            states.append(mz)
            print(f"Ms {row['Ms_kA_m']:5.0f} kA/m  σ {sigma:.2f}  converged {row['converged']!s:5}  "
                  f"steps {row['steps']:5d}  max torque {row['max_torque']:.2g}  |<mz>| {row['abs_mean_mz']:.2f}  "
                  f"walls {row['wall_density_per_um']:.2f}/µm  w_eq {row['w_eq_um']:.3g} µm  "
                  f"({row['wall_time_s']:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(command="python -m studies.low_ms_states", cells=args.cells, cell_size_nm=4,
                           max_steps=args.max_steps, tol=args.tol, seed=args.seed, runs=rows), f, indent=1)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n, k = len(ms_values), len(sigmas)
        fig, axes = plt.subplots(k, n, figsize=(1.6 * n, 1.75 * k), squeeze=False)
        for i, (row, mz) in enumerate(zip(rows, states)):
            ax = axes[i // n, i % n]
            ax.imshow(mz, cmap="gray", vmin=-1, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{row['Ms_kA_m']:.0f} kA/m{'' if row['converged'] else ' *'}", fontsize=7)
            if i % n == 0:
                ax.set_ylabel(f"σ = {row['sigma']}", fontsize=7)
        fig.suptitle(f"low-ms preset, {args.cells * 4e-3:.3g} µm, {args.max_steps} steps (* not converged)", fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
