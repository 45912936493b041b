"""Simulator speed: minimiser steps, steps to converge, and the effective field against magnum.np.

For each grid (128², 256², 512² cells of 4 nm, co-pt preset, D = 1 mJ/m², σ = 0.1) it measures
  - the time of one Barzilai–Borwein minimiser step, single and per image in a vmapped batch of 8;
  - steps and wall time to relax a random state to max torque 1e-4 (single, and batch of 8);
    the reference is a plain NumPy Barzilai–Borwein sketch: ~2,500 steps, ~25 s for 256² here;
  - the time of one full effective-field evaluation, ours and magnum.np's (CPU PyTorch, Newell
    demag with pseudo-periodic images, the same film and the same m), their ratio, and the
    relative difference of the two fields per term on the relaxed maze.
Prints a table and, with --json FILE, writes the figures. Run: python -m benchmarks.simulator
Peer: pip install -e ".[bench]" (torch CPU build, magnumnp). Timings are the best of 5 repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from domainfit.physics import Grid, make_material, random_state, relax, simulate_batch
from domainfit.physics.energy import FIELDS, reduced_field
from domainfit.physics.relax import BB, bb_step, init_state
from domainfit.physics.simulate import with_disorder


def best_of(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def our_step_time(grid, mat, m, batch=None, n=20):
    mn = BB()
    terms = tuple(FIELDS)

    def run(state, material):
        return jax.lax.scan(lambda s, _: (bb_step(s, material, grid, terms, mn), None), state, None, length=n)[0]

    if batch is None:
        state = init_state(m, mat, grid, terms, mn)
        f = jax.jit(run)
        return best_of(lambda: jax.block_until_ready(f(state, mat))) / n
    ms = jnp.stack([m] * batch)
    states = jax.vmap(lambda mm: init_state(mm, mat, grid, terms, mn))(ms)
    f = jax.jit(jax.vmap(run, in_axes=(0, None)))
    return best_of(lambda: jax.block_until_ready(f(states, mat))) / n / batch


def our_field_time(grid, mat, m, spectral=False):
    """Seconds per reduced-field evaluation: the term fields, or the k-space path the minimiser ``PBB`` uses."""
    from domainfit.physics.energy import ALL_TERMS
    from domainfit.physics.spectral import spectral_reduced_field

    if spectral:
        f = jax.jit(lambda mm: spectral_reduced_field(mm, mat, grid, ALL_TERMS))
    else:
        f = jax.jit(lambda mm: reduced_field(mm, mat, grid))
    return best_of(lambda: jax.block_until_ready(f(m)))


def magnum_fields(grid, mat, m, pbc_images):
    """magnum.np's field terms on the same film; returns (timer of the total field, per-term fields in A/m)."""
    import torch

    from magnumnp import (
        DemagField,
        ExchangeField,
        ExternalField,
        InterfaceDMIField,
        Mesh,
        State,
        UniaxialAnisotropyField,
    )

    # magnum.np switches torch to float64 on import; compare like with like (ours runs in float32).
    # Its demag kernel is still set up in float64 internally, then cast.
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(os.cpu_count() or 1)

    mesh = Mesh((grid.nx, grid.ny, 1), (grid.cell_size, grid.cell_size, grid.thickness), pbc=(pbc_images, pbc_images, 0))
    state = State(mesh)
    ku = np.asarray(mat.Ku_map()).T[:, :, None, None]  # (nx, ny, 1, 1)
    state.material = {
        "Ms": float(mat.Ms),
        "A": float(mat.A),
        "Ku": torch.tensor(ku, dtype=torch.float32),
        "Ku_axis": state.Constant([0.0, 0.0, 1.0]),
        "Di": float(mat.D),  # same convention as ours (field checked term by term below)
    }
    state.m = torch.tensor(np.transpose(np.asarray(m), (2, 1, 0))[:, :, None, :].copy())  # (nx, ny, 1, 3)
    terms = {
        "exchange": ExchangeField(),
        "anisotropy": UniaxialAnisotropyField(),
        "dmi": InterfaceDMIField(),
        "demag": DemagField(),
        "zeeman": ExternalField(state.Constant([0.0, 0.0, 0.0])),
    }
    fields = {name: term.h(state) for name, term in terms.items()}  # builds kernels, compiles
    fields = {name: term.h(state) for name, term in terms.items()}

    def total():
        return sum(term.h(state) for term in terms.values())

    fields = {k: np.transpose(v.detach().numpy()[:, :, 0, :], (2, 1, 0)) for k, v in fields.items()}
    return total, fields


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--pbc-images", type=int, default=4, help="magnum.np pseudo-PBC images per side")
    parser.add_argument("--no-peer", action="store_true", help="skip magnum.np")
    parser.add_argument("--no-converge", action="store_true", help="skip the steps-to-converge runs")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    info = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "rows": [],
    }
    print(f"# {info['machine']}; jax {info['jax']} on {info['device']}")
    header = (
        f"{'grid':>6} {'step ms':>8} {'step/img ms (b8)':>17} {'steps':>6} {'relax s':>8} {'b8 relax s':>10} "
        f"{'field ms':>9} {'spectral ms':>11} {'magnum ms':>9} {'magnum/ours':>11} {'magnum/spectral':>15} {'Δfield (demag, others)':>24} {'ΔE (demag, others)':>20}"
    )
    print(header)
    for n in args.sizes:
        grid = Grid(nx=n, ny=n, cell_size=4e-9, thickness=4e-9)
        mat = make_material("co-pt", D=1.0e-3, sigma=0.1)
        mat = with_disorder(mat, grid, key=jax.random.key(1))
        m = random_state(grid, key=jax.random.key(0))
        row = {"n": n, "cells": n * n}
        row["step_ms"] = our_step_time(grid, mat, m) * 1e3
        row["step_per_image_batch_ms"] = our_step_time(grid, mat, m, batch=args.batch) * 1e3
        row["field_ms"] = our_field_time(grid, mat, m) * 1e3
        row["spectral_field_ms"] = our_field_time(grid, mat, m, spectral=True) * 1e3
        relaxed = None
        if not args.no_converge:
            plain = make_material("co-pt", D=1.0e-3, sigma=0.1)
            relax(m, mat, grid, tol=1e-4, max_steps=1)  # compile
            t = time.perf_counter()
            r = relax(m, mat, grid, tol=1e-4)
            r.m.block_until_ready()
            row["relax_s"], row["steps"], row["converged"] = time.perf_counter() - t, int(r.steps), bool(r.converged)
            relaxed = r.m
            keys = jax.random.split(jax.random.key(0), args.batch)
            simulate_batch(plain, grid, keys=keys, tol=1e-4).m.block_until_ready()  # compile
            t = time.perf_counter()
            rb = simulate_batch(plain, grid, keys=keys, tol=1e-4)
            rb.m.block_until_ready()
            row["batch_relax_s"] = time.perf_counter() - t
            row["batch_steps_max"] = int(jnp.max(rb.steps))
        if not args.no_peer:
            total, _ = magnum_fields(grid, mat, m, args.pbc_images)
            row["magnum_field_ms"] = best_of(total) * 1e3
            row["magnum_over_ours"] = row["magnum_field_ms"] / row["field_ms"]
            row["magnum_over_spectral"] = row["magnum_field_ms"] / row["spectral_field_ms"]
            # Field agreement on a relaxed maze (smooth on the cell scale, where the continuum and
            # Newell kernels agree), or on the random state when no relaxation was run.
            m_cmp = relaxed if relaxed is not None else m
            _, peer = magnum_fields(grid, mat, m_cmp, args.pbc_images)
            row["field_difference_state"] = "relaxed" if relaxed is not None else "random"
            ours = {k: np.asarray(f(m_cmp, mat, grid)) for k, f in FIELDS.items()}
            rel = {k: float(np.linalg.norm(ours[k] - peer[k]) / max(np.linalg.norm(peer[k]), 1e-30)) for k in ours if k != "zeeman"}
            row["relative_field_difference"] = rel
            # Energies of the same state: every term is linear in m, so E = −(μ0 Ms V/2) Σ m·H for
            # both codes (magnum.np's own LinearFieldTerm.E); ours is the energy function itself.
            from domainfit.physics.energy import TERMS
            from domainfit.units import MU0

            m_np = np.asarray(m_cmp, dtype=np.float64)
            scale = -0.5 * MU0 * float(mat.Ms) * grid.cell_volume
            row["energy_J"] = {
                k: {
                    "ours": float(TERMS[k](m_cmp, mat, grid)),
                    "magnum": scale * float(np.sum(m_np * peer[k].astype(np.float64))),
                }
                for k in ours
                if k != "zeeman"
            }
            row["energy_relative_difference"] = {
                k: abs(v["ours"] - v["magnum"]) / abs(v["magnum"]) for k, v in row["energy_J"].items()
            }
            # The total is a small difference of large terms (anisotropy ≈ −demag), so its relative
            # difference is also given against Σ|E_term|, the scale of the energy bookkeeping.
            e_ours = sum(v["ours"] for v in row["energy_J"].values())
            e_peer = sum(v["magnum"] for v in row["energy_J"].values())
            row["total_energy_relative_difference"] = abs(e_ours - e_peer) / abs(e_peer)
            row["total_energy_difference_over_sum_abs"] = abs(e_ours - e_peer) / sum(
                abs(v["magnum"]) for v in row["energy_J"].values()
            )
        info["rows"].append(row)
        rel = row.get("relative_field_difference", {})
        others = max((v for k, v in rel.items() if k != "demag"), default=float("nan"))
        erel = row.get("energy_relative_difference", {})
        eothers = max((v for k, v in erel.items() if k != "demag"), default=float("nan"))
        print(
            f"{n:>4}² {row['step_ms']:8.2f} {row['step_per_image_batch_ms']:17.2f} {row.get('steps', 0):6d} "
            f"{row.get('relax_s', float('nan')):8.1f} {row.get('batch_relax_s', float('nan')):10.1f} "
            f"{row['field_ms']:9.2f} {row['spectral_field_ms']:11.2f} {row.get('magnum_field_ms', float('nan')):9.2f} "
            f"{row.get('magnum_over_ours', float('nan')):11.1f} {row.get('magnum_over_spectral', float('nan')):15.1f} {rel.get('demag', float('nan')):>12.2e}, {others:.1e}"
            f" {erel.get('demag', float('nan')):>11.1e}, {eothers:.1e}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(info, fh, indent=2)


if __name__ == "__main__":
    main()
