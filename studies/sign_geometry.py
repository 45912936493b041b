"""Does the sign of a recorded image keep the film's domain geometry? Per parameter set and instrument.

The shipped set emulators read, besides the CNN's D̂ and σ̂, the period and wall density of the sign
of the prepared image (`features.geometry.pattern_geometry`, `surrogate.learned.GEOMETRY_NAMES`): what tells a
co-pt maze (0.15–0.4 µm) from low-ms domains (0.4–2 µm). Here every held-out state (odd chunks) of a
set is recorded by one test-prior instrument (the stream of `studies/set_comparison.py`, so these
are the images of its table) and the sign geometry of the image is set against that of the simulated
m_z (`stats.wall_density`, `stats.domain_period` at the simulation's 4 nm): log ratios per family,
median and spread — for the sign and for the image's domains (`features.geometry.domain_sign`, what the set
emulators read since the evening of 3 Dec 2026). A statistic that scatters within a set widens that set's emulator and lowers every
Bayes factor; one that jumps into the other set's range decides for the wrong set (issue 16,
acceptance 2).

  python -m studies.sign_geometry --copt ~/domainfit-data/coptd0_512 --lowms ~/domainfit-data/lowms512 \\
      --json docs/figures/sign_geometry.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from domainfit.features import statistics as stats
from domainfit._files import atomic_write
from domainfit.data.store import Dataset
from domainfit.data.splits import chunk_rows, held_out_view


def views(name: str, path: str, loaded, max_images: int) -> list[dict]:
    """Clean and recorded sign geometry of the held-out states of one set (films with walls)."""
    from domainfit.nn.estimate import reading_of as read_for_model
    from domainfit.workflows.inputs import read_image
    from domainfit.nn.estimate import trained_with_symmetries
    from domainfit.features.geometry import domain_geometry, pattern_geometry

    ds = Dataset(path)
    cell = float(ds.grid["cell_size"])
    out = []
    for r in chunk_rows(ds, 1)[:max_images]:
        m = np.asarray(ds.mz([r])[0], np.float32)
        if np.all(m > 0) or np.all(m < 0):
            continue  # a uniform film has no geometry to keep
        u, inst = held_out_view(ds, r)
        img = read_image(u, inst.pixel_size, flatten=loaded.flatten)
        prepared = read_for_model(loaded, img.data, img.pixel_size, symmetries=trained_with_symmetries(loaded)).prepared
        g = pattern_geometry(np.asarray(prepared, np.float64), loaded.pixel_size)
        d = domain_geometry(np.asarray(prepared, np.float64), loaded.pixel_size)
        out.append(dict(set=name, index=int(ds.index[r]), family=inst.name, pixel_size_nm=inst.pixel_size * 1e9,
                        clean_wall_density_per_um=float(stats.wall_density(m, cell)) * 1e-6,
                        clean_period_nm=float(stats.domain_period(m, cell)) * 1e9,
                        image_wall_density_per_um=g["wall_density"] * 1e-6, image_period_nm=g["period"] * 1e9,
                        domains_wall_density_per_um=d["wall_density"] * 1e-6, domains_period_nm=d["period"] * 1e9))
    return out


def summarise(rows: list[dict], reading: str = "image") -> dict:
    """Per set and family: median and sd of log(image / clean) for wall density and period, and the
    share of views whose wall density is off by more than a factor 2; ``reading`` "image" (the sign)
    or "domains" (``features.geometry.domain_sign``)."""
    table = {}
    for name in dict.fromkeys(r["set"] for r in rows):
        for family in ["all", *sorted({r["family"] for r in rows if r["set"] == name})]:
            sel = [r for r in rows if r["set"] == name and family in ("all", r["family"])]
            lw = np.log([r[f"{reading}_wall_density_per_um"] / r["clean_wall_density_per_um"] for r in sel])
            lp = np.log([r[f"{reading}_period_nm"] / r["clean_period_nm"] for r in sel])
            table.setdefault(name, {})[family] = dict(
                n=len(sel), log_wall_ratio_median=float(np.median(lw)), log_wall_ratio_sd=float(np.std(lw)),
                log_period_ratio_median=float(np.median(lp)), log_period_ratio_sd=float(np.std(lp)),
                wall_density_off_by_2x=float(np.mean(np.abs(lw) > np.log(2))))
    return table


def main() -> None:
    from domainfit.nn import load_default

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copt", required=True)
    ap.add_argument("--lowms", required=True)
    ap.add_argument("--max-images", type=int, default=30, help="held-out states per set at most")
    ap.add_argument("--json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    loaded = load_default()
    rows = views("co-pt", args.copt, loaded, args.max_images) + views("low-ms", args.lowms, loaded, args.max_images)
    tables = {reading: summarise(rows, reading) for reading in ("image", "domains")}
    for reading, table in tables.items():
        print(f"{'sign' if reading == 'image' else 'domains'} of the image:")
        for name, fams in table.items():
            for family, t in fams.items():
                print(f"  {name:6s} {family:10s} n {t['n']:3d}  log(W/W_film) {t['log_wall_ratio_median']:+.2f} ± "
                      f"{t['log_wall_ratio_sd']:.2f} (off ×2: {t['wall_density_off_by_2x']:.0%})  log(P/P_film) "
                      f"{t['log_period_ratio_median']:+.2f} ± {t['log_period_ratio_sd']:.2f}")
    if args.json:
        atomic_write(args.json, json.dumps(dict(table=tables["image"], domains=tables["domains"], views=rows, machine=dict(
            platform=platform.platform(), cpus=os.cpu_count()), wall_time_s=round(time.perf_counter() - t0, 1)), indent=1))


if __name__ == "__main__":
    main()
