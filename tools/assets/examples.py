"""Write the shipped example images from sample 0 of a test dataset written by ``domainfit generate``.

    python -m tools.assets.examples data/coptb512_test

``example-512`` (``assets/example_maze_512.npz``) is that sample's stored m_z at its 4 nm cell size
(float16, relaxed to the dataset's tolerance). ``example`` (``assets/example_maze.npz``) is the same
film (same seed, parameters and DMI kind) relaxed again to torque < 1e-4 and rendered at 8 nm
(256² px). Neither is in any training set: test sets use another base seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import domainfit as df
from domainfit._version import PHYSICS_VERSION
from domainfit import imaging
from domainfit.data import Dataset
from domainfit.data.runner import _materials

ASSETS = Path(__file__).resolve().parent.parent / "src" / "domainfit" / "assets"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="test dataset folder (sample 0 becomes the examples)")
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder for the two .npz files")
    args = parser.parse_args(argv)

    ds = Dataset(args.data)
    ident = ds.meta["identity"]
    grid_cfg, mat_cfg = ident["grid"], ident["material"]
    grid = df.Grid(nx=grid_cfg["nx"], ny=grid_cfg["ny"], cell_size=grid_cfg["cell_size"], thickness=grid_cfg["thickness"])
    rows = np.nonzero(ds.index == 0)[0]
    if len(rows) == 0:
        raise SystemExit(f"{args.data} does not hold sample 0 yet (chunk 0 missing)")
    row = int(rows[0])
    params = np.asarray(ds.params[row : row + 1], np.float32)
    seed = int(ds.seed[row])
    D, Ms, sigma, Ku, A = (float(v) for v in params[0])
    base = {"D_mJ_per_m2": round(D * 1e3, 4), "Ms_kA_per_m": round(Ms / 1e3, 4), "sigma": round(sigma, 4),
            "Ku_MJ_per_m3": round(Ku / 1e6, 4), "A_pJ_per_m": round(A * 1e12, 4),
            "grid": f"{grid.nx} x {grid.ny} cells of {grid.cell_size * 1e9:g} nm, thickness {grid.thickness * 1e9:g} nm, "
                    f"periodic, grains {mat_cfg['grain_size'] * 1e9:g} nm, {mat_cfg['dmi']} DMI",
            "seed": seed, "physics_version": PHYSICS_VERSION}  # fmt: skip
    source = f"domainfit generate --preset co-pt --dmi {mat_cfg['dmi']} --cells {grid.nx} --tol {ident['relax']['tol']:g} --seed {ident['seed']} (sample 0)"

    mz = ds.mz([row])[0]
    meta = {"what": "relaxed m_z of a simulated Pt/Co-type film at its cell size (no rendering)", **base,
            "steps": int(ds.steps[row]), "tol": ident["relax"]["tol"]}  # fmt: skip
    np.savez_compressed(args.out / "example_maze_512.npz", image=mz.astype(np.float16), pixel_size=np.float64(grid.cell_size),
                        source=np.str_(source), meta_json=np.str_(json.dumps(meta)))  # fmt: skip

    material = _materials(jnp.asarray(params), mat_cfg["dmi"], mat_cfg["grain_size"], row=0)
    result = df.simulate(material, grid, key=jax.random.key(seed), tol=1e-4, max_steps=40_000)
    if not bool(result.converged):
        raise SystemExit(f"sample 0 did not relax to 1e-4 in {int(result.steps)} steps")
    image = np.asarray(imaging.render(result.m[2], grid.cell_size, pixel_size=8e-9), np.float32)
    meta = {"what": "relaxed m_z of a simulated Pt/Co-type film, rendered by area averaging", **base,
            "steps": int(result.steps), "tol": 1e-4}  # fmt: skip
    np.savez_compressed(args.out / "example_maze.npz", image=image, pixel_size=np.float64(8e-9),
                        source=np.str_(source.replace(f"--tol {ident['relax']['tol']:g}", "--tol 0.0001")),
                        meta_json=np.str_(json.dumps(meta)))  # fmt: skip
    print(json.dumps({"example-512": "example_maze_512.npz", "example": "example_maze.npz", **meta}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
