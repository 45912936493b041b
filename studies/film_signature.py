"""Which geometry of a maze tells two films apart at one period? (issue 33, acceptance 2)

Relaxes the co-pt preset at the shipped example's truth and a 1 nm interfacial film at the D and σ
where its simulator posterior reads the example, keeps their domain-sign maps (``--out``), and prints
candidate statistics of each against the example image's:

    python -m studies.film_signature --out ~/domainfit-data/misfit --seeds 3

Candidates (all of the ±1 domain map, dimensionless): ln P, ln(W·P), spectral width, Euler density ×P²,
net magnetisation, connected domains per P², the fraction of domains smaller than P²/4 (bubbles),
the relative spread of the domains' local widths, and the stripes' orientation coherence over 2P.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

CANDIDATES = ("log_period", "log_wp", "spectral_width", "euler_p2", "net", "domains_p2", "bubbles",
              "width_cv", "coherence")


def candidates(sign: np.ndarray, spacing: float) -> dict[str, float]:
    from scipy import ndimage

    from domainfit.features.geometry import pattern_geometry
    from domainfit.features.statistics import euler_characteristic, spectral_width

    s = np.where(np.asarray(sign) > 0, 1.0, -1.0)
    g = pattern_geometry(s, spacing)
    p, w = g["period"], g["wall_density"]
    out = {"log_period": math.log(p), "log_wp": math.log(w * p),
           "spectral_width": float(spectral_width(s.astype(np.float32), spacing)),
           "euler_p2": float(euler_characteristic(s.astype(np.float32), spacing)) * p * p,
           "net": float(abs(s.mean()))}
    area_p2 = s.size * spacing**2 / p**2
    sizes = []
    for phase in (s > 0, s < 0):
        lab, n = ndimage.label(phase)
        sizes += list(np.bincount(lab.ravel())[1:])
    sizes = np.array(sizes) * spacing**2
    out["domains_p2"] = len(sizes) / area_p2
    out["bubbles"] = float(np.mean(sizes < 0.25 * p * p))
    widths = []
    for phase in (s > 0, s < 0):
        dist = ndimage.distance_transform_edt(phase)
        ridge = (dist == ndimage.maximum_filter(dist, size=3)) & (dist > 1.5)
        widths.append(2 * dist[ridge] * spacing)
    widths = np.concatenate(widths)
    out["width_cv"] = float(np.std(widths) / np.mean(widths))
    gy, gx = np.gradient(ndimage.gaussian_filter(s, p / spacing / 8))
    z = (gx + 1j * gy) ** 2
    mag = np.abs(z)
    size = max(3, int(round(2 * p / spacing)))
    num = np.abs(ndimage.uniform_filter(z.real, size) + 1j * ndimage.uniform_filter(z.imag, size))
    den = ndimage.uniform_filter(mag, size)
    out["coherence"] = float(np.mean(num[den > 0] / den[den > 0]))
    return out


def relax(film, grid, D, sigma, seed, tol=1e-3):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from domainfit import physics

    g = physics.Grid(nx=grid.cells, ny=grid.cells, cell_size=grid.cell_size, thickness=film.thickness.value)
    v = film.values()
    mat = physics.make_material(None, Ms=v["Ms"], A=v["A"], Ku=v["Ku"], D=float(D), sigma=float(sigma),
                                dmi=film.dmi, grain_size=film.grain_size, dtype=jnp.float32)
    r = eqx.filter_jit(lambda m, k: physics.simulate(m, g, key=k, tol=tol, max_steps=20_000,
                                                     minimiser=physics.PBB()))(mat, jax.random.key(seed))
    return np.asarray(r.m[2])


def instrument_shifts(folder: Path) -> dict:
    """Each ``forward`` statistic of every kept state recorded by the test instruments at 8 nm
    (studies/film_posterior.py) minus the state's own: mean and sd per statistic and instrument."""
    import jax

    from domainfit.forward.statistics import STAT_NAMES, image_statistics, state_statistics
    from domainfit.imaging import record
    from domainfit.workflows.inputs import read_image
    from studies.film_posterior import INSTRUMENTS, instrument

    shifts = {k: [] for k in INSTRUMENTS}
    for i, f in enumerate(sorted(folder.glob("*.npz"))):
        z = np.load(f)
        mz, cell = z["mz"], float(z["cell_size"])
        t = 4e-9 if f.name.startswith("co-pt") else 1e-9
        clean = state_statistics(mz, cell)
        for inst in INSTRUMENTS:
            img = np.asarray(record(jax.numpy.asarray(mz), cell, instrument(inst, 8e-9), thickness=t, key=jax.random.key(i)))
            shifts[inst].append(image_statistics(read_image(img, 8e-9, flatten=2).data, 8e-9) - clean)
    out = {}
    for inst, rows in shifts.items():
        a = np.array(rows)
        out[inst] = {n: [float(np.mean(a[:, k])), float(np.std(a[:, k], ddof=1))] for k, n in enumerate(STAT_NAMES)}
    allrows = np.concatenate([np.array(r) for r in shifts.values()])
    out["all"] = {n: [float(np.mean(allrows[:, k])), float(np.sqrt(np.mean(allrows[:, k] ** 2)))]
                  for k, n in enumerate(STAT_NAMES)}
    return out


def main(argv=None):
    from domainfit.films import parse_film
    from domainfit.forward.design import film_grid
    from domainfit.features.geometry import domain_sign
    from domainfit.workflows.inputs import read_image

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--b-points", default="1.58e-3:0.10,1.3e-3:0.15,1.8e-3:0.06")
    ap.add_argument("--instruments", action="store_true", help="only the instruments' shifts of the kept states")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.instruments:
        shifts = instrument_shifts(args.out)
        for inst, row in shifts.items():
            print(f"{inst:10s} " + " ".join(f"{n} {m:+.3f}±{sd:.3f}" for n, (m, sd) in row.items()))
        (args.out / "instrument_shifts.json").write_text(json.dumps(shifts, indent=1))
        return
    img = read_image("example", None)
    rows = {"image": candidates(domain_sign(img.data), img.pixel_size)}
    films = {"co-pt": (parse_film("co-pt"), [(0.7124e-3, 0.1951)]),
             "1nm": (parse_film("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial"),
                     [tuple(float(v) for v in p.split(":")) for p in args.b_points.split(",")])}
    for name, (film, points) in films.items():
        grid = film_grid(film, 2.048e-6)
        for d, sg in points:
            for seed in range(args.seeds):
                path = args.out / f"{name}_D{d:.4e}_s{sg:.3f}_seed{seed}.npz"
                if path.exists():
                    mz = np.load(path)["mz"]
                else:
                    mz = relax(film, grid, d, sg, seed)
                    np.savez_compressed(path, mz=mz, cell_size=grid.cell_size)
                rows[f"{name} D{d * 1e3:.2f} s{sg:.2f} #{seed}"] = candidates(np.where(mz > 0, 1.0, -1.0), grid.cell_size)
                print(f"{name} D {d * 1e3:.2f} σ {sg:.2f} seed {seed}: " + " ".join(
                    f"{k} {v:.3f}" for k, v in rows[f"{name} D{d * 1e3:.2f} s{sg:.2f} #{seed}"].items()), flush=True)
    print("\n" + " " * 28 + " ".join(f"{k:>10s}" for k in CANDIDATES))
    for k, r in rows.items():
        print(f"{k:28s} " + " ".join(f"{r[c]:10.3f}" for c in CANDIDATES))
    (args.out / "signature.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
