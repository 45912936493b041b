"""Do the intervals of an image without walls hold the truth? (issue 16, acceptance 1, second part)

A recording that fails the wall test (``features.walls.shows_walls``) carries no statistics: its
likelihood is 1 − p_w(θ), the probability that a film at θ keeps no walls, and its posterior is the
prior times that (``estimate --posterior`` says Ms is not identifiable and samples it; NUTS agrees with
quadrature, tests/test_presence.py). Here that posterior is computed by quadrature on a grid over the
set's box (uniform prior) for every held-out state of the set (odd chunks: the shipped set emulators
were fitted on the even ones) recorded by ``--draws`` instruments of the test prior, and for every
view without walls the 90 % highest-density interval of each parameter's marginal is checked against
the truth. Reported: views without walls, per state kind, and the coverage per parameter.

  python -m studies.wall_free_coverage --emulator src/domainfit/assets/set_low-ms.emulator.npz \
      --data ~/domainfit-data/lowms512 --json docs/figures/wall_free_coverage.json

A dataset drawn from the corner of the box where films end without walls (``gen_wallfree.sh`` of
docs/cnn.md: low-ms with Ms 200–650 kA/m, σ 0.05–0.13, its own seed) gives many more wall-free states
per hour; none of its states is in an emulator's fit, so --all-chunks reads them all. Where no film
outside that corner ends wall-free (none did in 100 held-out states of the full box), its wall-free
states are draws from the prior conditioned on "no walls", as the coverage asks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from domainfit._files import atomic_write
from domainfit.data import Dataset
from domainfit.data.instruments import TEST, draw_instrument
from domainfit.data.prior import PARAMETERS
from domainfit.data.views import recorded
from domainfit.surrogate import Emulator
from domainfit.features.walls import shows_walls

STREAM = 0xF4EE
GRID = 201


def hdi_mask(density: np.ndarray, prob: float) -> np.ndarray:
    """Grid cells of the highest-density region holding ``prob`` of a 1D density on a uniform grid."""
    p = density / density.sum()
    order = np.argsort(p)[::-1]
    keep = np.zeros(len(p), bool)
    keep[order[: int(np.searchsorted(np.cumsum(p[order]), prob) + 1)]] = True
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emulator", required=True, type=Path, help="a set emulator with a presence model")
    ap.add_argument("--data", required=True, type=Path, help="the set's dataset (odd chunks are read)")
    ap.add_argument("--draws", type=int, default=4, help="instruments per state (default 4)")
    ap.add_argument("--all-chunks", action="store_true",
                    help="read every chunk (a dataset no emulator was fitted on, e.g. the wall-free corner)")
    ap.add_argument("--hdi", type=float, default=0.9)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    emu = Emulator.load(args.emulator)
    if emu.presence is None or len(emu.names) != 2:
        raise SystemExit(f"{args.emulator}: need a two-parameter emulator with a presence model")
    ds = Dataset(args.data)
    chunk = np.asarray(ds.index) // int(ds.meta["identity"]["chunk_size"])
    held_out = np.ones(len(chunk), bool) if args.all_chunks else chunk % 2 == 1
    rows = np.nonzero(held_out & np.asarray(ds.converged, bool))[0]
    # posterior ∝ 1 − p_w on the box-normalised grid (uniform prior over the box)
    g = np.linspace(-1, 1, GRID)
    xx = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    post = (1.0 - np.asarray(emu.presence.prob_x(jnp.asarray(xx)))).reshape(GRID, GRID)
    marginals = [post.sum(1), post.sum(0)]
    masks = [hdi_mask(m, args.hdi) for m in marginals]
    lo, hi = np.asarray(emu.lo), np.asarray(emu.hi)
    cell, thickness = float(ds.grid["cell_size"]), float(ds.grid["thickness"])
    views = []
    for r in rows:
        m = np.asarray(ds.mz([r])[0], np.float32)
        uniform = bool(np.all(m > 0) or np.all(m < 0))
        for j in range(args.draws):
            s = [STREAM, int(ds.index[r]), j]
            inst = draw_instrument(TEST, np.random.default_rng(s))
            u = recorded(m, cell, thickness, inst, s + [1])
            if np.ptp(u) > 0 and shows_walls(u):
                continue
            truth = np.array([ds.params[r, PARAMETERS.index(n)] for n in emu.names])
            x = 2 * (truth - lo) / (hi - lo) - 1
            k = np.clip(np.rint((x + 1) / 2 * (GRID - 1)).astype(int), 0, GRID - 1)
            views.append(dict(index=int(ds.index[r]), draw=j, family=inst.name, uniform_state=uniform,
                              truth={n: float(v) for n, v in zip(emu.names, truth)},
                              covered={n: bool(masks[i][k[i]]) for i, n in enumerate(emu.names)}))
    out = {"views_without_walls": len(views), "states_read": int(len(rows)), "draws": args.draws, "hdi": args.hdi,
           "uniform_state_views": int(sum(v["uniform_state"] for v in views)),
           "coverage": {n: float(np.mean([v["covered"][n] for v in views])) if views else None for n in emu.names},
           "hdi_width_of_box": {n: float(masks[i].mean()) for i, n in enumerate(emu.names)},
           "views": views, "emulator": str(args.emulator), "data": str(args.data),
           "wall_time_s": round(time.perf_counter() - t0, 1),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    print(f"{out['views_without_walls']} views without walls of {len(rows)} held-out states × {args.draws} "
          f"({out['uniform_state_views']} of uniform states); {args.hdi:.0%} HDI coverage "
          + ", ".join(f"{n} {c:.2f}" for n, c in out["coverage"].items() if c is not None)
          + "; HDI width / box " + ", ".join(f"{n} {w:.2f}" for n, w in out["hdi_width_of_box"].items()))
    if args.json:
        atomic_write(args.json, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
