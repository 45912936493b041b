"""How well a network reads Ms from recorded low-ms images (issue 16, acceptance 1).

Networks trained on the low-ms set (`domainfit train --data lowms512 ...`, with `--instruments
training` and, for the bound any instrument allows, `--instruments binary`) read the states their
training held out (the validation split: a fixed hash of the index, ``nn.train.validation_mask``),
each recorded by ``--draws`` instruments of the test prior (``data.instruments.TEST``, its own seed
stream) at each detector pixel size and cropped to each field of view, exactly as `domainfit
estimate` reads a user's file (``nn.recorded``). Reported per network and field of view:
- views with walls (the recording passes the wall test and the prepared image's wall density is
  ≥ 1 /µm, the acceptance's definition): Ms relative RMSE, bias, σ RMSE, coverage of the
  uncalibrated ±1.645 sd interval;
- views without walls: their count (their answer is the presence model's, not the network's);
- the prior's relative RMSE (the box's centre as the estimate) on the same views: the number a
  network must beat to have read anything.

Run (docs/cnn.md, "The low-ms network"):
  python -m studies.low_ms_cnn --model ~/domainfit-data/runs/lowms-instr --bound ~/domainfit-data/runs/lowms-binary \
      --data ~/domainfit-data/lowms512 --json docs/figures/low_ms_cnn.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from domainfit import nn
from domainfit._files import atomic_write
from domainfit.data import Dataset
from domainfit.data.instruments import BINARY, TEST
from domainfit.nn.recorded import Readings, recorded_readings
from domainfit.nn.train import validation_mask

Z90 = 1.6448536269514722
SEED = 20261203
MIN_WALL_DENSITY = 1e6  # [1/m]: 1 /µm, acceptance 1's definition of an image that holds walls


def held_out_rows(ds: Dataset, run: Path, fraction: float | None) -> tuple[np.ndarray, float]:
    """Rows of the states the network's training held out (its validation split)."""
    if fraction is None:
        path = run / "train.json"
        if not path.is_file():
            raise SystemExit(f"{path} missing: give --val-fraction, the split the network trained with")
        fraction = float(json.loads(path.read_text())["identity"]["config"]["val_fraction"])
    val = validation_mask(ds.index, fraction) & np.asarray(ds.converged, bool)
    return np.nonzero(val)[0], fraction


def metrics(r, loaded, fov: float) -> dict:
    at = np.isclose(r.field_of_view, fov, rtol=0.05)
    walls = at & r.walls & (r.wall_density >= MIN_WALL_DENSITY)
    out = {"field_of_view_um": fov * 1e6, "views": int(at.sum()), "views_with_walls": int(walls.sum()),
           "views_without_walls": int((at & ~walls).sum()), "states_with_walls": int(len(set(r.row[walls].tolist())))}
    if not walls.any():
        return out
    for k, t in enumerate(loaded.targets):
        truth, mean, sd = r.truth[walls, k], r.mean[walls, k], r.sd[walls, k]
        centre = loaded.centre_scale()[0][k]
        if t == "Ms":
            rel = (mean - truth) / truth
            out["Ms"] = {"relative_rmse": float(np.sqrt(np.mean(rel**2))), "relative_bias": float(np.mean(rel)),
                         "prior_relative_rmse": float(np.sqrt(np.mean(((centre - truth) / truth) ** 2))),
                         "coverage_uncalibrated": float(np.mean(np.abs(mean - truth) <= Z90 * sd))}  # fmt: skip
        elif t == "sigma":
            err = mean - truth
            out["sigma"] = {"rmse": float(np.sqrt(np.mean(err**2))), "bias": float(np.mean(err)),
                            "prior_rmse": float(np.sqrt(np.mean((centre - truth) ** 2))),
                            "coverage_uncalibrated": float(np.mean(np.abs(err) <= Z90 * sd))}  # fmt: skip
    return out


def report(name: str, rows: list[dict]) -> None:
    for m in rows:
        line = f"{name:>8} {m['field_of_view_um']:5.3f} µm: {m['views_with_walls']:4d} views with walls ({m['states_with_walls']} states), {m['views_without_walls']:3d} without"
        if "Ms" in m:
            line += (f" | Ms rel RMSE {m['Ms']['relative_rmse']:.3f} (prior {m['Ms']['prior_relative_rmse']:.3f}) "
                     f"bias {m['Ms']['relative_bias']:+.3f} cover {m['Ms']['coverage_uncalibrated']:.2f}")
        if "sigma" in m:
            line += f" | σ RMSE {m['sigma']['rmse']:.4f} (prior {m['sigma']['prior_rmse']:.4f})"
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path, help="training folder of the instrument-trained network")
    ap.add_argument("--bound", type=Path, help="training folder of a network trained with --instruments binary")
    ap.add_argument("--data", required=True, type=Path, help="the low-ms dataset the networks trained on")
    ap.add_argument("--val-fraction", type=float, help="override the split (default: the run's train.json)")
    ap.add_argument("--fov", default="0.75,1.0,1.5,2.048", help="fields of view [µm]")
    ap.add_argument("--pixel-sizes", default="8,16", help="detector pixel sizes [nm]")
    ap.add_argument("--draws", type=int, default=2, help="instruments per state and pixel size")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ds = Dataset(args.data)
    rows, fraction = held_out_rows(ds, args.model, args.val_fraction)
    fovs = tuple(float(f) * 1e-6 for f in args.fov.split(","))
    pixels = [float(p) * 1e-9 for p in args.pixel_sizes.split(",")]
    print(f"{len(rows)} held-out states (validation fraction {fraction}) of {len(ds.index)}", flush=True)
    results = {"networks": {}}
    for name, run, prior, draws in (("instr", args.model, TEST, args.draws), ("binary", args.bound, BINARY, 1)):
        if run is None:
            continue
        loaded = nn.load_model(run)
        parts = [recorded_readings(loaded, ds, rows, prior=prior, draws=draws, seed=SEED + i, pixel_size=p,
                                   fields_of_view=fovs, family="binary" if prior is BINARY else None)
                 for i, p in enumerate(pixels)]  # fmt: skip
        r = Readings.joined(parts)
        rows_out = [metrics(r, loaded, f) for f in fovs]
        report(name, rows_out)
        results["networks"][name] = {"run": str(run), "targets": list(loaded.targets), "per_field_of_view": rows_out}
    results["info"] = {"data": str(args.data), "held_out_states": int(len(rows)), "val_fraction": fraction,
                       "pixel_sizes_nm": [p * 1e9 for p in pixels], "draws": args.draws, "seed": SEED,
                       "wall_time_s": time.perf_counter() - t0,
                       "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, JAX "
                                  f"{jax.__version__} {jax.default_backend()}"}  # fmt: skip
    if args.json:
        atomic_write(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
