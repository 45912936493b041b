"""What the low-ms training states are, and how the wall test reads them through instruments.

For every converged state of a low-ms dataset (`domainfit generate --preset low-ms …`) this reports
its geometry on the relaxed m_z at the cell size (wall density, period, up-area fraction) and sorts
it into

* `uniform`: one sign over ≥ 99 % of the area (no walls to read);
* `box stripe`: a period of ≥ 0.85 × the box side — the domains are as large as the periodic box
  allows, so the box, not the film, set their size;
* `maze`: the rest, a pattern the film's pinning set.

Then each state is recorded by `--views` instruments (drawn alternately from
`data.instruments.TRAINING` and `TEST`, seed stream 0x57A7) and `features.walls.shows_walls` is
applied as `estimate` applies it to a user's file; uniform films recorded the same way (an exactly
uniform m_z: a relaxed uniform state differs from it by < 1e-6) give the test's false-positive rate.
Finally a leave-one-out regression of log Ms and of σ on the clean geometry (wall density, log
period, |⟨m_z⟩|; linear and quadratic, ridge) over the maze states measures how much of Ms the geometry holds
(compare the ≤ 5 % target of issue 16).

  python -m studies.low_ms_dataset --data ~/domainfit-data/lowms512 --json docs/figures/low_ms_dataset.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter

import numpy as np

from domainfit._files import atomic_write
from domainfit.data.instruments import TEST, TRAINING, draw_instrument
from domainfit.data.store import Dataset
from domainfit.data.views import recorded
from domainfit.surrogate.presence import MIN_MINORITY
from domainfit.features.walls import shows_walls
from domainfit.features.geometry import pattern_geometry

STREAM = 0x57A7
BOX_FRACTION = 0.85


def classify(mz: np.ndarray, cell: float) -> dict:
    """Geometry of a relaxed m_z and its kind (module docstring)."""
    up = float(np.mean(mz > 0))
    g = pattern_geometry(mz, cell)
    box = min(mz.shape) * cell
    if min(up, 1 - up) < MIN_MINORITY:
        kind = "uniform"
    elif g["period"] >= BOX_FRACTION * box:
        kind = "box stripe"
    else:
        kind = "maze"
    return dict(kind=kind, up=up, wall_density_per_um=g["wall_density"] * 1e-6,
                period_nm=g["period"] * 1e9 if np.isfinite(g["period"]) else None, abs_mean_mz=float(abs(np.mean(mz))))


def views(mz: np.ndarray, cell: float, thickness: float, n: int, tag: int) -> list[tuple[str, bool]]:
    """(family, shows_walls) of ``n`` recordings of ``mz``."""
    out = []
    for j in range(n):
        s = [STREAM, int(tag), j]
        inst = draw_instrument(TEST if j % 2 else TRAINING, np.random.default_rng(s))
        out.append((inst.name, bool(shows_walls(recorded(mz, cell, thickness, inst, s + [1])))))
    return out


def loo_rmse(features: np.ndarray, target: np.ndarray, ridge: float = 1e-3, degree: int = 2) -> float:
    """Leave-one-out RMSE of a linear or quadratic ridge regression of ``target`` on standardised ``features``."""
    z = (features - features.mean(0)) / features.std(0)
    cols = [np.ones(len(z))] + [z[:, i] for i in range(z.shape[1])]
    if degree == 2:
        cols += [z[:, i] * z[:, j] for i in range(z.shape[1]) for j in range(i, z.shape[1])]
    phi = np.stack(cols, 1)
    if len(phi) <= phi.shape[1] + 2:
        return float("nan")
    hat = phi @ np.linalg.solve(phi.T @ phi + ridge * np.eye(phi.shape[1]), phi.T)
    r = (target - hat @ target) / (1 - np.diag(hat))
    return float(np.sqrt(np.mean(r**2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--views", type=int, default=16, help="instrument recordings per state (default 16)")
    ap.add_argument("--uniform-views", type=int, default=200, help="recordings of a uniform film (default 200)")
    ap.add_argument("--json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = Dataset(args.data)
    cell, thickness = float(ds.grid["cell_size"]), float(ds.grid["thickness"])
    rows = np.nonzero(np.asarray(ds.converged, bool))[0]
    states, view_rows = [], []
    for start in range(0, len(rows), 16):
        chunk = rows[start:start + 16]
        for r, m in zip(chunk, ds.mz(chunk)):
            m = np.asarray(m, np.float32)
            st = classify(m, cell)
            st.update(index=int(ds.index[r]), Ms_kA_per_m=float(ds.params[r, 1]) / 1e3, sigma=float(ds.params[r, 2]),
                      steps=int(ds.steps[r]))
            v = views(m, cell, thickness, args.views, int(ds.index[r]))
            st["views_with_walls"] = sum(w for _, w in v)
            states.append(st)
            view_rows += [(st["kind"], fam, w) for fam, w in v]
    uni = views(np.ones((int(ds.grid["ny"]), int(ds.grid["nx"])), np.float32), cell, thickness, args.uniform_views, 2**31)
    kinds = Counter(s["kind"] for s in states)
    out = dict(data=str(args.data), n_states=len(states), kinds=dict(kinds), views_per_state=args.views)
    by_kind = {}
    for kind in kinds:
        got = [w for k, _, w in view_rows if k == kind]
        fams = Counter(f for k, f, w in view_rows if k == kind and not w)
        by_kind[kind] = dict(views=len(got), shows_walls=float(np.mean(got)), missed_by_family=dict(fams))
    out["wall_test_by_kind"] = by_kind
    out["uniform_film"] = dict(views=len(uni), shows_walls=float(np.mean([w for _, w in uni])),
                               false_positive_by_family=dict(Counter(f for f, w in uni if w)),
                               views_by_family=dict(Counter(f for f, _ in uni)))
    maze = [s for s in states if s["kind"] == "maze"]
    if len(maze) >= 12:
        f = np.array([[s["wall_density_per_um"], np.log(s["period_nm"]), s["abs_mean_mz"]] for s in maze])
        ms = np.array([s["Ms_kA_per_m"] for s in maze])
        sig = np.array([s["sigma"] for s in maze])
        out["geometry_loo"] = {
            "n": len(maze), "features": "wall density, log period, |<m_z>| (clean m_z, 4 nm); ridge, leave-one-out",
            "Ms_prior_relative_sd": float(np.std(np.log(ms))), "sigma_prior_sd": float(np.std(sig))}
        for degree, label in ((1, "linear"), (2, "quadratic")):
            out["geometry_loo"][label] = dict(
                Ms_relative_rmse=loo_rmse(f, np.log(ms), degree=degree), sigma_rmse=loo_rmse(f, sig, degree=degree),
                Ms_relative_rmse_with_sigma_known=loo_rmse(np.column_stack([f, sig]), np.log(ms), degree=degree))
    for kind in kinds:
        sel = [s for s in states if s["kind"] == kind]
        out.setdefault("by_kind", {})[kind] = dict(
            n=len(sel), Ms_kA_per_m=[round(s["Ms_kA_per_m"]) for s in sel], sigma=[round(s["sigma"], 3) for s in sel])
    out["states"] = states
    out["machine"] = dict(platform=platform.platform(), cpus=os.cpu_count())
    out["wall_time_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: v for k, v in out.items() if k != "states"}, indent=1))
    if args.json:
        atomic_write(args.json, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
