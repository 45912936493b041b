"""The simulator path against the shipped emulator path on held-out co-pt images (issue 33, acceptance 4).

Truths are drawn from the shipped CNN's training box (D 0.1–1.0 mJ/m², σ 0.05–0.2 at the co-pt
constants) with ``--seed`` (not a seed of any dataset, design or calibration), relaxed on 512² cells of
4 nm from initial states and grains of seed 960000 + i, recorded by a test instrument (Kerr-like,
MFM-like, binarised in turn: ``studies.film_posterior.instrument``) at 8 nm pixels (256² px, 2.048 µm),
and read twice, as a user would:

- ``df.estimate(image, posterior=True)``: the CNN and its emulator (the shipped default path);
- ``df.estimate(image, film="co-pt", method="simulator", posterior=True)``: relaxations of the film as
  the forward model of the image's statistics, under the same prior box (``workflows.estimate._model_box``).

Per image: both 90 % intervals of D and σ (equal-tailed, from the draws), whether they overlap, the
width ratio (simulator over emulator), whether each holds the truth.

    python -m studies.copt_agreement --images 10 --out ~/domainfit-data/copt_agreement --json docs/figures/copt_agreement.json

Each image's result is a file in ``--out`` (written atomically): a rerun resumes; ``--first``/``--images``
split the work between processes. The film's relaxations are cached in ``--out``/cache: images of
similar period share design points.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

PROB = 0.9


def _interval(draws) -> list[float]:
    a = np.asarray(draws, np.float64).reshape(-1)
    return [float(v) for v in np.quantile(a, [(1 - PROB) / 2, (1 + PROB) / 2])]


def truth_image(i: int, seed: int):
    import jax
    import jax.numpy as jnp

    from domainfit import physics
    from domainfit.films import preset_film
    from domainfit.imaging import record

    from .film_posterior import INSTRUMENTS, instrument

    film = preset_film("co-pt")
    v = film.values()
    rng = np.random.default_rng([seed, i])
    D, sigma = rng.uniform(0.1e-3, 1.0e-3), rng.uniform(0.05, 0.2)
    g = physics.Grid(nx=512, ny=512, cell_size=4e-9, thickness=v["thickness"])
    mat = physics.make_material(None, Ms=v["Ms"], A=v["A"], Ku=v["Ku"], D=D, sigma=sigma, dmi=film.dmi,
                                grain_size=film.grain_size, dtype=jnp.float32)
    r = physics.simulate(mat, g, key=jax.random.key(960000 + i), tol=1e-3, minimiser=physics.PBB())
    inst = INSTRUMENTS[i % len(INSTRUMENTS)]
    img = np.asarray(record(r.m[2], 4e-9, instrument(inst, 8e-9), thickness=v["thickness"], key=jax.random.key(i)))
    return img, dict(D=D, sigma=sigma), inst, bool(r.converged)


def one_image(i: int, args) -> dict:
    import domainfit as df

    t0 = time.perf_counter()
    img, truth, inst, converged = truth_image(i, args.seed)
    out = {"image": i, "instrument": inst, "truth": {"D": truth["D"] * 1e3, "sigma": truth["sigma"]},
           "converged": converged, "truth_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    try:  # the recorded grey levels, read as a user's array is (background flattened, contrast normalised)
        cnn = df.estimate(img, pixel_size=8e-9, posterior=True, key=i)
    except Exception as err:  # noqa: BLE001 — a study records every failure and goes on
        return out | {"error": f"emulator path: {err}"}
    post = cnn.idata.posterior
    out["emulator"] = {"D": _interval(post["D"].values), "sigma": _interval(post["sigma"].values),
                       "D_mean": float(post["D"].values.mean()), "trustworthy": cnn.trustworthy,
                       "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    try:
        sim = df.estimate(img, pixel_size=8e-9, film="co-pt", method="simulator", posterior=True, key=i)
    except Exception as err:  # noqa: BLE001
        return out | {"error": f"simulator path: {err}"}
    draws = sim.posterior.draws
    out["simulator"] = {"D": _interval(draws["D"] * 1e3), "sigma": _interval(draws["sigma"]),
                        "D_mean": float(draws["D"].mean() * 1e3), "trustworthy": sim.trustworthy,
                        "reasons": sim.reasons, "budget": sim.report["error_budget"],
                        "relaxations": sim.report["simulations"], "timing": sim.report["timing"],
                        "seconds": time.perf_counter() - t0}
    for name in ("D", "sigma"):
        (a0, a1), (b0, b1) = out["emulator"][name], out["simulator"][name]
        out[f"{name}_overlap"] = bool(max(a0, b0) <= min(a1, b1))
        out[f"{name}_width_ratio"] = (b1 - b0) / (a1 - a0)
        for path in ("emulator", "simulator"):
            lo, hi = out[path][name]
            out[path][f"{name}_holds_truth"] = bool(lo <= out["truth"][name] <= hi)
    return out


def summarise(rows: list[dict]) -> dict:
    rows = [r for r in rows if "simulator" in r]
    if not rows:
        return {"n": 0}
    out = {"n": len(rows)}
    for name in ("D", "sigma"):
        ratio = np.array([r[f"{name}_width_ratio"] for r in rows])
        out[name] = {"overlap": int(sum(r[f"{name}_overlap"] for r in rows)),
                     "width_ratio_min": float(ratio.min()), "width_ratio_max": float(ratio.max()),
                     "width_ratio_median": float(np.median(ratio)),
                     "within_1.5x": int(np.sum((ratio <= 1.5) & (ratio >= 1 / 1.5))),
                     "emulator_holds_truth": int(sum(r["emulator"][f"{name}_holds_truth"] for r in rows)),
                     "simulator_holds_truth": int(sum(r["simulator"][f"{name}_holds_truth"] for r in rows))}
    out["simulator_trustworthy"] = int(sum(bool(r["simulator"]["trustworthy"]) for r in rows))
    return out


def main(argv=None) -> int:
    from domainfit._files import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--out", default=str(Path.home() / "domainfit-data" / "copt_agreement"))
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    import os

    os.environ["DOMAINFIT_FILM_CACHE"] = str(folder / "cache")  # the film's relaxations, shared by the images
    rows = []
    for i in range(args.first, args.first + args.images):
        path = folder / f"image{i:03d}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
            continue
        r = one_image(i, args)
        atomic_write(path, json.dumps(r, indent=1, default=float))
        rows.append(r)
        if "error" in r:
            print(f"image {i}: {r['error']}", flush=True)
            continue
        print(f"image {i} ({r['instrument']}): truth D {r['truth']['D']:.3f}; emulator {r['emulator']['D']}; simulator "
              f"{r['simulator']['D']} (ratio {r['D_width_ratio']:.2f}, {r['simulator']['seconds']:.0f} s)", flush=True)
    from ._summary import write_summary

    return write_summary(summarise(rows), "images", rows, "studies.copt_agreement", argv, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
