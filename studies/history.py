"""How the state's history moves the film path's statistics: relaxed from a random state against AC-demagnetised.

A user's film was rarely quenched from a random state: it was demagnetised by a decaying alternating
field, or grown, or left after a field sweep. The film path simulates mazes relaxed from random states.
This study measures what the other history does to the statistics the film path compares
(``forward.statistics``): for a few films at D = 0.8 D_c and two σ, each from two seeds (the same grains
for both histories),

- **random**: ``physics.simulate`` (a random state relaxed at zero field);
- **field-cycled**: the random state's maze taken through a perpendicular field of alternating sign and
  decaying amplitude μ0H_k = H0·q^k·(−1)^k (q = 0.8, k = 0 … 11, H0 = 1.5 H½, H½ the field where its
  initial magnetisation curve reaches ⟨m_z⟩ = ½ in 5 mT steps), each step relaxed from the last, then
  zero field — quasi-static, as a slow AC demagnetisation is. (From saturation a minimiser never
  nucleates a domain — no thermal activation: measured, every film stayed at m_z = 1 — so the cycle
  starts from a maze, as a real film's AC demagnetisation works on the domains it has.)

Both states are read as the film path reads its simulations (sign of m_z for the geometry, the CNN on
m_z). Output: per film and σ the statistics of each history and their difference, mean ± sd over seeds.

    python -m studies.history --json docs/figures/history.json

Cells: 256² at the film's grid (``forward.design.film_grid``). ~10 min on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

FILMS = {
    "Pt/Co/MgO-like (1 nm, interfacial)": "Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial",
    "co-pt (4 nm, bulk)": "co-pt",
    "1.5 nm bulk": "Ms=1300kA/m,Ku=1.3MJ/m3,A=12pJ/m,thickness=1.5nm,dmi=bulk",
}
SIGMAS = (0.05, 0.15)
SEEDS = (0, 1)
Q, STEPS, AMPLITUDE, H_STEP_T = 0.8, 12, 1.5, 5e-3


def states(film, sigma: float, seed: int, cells: int):
    """(random m_z, AC-demagnetised m_z, cell size, seconds of each) of ``film`` at D = 0.8 D_c."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from domainfit import physics
    from domainfit.forward.design import film_grid
    from domainfit.physics.curve import initial_curve
    from domainfit.units import MU0

    v = film.values()
    cell = film_grid(film, 1.0).cell_size
    grid = physics.Grid(nx=cells, ny=cells, cell_size=cell, thickness=v["thickness"])
    mat = physics.make_material(None, Ms=v["Ms"], A=v["A"], Ku=v["Ku"], D=0.8 * film.critical_dmi, sigma=sigma,
                                dmi=film.dmi, grain_size=film.grain_size, dtype=jnp.float32)
    key = jax.random.key(seed)
    t0 = time.perf_counter()
    random = physics.simulate(mat, grid, key=key, tol=1e-3, minimiser=physics.PBB())
    t_random = time.perf_counter() - t0
    _, key_grains = jax.random.split(key)
    grained = physics.with_disorder(mat, grid, key=key_grains)  # the same grains as the random relaxation
    t0 = time.perf_counter()
    curve = initial_curve(random.m, mat, grid, step_T=H_STEP_T, stop_mz=0.5, max_field_T=0.5)
    h_half = float(np.interp(0.5, curve.mz, curve.field_T)) if curve.mz[-1] >= 0.5 else float(curve.field_T[-1])
    h0 = AMPLITUDE * h_half
    run = eqx.filter_jit(lambda m0, material: physics.relax(m0, material, grid, tol=1e-3, max_steps=20_000,
                                                             minimiser=physics.PBB()))
    m = random.m
    for k in [*range(STEPS), None]:
        h = 0.0 if k is None else h0 * Q**k * (-1) ** k
        step = eqx.tree_at(lambda x: x.H_ext, grained, jnp.array([0.0, 0.0, h / MU0], jnp.float32))
        m = run(m, step).m
    t_ac = time.perf_counter() - t0
    return np.asarray(random.m[2]), np.asarray(m[2]), cell, t_random, t_ac, h_half


def main(argv=None) -> int:
    from domainfit._files import atomic_write
    from domainfit.films import parse_film
    from domainfit.forward.statistics import STAT_NAMES, state_statistics

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=256)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = {"protocol": {"q": Q, "steps": STEPS, "H0": f"{AMPLITUDE} H½", "D": "0.8 D_c", "cells": args.cells,
                        "seeds": list(SEEDS)}, "films": {}}
    for name, spec in FILMS.items():
        film = parse_film(spec)
        for sigma in SIGMAS:
            rows = []
            for seed in SEEDS:
                rnd, ac, cell, t_r, t_ac, h_half = states(film, sigma, seed, args.cells)
                rows.append((state_statistics(rnd, cell), state_statistics(ac, cell), float(np.mean(ac)), t_r, t_ac,
                             h_half))
            a = np.array([r[0] for r in rows])
            b = np.array([r[1] for r in rows])
            diff = b - a
            entry = {n: {"random": float(np.nanmean(a[:, k])), "ac": float(np.nanmean(b[:, k])),
                         "difference": float(np.nanmean(diff[:, k])),
                         "difference_sd": float(np.nanstd(diff[:, k], ddof=1)) if len(SEEDS) > 1 else math.nan}
                     for k, n in enumerate(STAT_NAMES)}
            entry["ac_net_mz"] = [r[2] for r in rows]
            entry["seconds"] = {"random": [r[3] for r in rows], "ac": [r[4] for r in rows]}
            entry["half_field_mT"] = [1e3 * r[5] for r in rows]
            out["films"][f"{name}, σ {sigma}"] = entry
            print(f"{name}, σ {sigma}: " + ", ".join(f"{n} {entry[n]['difference']:+.3f}" for n in STAT_NAMES)
                  + f" (net m_z {entry['ac_net_mz']})", flush=True)
    if args.json:
        atomic_write(args.json, json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
