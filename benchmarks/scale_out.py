"""Scale-out benchmark: throughput of 512² co-pt relaxations on 2 local Dask workers against 1 (issue 37).

The same states (``generate``'s samples 0..N-1 of a co-pt dataset: its seeds, parameters and protocol)
are relaxed as tasks (``data.remote.relax_task``, one state per task) by a local cluster of one worker,
then of two (``tasks.Cluster``: one JAX runtime per worker, bound to its own core). Each worker is warmed up
first — it relaxes one state outside the timed set, so the timing holds no compilation. Printed per
cluster: wall time, states per minute, the mean wall time of one task (longer with two workers when they
contend for memory bandwidth), its CPU time over wall time (1.0: one thread busy, the pinning holds)
and the busy fraction (sum of task times over workers × wall: below 1 when
uneven tasks leave a worker idle at the end). The ratio of throughputs, 2 workers over 1, is the figure
(acceptance ≥ 1.8 on the 2-core CPU). ``--peer-serial`` also times the same states in this process,
unpinned (XLA's own threads over every core), the way ``generate`` runs without ``--workers``.

``--steps K`` stops every relaxation at exactly K steps (the tolerance set out of reach), so that all
tasks are of equal work and the ratio measures parallel efficiency alone, without the tail imbalance of
a few uneven tasks.

Run alone on the machine (the ratio is of the cores' throughput):
    flock /tmp/cpu.lock python -m benchmarks.scale_out --states 6 --json docs/figures/scale_out.json
    flock /tmp/cpu.lock python -m benchmarks.scale_out --states 6 --steps 1500 --json docs/figures/scale_out_steps.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def config_for(args):
    from domainfit.data import GenerateConfig, preset_prior

    return GenerateConfig(count=args.states + 64, prior=preset_prior("co-pt"), cells=(args.cells, args.cells),
                          minimiser=args.minimiser, tol=1e-12 if args.steps else args.tol,
                          max_steps=args.steps or 20_000, seed=args.seed)


def warm(config, index: int) -> float:
    """On a worker: relax one state outside the timed set (compiles the runner); its seconds."""
    from domainfit.data.runner import relax_samples

    t0 = time.perf_counter()
    relax_samples(config, [index])
    return time.perf_counter() - t0


def relax_timed(config, index: int) -> dict:
    """The task: one state relaxed as ``generate`` relaxes it; its wall and CPU seconds (CPU ≈ wall: one
    thread busy), steps and energy."""
    from domainfit.data.runner import relax_samples

    t0, c0 = time.perf_counter(), time.process_time()
    a = relax_samples(config, [index])
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "steps": int(a["steps"][0]),
            "energy": float(a["energy"][0])}


def on_cluster(workers: int, config, states: int, bind: bool = True) -> dict:
    from domainfit.tasks import Cluster, open_cluster, run_on_workers, run_tasks

    with open_cluster(Cluster(workers=workers, pin_cores=bind)) as client:
        warm_s = run_on_workers(client, warm, config, config.count - 1)
        t0 = time.perf_counter()
        tasks = {}
        for i, task in run_tasks(client, relax_timed, [(config, i) for i in range(states)]):
            tasks[i] = task
        wall = time.perf_counter() - t0
    busy = sum(t["seconds"] for t in tasks.values())
    return {"workers": workers, "wall_s": wall, "states_per_min": 60 * states / wall, "warm_up_s": sorted(warm_s.values()),
            "task_s_mean": busy / states, "busy_fraction": busy / (workers * wall),
            "cpu_over_wall": sum(t["cpu_s"] for t in tasks.values()) / busy,
            "tasks": [tasks[i] for i in range(states)]}


def in_process(config, states: int) -> dict:
    warm(config, config.count - 1)
    t0 = time.perf_counter()
    tasks = [relax_timed(config, i) for i in range(states)]
    wall = time.perf_counter() - t0
    return {"workers": "in-process", "wall_s": wall, "states_per_min": 60 * states / wall, "task_s_mean": wall / states,
            "cpu_over_wall": sum(t["cpu_s"] for t in tasks) / wall, "tasks": tasks}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--states", type=int, default=6, help="relaxations timed per cluster (default 6)")
    ap.add_argument("--cells", type=int, default=512, help="grid cells a side (default 512)")
    ap.add_argument("--tol", type=float, default=1e-4, help="torque tolerance (default 1e-4, generate's)")
    ap.add_argument("--steps", type=int, help="relax every state exactly this many steps instead (equal tasks)")
    ap.add_argument("--minimiser", choices=("bb", "pbb"), default="bb", help="generate's minimiser (default bb)")
    ap.add_argument("--seed", type=int, default=0, help="the dataset's base seed (default 0)")
    ap.add_argument("--peer-serial", action="store_true", help="also time the states in this process, unpinned")
    ap.add_argument("--no-binding", action="store_true",
                    help="leave the workers unbound to cores (Cluster(pin_cores=False)): XLA then runs more than one "
                         "thread per worker")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    args = ap.parse_args(argv)

    import jax

    config = config_for(args)
    bind = not args.no_binding
    runs = [on_cluster(1, config, args.states, bind), on_cluster(2, config, args.states, bind)]
    if args.peer_serial:
        runs.append(in_process(config, args.states))
    one, two = runs[0], runs[1]
    same = [a["steps"] == b["steps"] and a["energy"] == b["energy"] for a, b in zip(one["tasks"], two["tasks"])]
    result = {
        "ratio_2_over_1": two["states_per_min"] / one["states_per_min"],
        "task_time_ratio_2_over_1": two["task_s_mean"] / one["task_s_mean"],
        "same_states": all(same),
        "setting": {"preset": "co-pt", "cells": args.cells, "tol": None if args.steps else args.tol,
                    "steps": args.steps, "minimiser": args.minimiser, "states": args.states, "seed": args.seed,
                    "bound_to_cores": bind},
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, JAX {jax.__version__} "
                   f"{jax.default_backend()}",
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    what = f"{args.cells}² co-pt, " + (f"{args.steps} steps each" if args.steps else f"tol {args.tol:g}")
    print(f"{args.states} relaxations ({what}, {args.minimiser}) on {result['machine']}")
    for r in runs:
        busy = f", busy {r['busy_fraction']:.2f}" if "busy_fraction" in r else ""
        print(f"  {r['workers']!s:>10} worker(s): {r['wall_s']:7.1f} s, {r['states_per_min']:.2f} states/min, "
              f"{r['task_s_mean']:.1f} s per state{busy}, CPU/wall per task {r['cpu_over_wall']:.2f}")
    print(f"throughput 2 workers / 1 worker: {result['ratio_2_over_1']:.2f} (time per task ×"
          f"{result['task_time_ratio_2_over_1']:.2f}); states identical: {result['same_states']}")
    if args.peer_serial:
        print(f"2 workers / in-process: {two['states_per_min'] / runs[2]['states_per_min']:.2f}")
    if args.json is not None:
        from domainfit._files import atomic_write

        atomic_write(args.json, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
