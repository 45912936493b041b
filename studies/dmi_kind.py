"""Study: how much does D shape a relaxed maze with interfacial versus bulk DMI in the co-pt film?

Relaxes random states of the co-pt film (512² cells of 4 nm, tol 1e-3) on a grid of D and σ for
both DMI kinds and a few seeds, prints the wall density table of docs/physics.md ("Which DMI for
the co-pt preset") and draws docs/figures/dmi_kind.png. Two processes (one per kind) take ~8 min
each on the 2-core CPU:

    python -m studies.dmi_kind run interfacial /tmp/int.npz &
    python -m studies.dmi_kind run bulk /tmp/bulk.npz
    python -m studies.dmi_kind report /tmp/int.npz /tmp/bulk.npz --figure docs/figures/dmi_kind.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import jax
import numpy as np

import domainfit as df
from domainfit.features import statistics as stats

D_VALUES = (0.1e-3, 0.55e-3, 1.0e-3)
SIGMAS = (0.05, 0.125, 0.2)


def run(kind: str, out: str, cells: int, seeds: list[int]) -> None:
    grid = df.Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=4e-9)
    rows, mzs = [], []
    for seed, sigma, D in itertools.product(seeds, SIGMAS, D_VALUES):
        t = time.time()
        mat = df.make_material("co-pt", D=D, sigma=sigma, dmi=kind)
        result = df.simulate(mat, grid, key=jax.random.key(seed), tol=1e-3, max_steps=8000)
        mz = np.asarray(result.m[2])
        s = stats.summary(mz, grid.cell_size)
        row = dict(kind=kind, D=D * 1e3, sigma=sigma, seed=seed, steps=int(result.steps), converged=bool(result.converged),
                   t=round(time.time() - t, 1), walls=s["wall_density_per_um"], period_nm=s["period_nm"])  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        mzs.append(mz.astype(np.float16))
        np.savez_compressed(out, mz=np.stack(mzs), meta=json.dumps(rows))  # after each: nothing lost on a kill


def report(files: list[str], figure: str | None) -> None:
    data = {}
    for f in files:
        z = np.load(f)
        meta = json.loads(str(z["meta"]))
        data[meta[0]["kind"]] = (z["mz"].astype(np.float32), meta)
    for kind, (_, meta) in data.items():
        for sigma in SIGMAS:
            cells = []
            for D in D_VALUES:
                w = [m["walls"] for m in meta if m["sigma"] == sigma and m["D"] == D * 1e3]
                cells.append(f"{np.mean(w):.2f} ± {np.std(w, ddof=1):.2f}")
            print(f"{kind:>11} σ = {sigma:<5}: wall density [1/µm] at D = 0.1 / 0.55 / 1.0 mJ/m²: " + " / ".join(cells))
    if figure:
        _figure(data, figure)


def _figure(data, path: str) -> None:
    from domainfit._files import pyplot

    plt = pyplot()
    fig = plt.figure(figsize=(11, 6.2), dpi=110)
    gs = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.45])
    seed = min(m["seed"] for m in next(iter(data.values()))[1])
    for r, kind in enumerate(k for k in ("interfacial", "bulk") if k in data):
        mz, meta = data[kind]
        for c, D in enumerate(D_VALUES):
            i = next(k for k, m in enumerate(meta) if m["D"] == D * 1e3 and m["sigma"] == SIGMAS[0] and m["seed"] == seed)
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(mz[i], cmap="gray", vmin=-1, vmax=1, extent=[0, 2.048, 0, 2.048])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{kind}, D = {D * 1e3:g} mJ/m²\n{meta[i]['walls']:.2f} walls/µm", fontsize=8)
    ax = fig.add_subplot(gs[:, 3])
    for kind, ls in (("interfacial", "--"), ("bulk", "-")):
        if kind not in data:
            continue
        meta = data[kind][1]
        for sigma, col in zip(SIGMAS, ("C0", "C1", "C2")):
            w = [[m["walls"] for m in meta if m["D"] == D * 1e3 and m["sigma"] == sigma] for D in D_VALUES]
            ax.errorbar([D * 1e3 for D in D_VALUES], [np.mean(v) for v in w], yerr=[np.std(v, ddof=1) for v in w],
                        ls=ls, color=col, marker="o", ms=3, capsize=2, label=f"{kind}, σ = {sigma}")  # fmt: skip
    ax.set_xlabel("D [mJ/m²]")
    ax.set_ylabel("wall density [1/µm]")
    ax.set_title("co-pt film, 2.048 µm, mean ± sd over seeds", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(f"Relaxed mazes (σ = {SIGMAS[0]}, seed {seed}): bulk DMI lets D shape the pattern in the 4 nm model film", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("kind", choices=["interfacial", "bulk"])
    p.add_argument("out", help=".npz of m_z and the table rows")
    p.add_argument("--cells", type=int, default=512)
    p.add_argument("--seeds", default="10,11,12")
    p = sub.add_parser("report")
    p.add_argument("files", nargs="+")
    p.add_argument("--figure")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.kind, args.out, args.cells, [int(s) for s in args.seeds.split(",")])
    else:
        report(args.files, args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
