"""Make the synthetic Ta-wedge data as the real stack: Ta(d)/Pt/Co(0.9 nm)/MgO-like, interfacial DMI.

``make_data.py`` keeps the co-pt preset's constants so that the shipped CNN reads its images. This script
makes the wedge with the film's own constants instead, for the film path (``real_stack.py``). Illustrative,
not a measurement: every number is chosen, and the files say so.

The film (``data/real_stack/pt_co_mgo.toml``): Ms 1100 kA/m ± 3 %, Ku 0.95 MJ/m³ ± 5 %, A 16 pJ/m ± 15 %,
0.9 nm, interfacial DMI, grains 20 nm. K_eff = Ku − μ0Ms²/2 = 0.190 MJ/m³, Δ = √(A/K_eff) = 9.18 nm,
D_c = 4√(A K_eff)/π = 2.218 mJ/m². The true constants are the film's central values (the uncertainties are
what the reader does not know; the simulation used the centres).

Along the wedge, d = 0, 0.5, …, 3 nm of Ta:

  D(d) = 1.20 + 0.20·d  mJ/m²   (1.20 … 1.80 = 0.54 … 0.81 D_c)
  σ(d) = 0.18 − 0.04·d          (0.18 … 0.06, as make_data.py)

Why this range of D: inside (0.4, 0.9) D_c with room at both ends. Near 0.9 D_c the walls cost little,
the period falls towards a few wall widths and the posterior meets its prior's edge at D_c (the design
clips at 0.98 D_c); towards 0.4 D_c at weak disorder the period grows to a fair fraction of the 1 µm
field (measured on this grid: 0.7 D_c at σ 0.06 gives 274 nm, 0.9 D_c at σ 0.06 149 nm, 0.5 D_c at
σ 0.18 212 nm). Along the wedge the two trends pull the period in opposite directions (D up shortens
it, σ down lengthens it): every position's maze has a period of 150–212 nm, 5–7 periods in the field
(``truth.csv``: period_nm), so the period alone does not give the trend. 1.2–1.8 mJ/m² is also the order
reported for Pt/Co/MgO.

Each position is relaxed on the film path's own grid (``forward.design.film_grid`` for the image's field:
cells ≤ 4 nm, ≤ 0.9 l_ex, ≤ Δ/3 — 336² cells of 3.06 nm) by its own relaxation
(``forward.design.relax_point``: PBB, tol 1e-3, float32) from a random state and grains, seeds
7200 + position, which no dataset or design draws (the film path's designs use seeds 0, 1, 1000+).

The microscope is make_data.py's scanning probe (stray field H_z at 40 nm, 30 nm sensor, area sampling,
noise 0.05, scan lines 3 %, background tilt, 16 bits) at 4 nm pixels: the film's walls (π Δ ≈ 29 nm)
span seven pixels (co-pt's example: 8 nm pixels for Δ = 12.9 nm), so the pixels add nothing to the probe's
own blur. 256² pixels (1.02 µm of the grid's 1.03), ~130 kB a TIFF, 0.9 MB for the seven: shipped.

The reference (``reference.csv``): the coercivity method's DMI field μ0H_DMI = D/(Ms Δ) = 99 mT per
mJ/m² for this film, read with ±3 mT (one seeded draw), converted back to D with the film's central
constants; its error adds the reading to the film's uncertain constants (half the central 68 % of D_ref over
4,000 draws of the film's priors: Ms and Ku move Δ through K_eff = Ku − μ0Ms²/2, a near-cancellation, so
the error is ≈ 20 % of D where the reading alone is 2–3 %).

A rerun relaxes the same seeds, but float32 relaxations on a multi-threaded CPU are not bitwise
repeatable: on the 2-core CPU three of the seven states came out 1–5 % of pixels different (one period
210 → 237 nm). The shipped TIFFs are the ones docs/films.md's numbers were read from.

Run:   python -m examples.ta_wedge.real_stack_data                 (≈ 1 min; rewrites data/real_stack/)
Tests: python -m examples.ta_wedge.real_stack_data --tiny --out DIR  (61² pixels, 80² cells)
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from .make_data import POSITIONS_NM, wedge_sigma, write_csv, write_tiff

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "real_stack"
FILM_FILE = "pt_co_mgo.toml"
PIXEL = 4e-9
PIXELS, TINY_PIXELS = 256, 64
"""Pixels a side at most: the image is what the grid holds (film_grid rounds its cells to 16s)."""
SEED0 = 7200
INSTRUMENT = dict(transfer="probe", height=40e-9, psf="gaussian", resolution=30e-9, pixel_size=PIXEL,
                  sampling="area", noise=0.05, line_noise=0.03, background=(0.4, -0.25), bits=16, name="probe")
H_DMI_ERROR_T = 3e-3
REFERENCE_DRAWS = 4000


def wedge_D(d_nm: float) -> float:
    """D(d) of the real-stack wedge [J/m²]."""
    return (1.20 + 0.20 * d_nm) * 1e-3


def film():
    from domainfit.films import parse_film

    return parse_film(DATA / FILM_FILE)


def dmi_field(D: float, Ms: float, delta: float) -> float:
    """μ0 H_DMI = D/(Ms Δ) [T] (Thiaville et al., EPL 100, 57002 (2012))."""
    return D / (Ms * delta)


def reference_D(f, D: float, rng: np.random.Generator) -> dict:
    from domainfit.units import MU0

    """The coercivity method at one position: the DMI field read with ±3 mT, D_ref = μ0H_DMI·Ms·Δ at the
    film's central constants, its error the half-width of the central 68 % of D_ref over the reading and
    draws of the film's uncertain constants (``Film.draw``)."""
    v = f.values()
    h = dmi_field(D, v["Ms"], f.wall_width)
    h_read = h + H_DMI_ERROR_T * rng.standard_normal()
    d_ref = h_read * v["Ms"] * f.wall_width
    c = f.draw(REFERENCE_DRAWS, rng)
    delta = np.sqrt(c["A"] / (c["Ku"] - 0.5 * MU0 * c["Ms"] ** 2))
    draws = (h_read + H_DMI_ERROR_T * rng.standard_normal(REFERENCE_DRAWS)) * c["Ms"] * delta
    lo, hi = np.quantile(draws, [0.1587, 0.8413])  # Δ's tail towards K_eff → 0 makes the sd itself unstable
    return dict(mu0_H_DMI_mT=round(h_read * 1e3, 3), mu0_H_DMI_err_mT=H_DMI_ERROR_T * 1e3,
                D_ref_mJ_m2=round(d_ref * 1e3, 4), D_ref_err_mJ_m2=round(float(hi - lo) / 2 * 1e3, 4))


def relax_and_record(f, grid, D: float, sigma: float, seed: int, pixels: int):
    """(m_z, 16-bit image [pixels²], converged, seconds) of one position: the film path's relaxation on its
    grid, recorded by the probe microscope."""
    import jax

    from domainfit.forward.design import relax_point
    from domainfit.imaging import Instrument, record

    mz, converged, seconds = relax_point(f, grid, D, sigma, seed)
    image = np.asarray(record(jax.numpy.asarray(mz), grid.cell_size, Instrument(**INSTRUMENT),
                              thickness=f.thickness.value, key=jax.random.key(seed)))
    return mz, np.round(image[:pixels, :pixels]).astype(np.uint16), converged, seconds


def main(args) -> dict:
    from domainfit.features.geometry import pattern_geometry
    from domainfit.forward.design import film_grid

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != DATA.resolve():
        shutil.copyfile(DATA / FILM_FILE, out / FILM_FILE)  # the film description travels with its data
    f = film()
    pixels = TINY_PIXELS if args.tiny else PIXELS
    grid = film_grid(f, pixels * PIXEL)
    d_c = f.critical_dmi
    rng = np.random.default_rng(20261207)
    truth_rows, ref_rows = [], []
    for i, d in enumerate(POSITIONS_NM):
        D, sigma, seed = wedge_D(d), wedge_sigma(d), SEED0 + i
        mz, image, converged, seconds = relax_and_record(f, grid, D, sigma, seed, pixels)
        name = f"real_{i}_ta{d:.1f}nm.tif"
        write_tiff(out / name, image, PIXEL, f"domainfit synthetic Ta-wedge data, real stack (not a measurement): "
                   f"{f.name}, Ta {d} nm, D {D * 1e3:.3f} mJ/m2, sigma {sigma:.3f}, seed {seed}; probe at 40 nm, "
                   "sensor 30 nm")
        period = pattern_geometry(mz, grid.cell_size)["period"]
        v = f.values()
        truth_rows.append(dict(series="real", position=i, ta_nm=d, file=name, D_mJ_m2=round(D * 1e3, 6),
                               D_over_Dc=round(D / d_c, 4), sigma=round(sigma, 6), Ms_kA_m=v["Ms"] / 1e3,
                               Ku_MJ_m3=v["Ku"] / 1e6, A_pJ_m=round(v["A"] * 1e12, 3),
                               thickness_nm=round(v["thickness"] * 1e9, 3), seed=seed, cells=grid.cells,
                               cell_nm=round(grid.cell_size * 1e9, 4), pixel_nm=PIXEL * 1e9,
                               converged=converged, relax_s=round(seconds, 1), mean_mz=round(float(mz.mean()), 4),
                               period_nm=round(period * 1e9, 1)))
        ref_rows.append(dict(series="real", position=i, ta_nm=d) | reference_D(f, D, rng))
        print(f"real {i} Ta {d:.1f} nm: D {D * 1e3:.3f} mJ/m² ({D / d_c:.2f} D_c), σ {sigma:.3f}, maze period "
              f"{period * 1e9:.0f} nm, {'converged' if converged else 'NOT converged'} in {seconds:.1f} s -> {name}",
              flush=True)
    write_csv(out / "truth.csv", truth_rows)
    write_csv(out / "reference.csv", ref_rows)
    return {"truth": truth_rows, "reference": ref_rows, "grid": grid}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(DATA), help="folder to write (default: data/real_stack/ beside this script)")
    p.add_argument("--tiny", action="store_true", help="61² pixels (80² cells), for the tests")
    return p.parse_args(argv)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main(parse())
    print(f"{time.perf_counter() - t0:.0f} s")
