"""Minimiser benchmark: today's ``BB`` against ``PBB`` on the same seeds, steps, seconds and physics.

For each preset (``co-pt`` with bulk DMI, ``low-ms``) and seed, the film (grains) and the random
initial state come from ``jax.random.key(seed)`` exactly as ``physics.simulate`` draws them; both
minimisers relax the same start to max |m×H|/Ms < tol. Per relaxed state it records
  - steps, and the steps at which the torque first fell below 1e-1, 3e-2, 1e-2, 3e-3 (the path);
  - wall seconds of the relaxation alone (the field evaluation and loop are compiled first, with a
    two-step warm-up run, so compilation is excluded; grains and initial state are drawn outside);
  - for each of those torque levels, the fraction of cells whose sign of m_z differs from the final
    state (how frozen the maze topology is by then);
  - wall density [1/µm] (``stats.wall_density``: sign changes of m_z along both axes, Cauchy–Crofton
    length per area; the plain count of sign changes per µm per axis of notes/relaxation-paths.md is
    2/π of it),
    domain period [nm] (``stats.domain_period``: peak of the radial spectrum) and |⟨m_z⟩|.
It prints per preset the median and quartiles of steps and seconds, the ratios new/old of the medians,
and for each statistic the means ± standard deviations, Welch's t-test and the Mann–Whitney U test
(two-sample, p > 0.05 wanted) and the paired mean difference with its standard error.

Material parameters per preset are fixed at the centre of the training prior (co-pt D = 0.7 mJ/m²,
σ = 0.1; low-ms Ms = 450 kA/m, σ = 0.1), so the seed scatter is the scatter of the states alone;
``--prior`` draws them from the prior box per seed instead. Grid: N² cells of 4 nm, 4 nm thick.

Run (one core, pinned):
  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
  taskset -c 1 python -m benchmarks.relax --seeds 16 --cells 512 --presets co-pt low-ms --json out.json
``--cache DIR`` keeps each (preset, seed, minimiser, settings) result as a JSON file and reuses it,
so an interrupted run resumes, and a new variant can be compared against an old run's ``BB`` states.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from domainfit.features import statistics as stats
from domainfit.physics import Grid, make_material
from domainfit.physics.energy import ALL_TERMS, total_energy
from domainfit.physics.relax import BB, PBB, advance, init_state
from domainfit.physics.simulate import random_state, with_disorder

LEVELS = (1e-1, 3e-2, 1e-2, 3e-3)
CENTRE = {"co-pt": dict(D=0.7e-3, sigma=0.1), "low-ms": dict(Ms=450e3, sigma=0.1)}
BOX = {"co-pt": dict(D=(0.1e-3, 1.0e-3), sigma=(0.05, 0.2)), "low-ms": dict(Ms=(200e3, 700e3), sigma=(0.05, 0.2))}
STATS = ("wall_density_per_um", "period_nm", "abs_mean_mz")


def material_for(preset: str, seed: int, prior: bool):
    if not prior:
        values = CENTRE[preset]
    else:
        u = np.random.default_rng(seed).uniform(size=2)
        values = {k: lo + ui * (hi - lo) for ui, (k, (lo, hi)) in zip(u, BOX[preset].items())}
    return make_material(preset, **values), {k: float(v) for k, v in values.items()}


def relax_traced(m0, mat, grid, tol, max_steps, minimiser):
    """Relax with ``advance`` run up to each torque level in turn (the same path as one call)."""
    jax.block_until_ready((m0, mat))
    t0 = time.perf_counter()
    state = _init(m0, mat, grid, ALL_TERMS, minimiser)
    snaps, level_steps = [], []
    for level in (*[lv for lv in LEVELS if lv > tol], tol):
        state = advance(state, mat, grid, level, max_steps, terms=ALL_TERMS, minimiser=minimiser)
        level_steps.append(int(state.steps))  # syncs
        snaps.append(np.asarray(state.m[2]) > 0)
    seconds = time.perf_counter() - t0
    return state, seconds, level_steps, snaps


_init = jax.jit(init_state, static_argnames=("grid", "terms", "minimiser"))


def run_one(preset, seed, cells, tol, max_steps, minimiser, prior):
    grid = Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=4e-9)
    mat, values = material_for(preset, seed, prior)
    key_state, key_grains = jax.random.split(jax.random.key(seed))
    mat = with_disorder(mat, grid, key=key_grains)
    m0 = random_state(grid, key=key_state, dtype=mat.Ms.dtype)
    # Warm-up: compile init and the loop(s) for this grid and minimiser (two steps, then discarded).
    warm = _init(m0, mat, grid, ALL_TERMS, minimiser)
    jax.block_until_ready(advance(warm, mat, grid, tol, 2, terms=ALL_TERMS, minimiser=minimiser))
    state, seconds, level_steps, snaps = relax_traced(m0, mat, grid, tol, max_steps, minimiser)
    mz = state.m[2]
    final = snaps[-1]
    return {
        "preset": preset, "seed": seed, "cells": cells, "tol": tol, "minimiser": describe(minimiser), "material": values,
        "steps": int(state.steps), "seconds": seconds, "converged": bool(state.max_torque < tol),
        "max_torque": float(state.max_torque),
        "level_steps": dict(zip([str(lv) for lv in LEVELS if lv > tol], level_steps[:-1])),
        "sign_flips_after_level": {str(lv): float(np.mean(s != final)) for lv, s in zip([lv for lv in LEVELS if lv > tol], snaps[:-1])},
        "energy_J": float(total_energy(state.m, mat, grid)),
        "wall_density_per_um": float(stats.wall_density(mz, grid.cell_size)) * 1e-6,
        "period_nm": float(stats.domain_period(mz, grid.cell_size)) * 1e9,
        "abs_mean_mz": abs(float(jnp.mean(mz))),
        "mz_sign": np.packbits(final).tobytes().hex() if cells <= 128 else None,
    }


def cached(cache: Path | None, args_key: dict, fn):
    if cache is None:
        return fn()
    h = hashlib.sha1(json.dumps(args_key, sort_keys=True).encode()).hexdigest()[:16]
    f = cache / f"{args_key['preset']}-{args_key['seed']}-{h}.json"
    if f.exists():
        out = json.loads(f.read_text())
        out["cached"] = True
        return out
    out = fn()
    cache.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(out))
    return out


def quartiles(x):
    q = np.percentile(x, [25, 50, 75])
    return {"q1": float(q[0]), "median": float(q[1]), "q3": float(q[2])}


def compare(old: list[dict], new: list[dict]) -> dict:
    from scipy import stats as st

    out = {}
    for k in ("steps", "seconds"):
        a, b = np.array([r[k] for r in old]), np.array([r[k] for r in new])
        out[k] = {"old": quartiles(a), "new": quartiles(b), "ratio_new_over_old_median": float(np.median(b) / np.median(a)),
                  "median_speedup": float(np.median(a) / np.median(b)), "median_of_paired_speedups": float(np.median(a / b))}
    for k in STATS:
        a, b = np.array([r[k] for r in old]), np.array([r[k] for r in new])
        if k == "period_nm":  # a film without walls (uniform) has no period: compare the seeds with walls in both
            walls = np.array([ro["wall_density_per_um"] > 0 and rn["wall_density_per_um"] > 0 for ro, rn in zip(old, new)])
            a, b = a[walls], b[walls]
        diff = b - a
        out[k] = {"n": int(len(a)),
            "old_mean": float(a.mean()), "old_sd": float(a.std(ddof=1)), "new_mean": float(b.mean()), "new_sd": float(b.std(ddof=1)),
            "diff_of_means": float(b.mean() - a.mean()), "ratio_of_means": float(b.mean() / a.mean()),
            "welch_p": float(st.ttest_ind(a, b, equal_var=False).pvalue),
            "mannwhitney_p": float(st.mannwhitneyu(a, b).pvalue),
            "paired_mean_diff": float(diff.mean()), "paired_se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
            "within_scatter": bool(abs(b.mean() - a.mean()) < max(a.std(ddof=1), b.std(ddof=1))),
        }
    out["converged"] = {"old": sum(r["converged"] for r in old), "new": sum(r["converged"] for r in new), "n": len(old)}
    return out


def path_split(rs: list[dict]) -> dict:
    levels = list(rs[0]["level_steps"])
    return {
        lv: {"median_fraction_of_steps": float(np.median([r["level_steps"][lv] / max(r["steps"], 1) for r in rs])),
             "median_steps": float(np.median([r["level_steps"][lv] for r in rs])),
             "median_sign_flip_fraction": float(np.median([r["sign_flips_after_level"][lv] for r in rs])),
             "max_sign_flip_fraction": float(np.max([r["sign_flips_after_level"][lv] for r in rs]))}
        for lv in levels
    }


def describe(minimiser) -> str:
    """Every field of ``minimiser`` with its value, defaults included (``repr`` omits defaults, so a
    changed default would otherwise reuse stale cached results)."""
    import dataclasses

    fields = ", ".join(f"{f.name}={getattr(minimiser, f.name)!r}" for f in dataclasses.fields(minimiser))
    return f"{type(minimiser).__name__}({fields})"


def parse_minimiser(text: str):
    return eval(text, {"BB": BB, "PBB": PBB})  # e.g. "PBB(length=8e-9, switch=1e-2)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=16, help="seeds per preset (100, 101, ...)")
    p.add_argument("--first-seed", type=int, default=100)
    p.add_argument("--cells", type=int, default=512)
    p.add_argument("--presets", nargs="+", default=["co-pt", "low-ms"], choices=list(CENTRE))
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--max-steps", type=int, default=40_000)
    p.add_argument("--old", default="BB()", help="reference minimiser (default today's BB())")
    p.add_argument("--new", default="PBB()", help='e.g. "PBB(length=8e-9, switch=1e-2)"')
    p.add_argument("--prior", action="store_true", help="draw D (co-pt) or Ms (low-ms) and σ from the prior box per seed")
    p.add_argument("--only", choices=["old", "new"], help="run one minimiser only")
    p.add_argument("--cache", type=Path, help="directory of per-state results to reuse and fill")
    p.add_argument("--json", type=Path, help="write all results and the comparison here")
    args = p.parse_args(argv)
    minimisers = {"old": parse_minimiser(args.old), "new": parse_minimiser(args.new)}
    roles = [args.only] if args.only else ["old", "new"]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results = {}
    for preset in args.presets:
        for role in roles:
            rs = []
            for seed in seeds:
                key = {"preset": preset, "seed": seed, "cells": args.cells, "tol": args.tol, "max_steps": args.max_steps,
                       "minimiser": describe(minimisers[role]), "prior": args.prior}
                r = cached(args.cache, key, lambda: run_one(preset, seed, args.cells, args.tol, args.max_steps, minimisers[role], args.prior))
                rs.append(r)
                print(f"{preset:7s} {role} seed {seed}: {r['steps']:6d} steps {r['seconds']:7.2f} s  walls {r['wall_density_per_um']:.3f}/µm "
                      f"period {r['period_nm']:.1f} nm |<mz>| {r['abs_mean_mz']:.3f} conv {r['converged']}"
                      f"{' (cached)' if r.get('cached') else ''}", flush=True)
            results[(preset, role)] = rs
    report = {"machine": {"platform": platform.platform(), "cpu": platform.processor(), "jax": jax.__version__,
                          "xla_flags": os.environ.get("XLA_FLAGS", ""), "affinity": sorted(os.sched_getaffinity(0))},
              "args": {k: str(v) for k, v in vars(args).items()}, "minimisers": {k: repr(v) for k, v in minimisers.items()},
              "presets": {}}
    for preset in args.presets:
        entry = {role: results[(preset, role)] for role in roles}
        entry["path_split"] = {role: path_split(results[(preset, role)]) for role in roles}
        print(f"\n== {preset}, {args.cells}² cells, tol {args.tol:g}, {len(seeds)} seeds ==")
        for role in roles:
            print(f"  {role} {minimisers[role]!r} path: " + "; ".join(
                f"torque<{lv}: {v['median_fraction_of_steps']:.0%} of steps, sign flips after {v['median_sign_flip_fraction']:.2%} (max {v['max_sign_flip_fraction']:.2%})"
                for lv, v in entry["path_split"][role].items()))
        if len(roles) == 2:
            c = compare(results[(preset, "old")], results[(preset, "new")])
            entry["comparison"] = c
            for k in ("steps", "seconds"):
                o, n = c[k]["old"], c[k]["new"]
                print(f"  {k:8s} old median {o['median']:9.2f} [{o['q1']:.2f}, {o['q3']:.2f}]  new median {n['median']:9.2f} "
                      f"[{n['q1']:.2f}, {n['q3']:.2f}]  new/old {c[k]['ratio_new_over_old_median']:.3f} (speed-up {c[k]['median_speedup']:.2f}×)")
            for k in STATS:
                s = c[k]
                print(f"  {k:20s} old {s['old_mean']:.4f} ± {s['old_sd']:.4f}  new {s['new_mean']:.4f} ± {s['new_sd']:.4f}  "
                      f"new/old {s['ratio_of_means']:.4f}  Welch p {s['welch_p']:.3f}  MWU p {s['mannwhitney_p']:.3f}  "
                      f"paired diff {s['paired_mean_diff']:+.4f} ± {s['paired_se']:.4f}")
            print(f"  converged old {c['converged']['old']}/{c['converged']['n']}, new {c['converged']['new']}/{c['converged']['n']}")
        report["presets"][preset] = entry
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
