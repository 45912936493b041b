"""Make the synthetic Ta-wedge data set: 7 positions of a Ta(d)/Pt/Co/MgO wedge, and a control series.

No public domain images of the Ta(d)/Pt(2.6 nm)/Co(0.9 nm)/MgO(2 nm)/Ta(1 nm) wedge exist, so this
script makes a synthetic one with the project's own simulator and instrument model. It is
illustrative, not a measurement: every number below is chosen, and the files say so.

The film. The co-pt parameter set of the shipped model (Ms 1.5 MA/m, Ku 1.6 MJ/m³, A 31 pJ/m,
4 nm cells, the training prior's DMI kind) with two parameters that vary along the wedge, d = 0, 0.5,
…, 3 nm of Ta under the Pt:

  D(d) = 0.20 + 0.25·d  mJ/m²   (0.20 … 0.95)  Ta below Pt is reported to raise the interfacial DMI
                                               as the Pt/Co interface sharpens; here linearly.
  σ(d) = 0.18 − 0.04·d          (0.18 … 0.06)  the Ta buffer smooths the film, so the grain-to-grain
                                               anisotropy dispersion ΔKu/Ku falls (the research report's
                                               finding).

Both stay inside the shipped model's box (D 0.1–1 mJ/m², σ 0.05–0.2). On the wall-density ridge of
notes/geometry-information.md (≈ +3 walls/µm per mJ/m² of D, ≈ +37 per unit σ) the two trends pull
the wall density in opposite directions (+2.3 and −4.4 /µm over the wedge): a single image per position
does not tell them apart from the geometry alone. The control series keeps D = 0.55 mJ/m² at every
position with the same σ(d).

Each position is its own film: a 512² relaxation (2.048 µm) from a random state with its own seed,
exactly as the training data were made (``data.generate``'s runner: BB, tol 1e-3, 6,000 steps at most),
seeds 7000 + position (wedge) and 7100 + position (control), which no dataset of the project draws.

The microscope. A scanning-probe microscope with a magnetic tunnel junction sensor records the stray
field H_z at the sensor height: ``Instrument(transfer="probe", height=40 nm, psf="gaussian",
resolution=30 nm)`` (sensor height and size), 8 nm pixels (256² pixels), white noise at SNR 20,
scan-line offsets of 3 % of the signal, a linear background tilt, 16-bit grey levels. Each image is a
16-bit TIFF with its pixel size in the resolution tags (``domainfit estimate`` reads it).

The reference. The conventional measurement of D is the shift of the domain-wall depinning
(coercive) field under an in-plane field: μ0 H_DMI = D / (Ms Δ), Δ = √(A/K_eff), K_eff = Ku − μ0Ms²/2
(Δ = 12.9 nm here, so 51.6 mT per mJ/m²). Its assumed errors: ±3 mT on H_DMI (reading the minimum of
the depinning curve) and ±7.5 % on Δ (A known to ±15 %), added in quadrature; the reference values are
the true D seen through these errors (one seeded draw), ``reference.csv``. ``truth.csv`` holds the
values the simulation used (which no experiment has).

Run:   python examples/ta_wedge/make_data.py              (≈ 10 min on one CPU core, writes data/)
Tests: python examples/ta_wedge/make_data.py --tiny --out DIR   (128² cells, seconds)
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
POSITIONS_NM = tuple(0.5 * i for i in range(7))
MS, KU, A = 1.5e6, 1.6e6, 31e-12
MU0 = 4e-7 * math.pi
CELL = 4e-9
INSTRUMENT = dict(transfer="probe", height=40e-9, psf="gaussian", resolution=30e-9, pixel_size=8e-9,
                  sampling="area", noise=0.05, line_noise=0.03, background=(0.4, -0.25), bits=16, name="probe")
H_DMI_ERROR_T = 3e-3
DELTA_REL_ERROR = 0.075


def wedge_D(d_nm: float) -> float:
    """D(d) of the wedge [J/m²]."""
    return (0.20 + 0.25 * d_nm) * 1e-3


def wedge_sigma(d_nm: float) -> float:
    """σ(d) of the wedge (both series)."""
    return 0.18 - 0.04 * d_nm


CONTROL_D = 0.55e-3
SERIES = {"wedge": (wedge_D, 7000), "control": (lambda d: CONTROL_D, 7100)}


def wall_width() -> float:
    """Δ = √(A/K_eff) [m] of the film."""
    return math.sqrt(A / (KU - 0.5 * MU0 * MS**2))


def reference_D(D: float, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(μ0H_DMI as read [T], its reading error, D_ref, its error [J/m²]) of the coercivity-under-in-plane-field
    method: the field is read with ±3 mT, then turned into D with a Δ known to ±7.5 %."""
    delta = wall_width()
    h = D / (MS * delta)
    h_read = h + H_DMI_ERROR_T * rng.standard_normal()
    delta_read = delta * (1 + DELTA_REL_ERROR * rng.standard_normal())
    d_ref = h_read * MS * delta_read
    err = math.hypot(H_DMI_ERROR_T * MS * delta, DELTA_REL_ERROR * abs(d_ref))
    return h_read, H_DMI_ERROR_T, d_ref, err


def relax_and_record(D: float, sigma: float, seed: int, cells: int):
    """m_z of the relaxed film (the training data's runner) and the probe microscope's 16-bit image."""
    import jax.numpy as jnp

    from domainfit.data.generate import GenerateConfig, make_runner
    from domainfit.data.views import recorded
    from domainfit.imaging._instrument import Instrument

    config = GenerateConfig(count=1, cells=(cells, cells), tol=1e-3, max_steps=6000, chunk_size=1)
    run, _ = make_runner(config)
    params = jnp.asarray([[D, MS, sigma, KU, A]], jnp.float32)
    out = run(params, jnp.asarray([seed], jnp.uint32))
    mz = np.asarray(out["mz"][0], np.float32)
    image = recorded(mz, CELL, config.thickness, Instrument(**INSTRUMENT), seed)
    return mz, np.round(image).astype(np.uint16), int(out["steps"][0]), bool(out["converged"][0])


def write_tiff(path: Path, image: np.ndarray, pixel_size: float, description: str) -> None:
    import tifffile

    per_cm = 0.01 / pixel_size
    tmp = path.with_suffix(".tmp.tif")
    tifffile.imwrite(tmp, image, resolution=(per_cm, per_cm), resolutionunit=3, compression="zlib",
                     description=description)
    tmp.replace(path)


def reference_rows(rng: np.random.Generator) -> list[dict]:
    """The reference.csv rows of every position, in the order the simulations run (one seeded stream)."""
    rows = []
    for series, (D_of, _) in SERIES.items():
        for i, d in enumerate(POSITIONS_NM):
            h, h_err, d_ref, d_err = reference_D(D_of(d), rng)
            rows.append(dict(series=series, position=i, ta_nm=d, mu0_H_DMI_mT=round(h * 1e3, 3),
                             mu0_H_DMI_err_mT=round(h_err * 1e3, 3), D_ref_mJ_m2=round(d_ref * 1e3, 4),
                             D_ref_err_mJ_m2=round(d_err * 1e3, 4)))
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def main(args) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = 128 if args.tiny else args.cells
    rng = np.random.default_rng(20261202)
    if args.reference_only:  # the measurements need no simulation: rewrite reference.csv alone
        ref_rows = reference_rows(rng)
        write_csv(out / "reference.csv", ref_rows)
        return {"reference": ref_rows}
    ref_rows = reference_rows(rng)
    truth_rows = []
    for series, (D_of, seed0) in SERIES.items():
        for i, d in enumerate(POSITIONS_NM):
            D, sigma, seed = D_of(d), wedge_sigma(d), seed0 + i
            t0 = time.perf_counter()
            mz, image, steps, converged = relax_and_record(D, sigma, seed, cells)
            name = f"{series}_{i}_ta{d:.1f}nm.tif"
            write_tiff(out / name, image, INSTRUMENT["pixel_size"],
                       f"domainfit synthetic Ta-wedge data (not a measurement): {series}, Ta {d} nm, "
                       f"D {D * 1e3:.3f} mJ/m2, sigma {sigma:.3f}, seed {seed}; probe at 40 nm, sensor 30 nm")
            truth_rows.append(dict(series=series, position=i, ta_nm=d, file=name, D_mJ_m2=round(D * 1e3, 6),
                                   sigma=round(sigma, 6), Ms_kA_m=MS / 1e3, Ku_MJ_m3=KU / 1e6, A_pJ_m=round(A * 1e12, 3),
                                   seed=seed, cells=cells, steps=steps, converged=converged,
                                   mean_mz=round(float(mz.mean()), 4)))
            print(f"{series} {i} Ta {d:.1f} nm: D {D * 1e3:.3f} mJ/m², σ {sigma:.3f}, {steps} steps "
                  f"{'converged' if converged else 'NOT converged'} in {time.perf_counter() - t0:.1f} s -> {name}",
                  flush=True)
    for fname, rows in (("truth.csv", truth_rows), ("reference.csv", ref_rows)):
        write_csv(out / fname, rows)
    return {"truth": truth_rows, "reference": ref_rows}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE / "data"), help="folder to write (default: data/ beside this script)")
    p.add_argument("--cells", type=int, default=512, help="cells per side (4 nm each)")
    p.add_argument("--tiny", action="store_true", help="128² cells, for the tests")
    p.add_argument("--reference-only", action="store_true",
                   help="rewrite reference.csv only (the in-plane-field measurements; no simulation)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
