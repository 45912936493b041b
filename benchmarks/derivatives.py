"""Implicit derivatives of relaxed float32 mazes against central finite differences.

A co-pt maze (D 1 mJ/m², σ 0.1, 4 nm cells) is relaxed from a random state to tol 1e-3, as users
relax; ``jax.jacrev`` then gives d(wall density, period)/d(D, σ) by implicit differentiation (the
state polished to 1e-6 under differentiation, ``physics.implicit``). Finite differences: the
polished state relaxed again at θ ± h (common random numbers, continuation) to tol 1e-6, for
several h (a wall that depins at a larger h is a jump, not a slope). Prints both and their ratio.

    python -m benchmarks.derivatives --cells 256
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import domainfit as df
from domainfit.features import statistics as stats
from domainfit.physics import random_state, relax
from domainfit.physics.simulate import with_disorder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--h-D", default="1e-6,3e-6", help="finite-difference steps of D [J/m²]")
    ap.add_argument("--h-sigma", default="1e-4,3e-4", help="finite-difference steps of σ")
    args = ap.parse_args()

    grid = df.Grid(nx=args.cells, ny=args.cells, cell_size=4e-9, thickness=4e-9)
    mat = with_disorder(df.make_material("co-pt", D=1.0e-3, sigma=0.1), grid, key=jax.random.key(args.seed + 1))
    m_user = relax(random_state(grid, key=jax.random.key(args.seed)), mat, grid, tol=1e-3, max_steps=20_000).m
    m_tight = relax(m_user, mat, grid, tol=1e-6, max_steps=100_000, implicit=False).m
    names = ("wall density [1/m]", "period [m]")

    def statistics(D, sigma, start, tol):
        m = relax(start, eqx.tree_at(lambda t: (t.D, t.sigma), mat, (D, sigma)), grid, tol=tol, max_steps=100_000).m
        return jnp.stack([stats.wall_density_smooth(m[2], grid.cell_size), stats.domain_period_smooth(m[2], grid.cell_size)])

    t0 = time.perf_counter()
    jac = jax.jacrev(statistics, argnums=(0, 1))(mat.D, mat.sigma, m_user, 1e-3)
    print(f"{args.cells}² float32 maze; implicit derivatives in {time.perf_counter() - t0:.0f} s", flush=True)
    for k, (which, steps) in enumerate((("D", args.h_D), ("sigma", args.h_sigma))):
        for h in (float(x) for x in steps.split(",")):
            step = (h, 0.0) if which == "D" else (0.0, h)
            plus = statistics(mat.D + step[0], mat.sigma + step[1], m_tight, 1e-6)
            minus = statistics(mat.D - step[0], mat.sigma - step[1], m_tight, 1e-6)
            fd = (plus - minus) / (2 * h)
            for i, name in enumerate(names):
                ratio = float(jac[k][i]) / float(fd[i]) if float(fd[i]) != 0 else float("nan")
                print(f"d {name:18s}/d{which:5s} implicit {float(jac[k][i]): .4e}  FD(h={h:.0e}) {float(fd[i]): .4e}"
                      f"  implicit/FD {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
