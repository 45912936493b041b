"""Estimate D and σ at every position of the real-stack Ta wedge through the film path (simulator in the loop).

Each image of ``real_stack_data.py`` is read as a user with this film would:
``domainfit.estimate(tif, film="pt_co_mgo.toml", posterior=…, instrument="probe", lift="40nm",
resolution="30nm")`` — the film's uncertain A, Ku and Ms are nuisance parameters, the microscope is named,
and the posterior comes from the film's own relaxations (``workflows.film_posterior``: pilot, design,
emulator, NUTS, predictive relaxations). Relaxations are cached per film (``$DOMAINFIT_FILM_CACHE`` or
``--cache``): positions after the first reuse the design points they share. The script writes

- ``series.csv``: per position the truth, D and σ (posterior mean ± sd, 90 % interval, inside?), the
  coercivity reference D, the plain period law's D at the image's period (``D_law_seed``: the film path's
  seed, without the maze correction of ``--method period``), trustworthy, new relaxations and seconds;
- ``series.json``: the rows, each position's full report (its error budget of D included), the summary
  (D RMSE, coverage, time per position) and the configuration;
- ``series.png``: D(d) and σ(d) with the 90 % intervals, the truth and the reference D;
- ``positions/*.json``: each position's result as it finishes — a rerun resumes from them.

``--film`` reads the images with another description (e.g. the constants exact), ``--dmi-field`` joins each
position's DMI field from ``reference.csv`` to its likelihood (converted with the film's constants as drawn).

Run:   python -m examples.ta_wedge.real_stack --out ~/domainfit-data/ta_wedge_real   (≈ 2–5 min a position)
Tests: python -m examples.ta_wedge.real_stack --tiny --data DIR --out DIR --cache DIR --first 1
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import time
from pathlib import Path

from .make_data import write_csv
from .real_stack_data import DATA, FILM_FILE

INSTRUMENT = dict(instrument="probe", lift="40nm", resolution="30nm")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@contextlib.contextmanager
def film_cache(folder):
    """``$DOMAINFIT_FILM_CACHE`` set to ``folder`` (None: left as it is) for the ``with`` block."""
    old = os.environ.get("DOMAINFIT_FILM_CACHE")
    if folder is not None:
        os.environ["DOMAINFIT_FILM_CACHE"] = str(folder)
    try:
        yield
    finally:
        if folder is not None:
            if old is None:
                os.environ.pop("DOMAINFIT_FILM_CACHE", None)
            else:
                os.environ["DOMAINFIT_FILM_CACHE"] = old


def row_of(report: dict, truth: dict, ref: dict, seconds: float) -> dict:
    """One position's flat row (user units: mJ/m²) of the film path's report beside the truth and reference."""
    row = dict(position=int(truth["position"]), ta_nm=float(truth["ta_nm"]), file=truth["file"])
    for p, true in (("D", float(truth["D_mJ_m2"])), ("sigma", float(truth["sigma"]))):
        e = report["parameters"][p]
        row |= {f"{p}_true": true, f"{p}_mean": e["mean"], f"{p}_sd": e["sd"], f"{p}_low": e["interval"][0],
                f"{p}_high": e["interval"][1], f"{p}_inside": bool(e["interval"][0] <= true <= e["interval"][1])}
    law = report["seed"]["period_law_D_mJ_per_m2"]
    row |= dict(D_law_seed=math.nan if law is None else law, D_ref=float(ref["D_ref_mJ_m2"]),
                D_ref_err=float(ref["D_ref_err_mJ_m2"]), mu0_H_DMI_mT=float(ref["mu0_H_DMI_mT"]),
                period_nm=report["statistics"]["period_nm"], trustworthy=bool(report["trustworthy"]),
                reasons="; ".join(report["reasons"]), r_hat=report["diagnostics"]["r_hat_max"],
                predictive_p=report["statistics"]["predictive_p"], relaxations=report["simulations"]["count"],
                new_relaxations=report["simulations"]["new"], seconds=round(seconds, 1))
    return row


def summary_of(rows: list[dict]) -> dict:
    """D RMSE and bias [mJ/m²] of the posterior mean and of the reference, coverage of the 90 % intervals."""
    n = len(rows)
    err = [r["D_mean"] - r["D_true"] for r in rows]
    ref = [r["D_ref"] - r["D_true"] for r in rows]
    rms = lambda e: math.sqrt(sum(x * x for x in e) / len(e))
    return {"positions": n, "D_rmse": rms(err), "D_bias": sum(err) / n, "D_ref_rmse": rms(ref),
            "D_coverage": sum(r["D_inside"] for r in rows) / n, "sigma_coverage": sum(r["sigma_inside"] for r in rows) / n,
            "trustworthy": sum(r["trustworthy"] for r in rows), "seconds": [r["seconds"] for r in rows],
            "seconds_total": sum(r["seconds"] for r in rows),
            "new_relaxations": [r["new_relaxations"] for r in rows]}


def figure(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from domainfit.reports.plots import save_figure

    d = np.array([r["ta_nm"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for ax, (p, label) in zip(axes, (("D", "D [mJ/m²]"), ("sigma", "σ = ΔKu/Ku"))):
        mean = np.array([r[f"{p}_mean"] for r in rows])
        lo, hi = np.array([r[f"{p}_low"] for r in rows]), np.array([r[f"{p}_high"] for r in rows])
        ax.errorbar(d, mean, yerr=[mean - lo, hi - mean], fmt="o", color="C0", capsize=3,
                    label="film path: posterior mean, 90 % interval")
        ax.plot(d, [r[f"{p}_true"] for r in rows], "k--", lw=1, label="synthetic truth")
        if p == "D":
            ax.errorbar(d + 0.06, [r["D_ref"] for r in rows], yerr=[r["D_ref_err"] for r in rows], fmt="^",
                        color="C2", capsize=3, ms=5, label="reference: μ0H_DMI·Ms·Δ at the film's constants, ± 1 sd")
        bad = [i for i, r in enumerate(rows) if not r["trustworthy"]]
        if bad:
            ax.plot(d[bad], mean[bad], "x", color="red", ms=10, label="flagged untrustworthy")
        ax.set_xlabel("Ta thickness d [nm]")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)  # atomic, and marked so that it is never read back as a domain image


def estimate_position(path: Path, film_path: Path, config, key: int, measurements=()) -> tuple[dict, float]:
    """The film path's report of one image (with ``measurements`` beside it) and its wall time [s]."""
    import domainfit as df

    t0 = time.perf_counter()
    result = df.estimate(path, film=film_path, posterior=config, key=key, measurements=measurements, **INSTRUMENT)
    return json.loads(result.to_json()), time.perf_counter() - t0


def main(args) -> dict:
    import domainfit as df
    from domainfit._files import atomic_write
    from domainfit.films import parse_film
    from domainfit.observations import parse_measurement

    data, out = Path(args.data), Path(args.out).expanduser()
    (out / "positions").mkdir(parents=True, exist_ok=True)
    film_path = args.film or data / FILM_FILE
    film = parse_film(film_path)
    truth = [t for t in read_csv(data / "truth.csv") if args.first is None or int(t["position"]) < args.first]
    refs = {r["position"]: r for r in read_csv(data / "reference.csv")}
    config = (df.PosteriorConfig(chains=2, samples=60, warmup=60, predictive=0) if args.tiny
              else df.PosteriorConfig(chains=4, samples=1000, warmup=500))
    rows, reports = [], {}
    t0 = time.perf_counter()
    with film_cache(args.cache):
        for t in truth:
            done = out / "positions" / f"{Path(t['file']).stem}.json"
            if done.exists():  # resumed: this position finished in an earlier run
                saved = json.loads(done.read_text())
                report, seconds = saved["report"], saved["seconds"]
            else:
                ref = refs[t["position"]]
                field = [parse_measurement("dmi_field", f"{ref['mu0_H_DMI_mT']}mT±{ref['mu0_H_DMI_err_mT']}mT")]
                report, seconds = estimate_position(data / t["file"], film_path, config, int(t["position"]),
                                                    field if args.dmi_field else ())
                atomic_write(done, json.dumps({"report": report, "seconds": seconds}))
            row = row_of(report, t, refs[t["position"]], seconds)
            rows.append(row)
            reports[t["file"]] = report
            print(f"Ta {row['ta_nm']:.1f} nm: D {row['D_mean']:.3f} ± {row['D_sd']:.3f} [{row['D_low']:.3f}, "
                  f"{row['D_high']:.3f}] (true {row['D_true']:.3f}, ref {row['D_ref']:.3f} ± {row['D_ref_err']:.3f}) "
                  f"σ {row['sigma_mean']:.3f} [{row['sigma_low']:.3f}, {row['sigma_high']:.3f}] (true "
                  f"{row['sigma_true']:.3f}); {row['new_relaxations']} new relaxations, {seconds:.0f} s"
                  f"{'' if row['trustworthy'] else '  UNTRUSTWORTHY: ' + row['reasons']}", flush=True)
    summary = summary_of(rows) | {"wall_time_s": time.perf_counter() - t0}  # this run's; resumed positions cost 0
    write_csv(out / "series.csv", rows)
    atomic_write(out / "series.json", json.dumps({
        "film": film.to_json(), "instrument": INSTRUMENT, "summary": summary, "rows": rows,
        "error_budget": {r["file"]: reports[r["file"]]["error_budget"] for r in rows}, "reports": reports,
        "config": {"command": "python -m examples.ta_wedge.real_stack", "data": str(data), "film": str(film_path),
                   "dmi_field": args.dmi_field, "tiny": args.tiny,
                   "chains": config.chains, "samples": config.samples, "warmup": config.warmup,
                   "cache": os.environ.get("DOMAINFIT_FILM_CACHE") if args.cache is None else str(args.cache)}},
        indent=1))
    figure(rows, out / "series.png", f"Synthetic Ta(d)/Pt/Co(0.9 nm)/MgO wedge through the film path, read as "
                                     f"{film.name or 'the film given'}{' with the DMI field' if args.dmi_field else ''} (simulated, "
                                     "scanning-probe rendering)")
    print(f"D RMSE {summary['D_rmse']:.3f} mJ/m² (bias {summary['D_bias']:+.3f}; reference {summary['D_ref_rmse']:.3f}), "
          f"90 % intervals hold D at {sum(r['D_inside'] for r in rows)}/{len(rows)}, σ at "
          f"{sum(r['sigma_inside'] for r in rows)}/{len(rows)}; {summary['trustworthy']}/{len(rows)} trustworthy; "
          f"wrote {out / 'series.csv'}, {out / 'series.json'}, {out / 'series.png'}")
    return {"rows": rows, "summary": summary, "reports": reports}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA), help="folder with the TIFFs, truth.csv, reference.csv and the film")
    p.add_argument("--out", default="~/domainfit-data/ta_wedge_real", help="folder for series.csv/json/png")
    p.add_argument("--film", help="the film as the reader describes it: a .toml file or inline text (default: the "
                   "data's pt_co_mgo.toml); e.g. the same constants exact, to see what their uncertainty costs")
    p.add_argument("--dmi-field", action="store_true",
                   help="join each position's coercivity DMI field (reference.csv) to its image's likelihood")
    p.add_argument("--cache", help="the film's relaxation cache (default: $DOMAINFIT_FILM_CACHE or ~/.cache/domainfit/films)")
    p.add_argument("--first", type=int, help="only the first N positions")
    p.add_argument("--tiny", action="store_true", help="short chains, for the tests (with --data from real_stack_data --tiny)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
