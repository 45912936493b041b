"""Estimate D and σ at every position of the Ta wedge (CNN and posterior), beside the reference values.

Each image is read as a user would: ``domainfit.estimate(tif, posterior=..., instrument="probe",
lift="40nm", resolution="30nm")`` (the microscope and its settings are known; see make_data.py). The
script writes

- ``series.csv``: per image the CNN estimate ± sd, the posterior mean and 90 % HDI of D and σ, whether
  the result is trustworthy, the reference D of the coercivity method, and the synthetic truth with
  whether the interval holds it (the truth is known only because the data are synthetic);
- ``series.json``: the full report of every image (what ``trend.py`` rebuilds the likelihoods from);
- ``series.png``: D(d) and σ(d) with the 90 % intervals, the CNN estimates, the reference D with its
  error bars and the true lines;
- ``report.html``: one self-contained page of all that for a group meeting — the flagged positions and
  their reasons first, the table, the figure (``domainfit.reports.pages.write_series_page``).

Run:   python examples/ta_wedge/estimate_series.py --out ta_wedge_out          (both series)
Tests: python examples/ta_wedge/estimate_series.py --tiny --data DIR --out DIR  (short chains)
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTRUMENT = dict(instrument="probe", lift="40nm", resolution="30nm")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def estimate_one(path: Path, config, key: int):
    import domainfit as df

    return df.estimate(path, posterior=config, key=key, **INSTRUMENT)


def row_of(result, truth: dict, ref: dict) -> dict:
    rep = result.report
    post, cnn = rep["posterior"], rep["parameters"]
    row = dict(series=truth["series"], position=int(truth["position"]), ta_nm=float(truth["ta_nm"]), file=truth["file"])
    for p in ("D", "sigma"):
        row[f"{p}_cnn"] = cnn[p]["mean"]
        row[f"{p}_cnn_sd"] = cnn[p]["sd"]
        row[f"{p}_mean"] = post[p]["mean"]
        row[f"{p}_hdi_low"] = post[p]["hdi_low"]
        row[f"{p}_hdi_high"] = post[p]["hdi_high"]
        row[f"{p}_true"] = float(truth["D_mJ_m2" if p == "D" else "sigma"])
        row[f"{p}_in_hdi"] = bool(post[p]["hdi_low"] <= row[f"{p}_true"] <= post[p]["hdi_high"])
    row["D_ref"] = float(ref["D_ref_mJ_m2"])
    row["D_ref_err"] = float(ref["D_ref_err_mJ_m2"])
    row["trustworthy"] = bool(rep["trustworthy"])
    row["reasons"] = "; ".join(rep["reasons"])
    return row


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from domainfit.reports.plots import save_figure

    series = sorted({r["series"] for r in rows}, key=lambda s: s != "wedge")
    fig, axes = plt.subplots(len(series), 2, figsize=(10, 3.6 * len(series)), squeeze=False, dpi=120)
    for k, name in enumerate(series):
        rs = [r for r in rows if r["series"] == name]
        d = np.array([r["ta_nm"] for r in rs])
        for j, (p, label) in enumerate((("D", "D [mJ/m²]"), ("sigma", "σ = ΔKu/Ku"))):
            ax = axes[k, j]
            mean = np.array([r[f"{p}_mean"] for r in rs])
            lo = np.array([r[f"{p}_hdi_low"] for r in rs])
            hi = np.array([r[f"{p}_hdi_high"] for r in rs])
            ax.errorbar(d, mean, yerr=[mean - lo, hi - mean], fmt="o", color="C0", capsize=3,
                        label="posterior mean, 90 % HDI")
            ax.plot(d + 0.06, [r[f"{p}_cnn"] for r in rs], "s", ms=4, color="C1", label="CNN estimate")
            ax.plot(d, [r[f"{p}_true"] for r in rs], "k--", lw=1, label="synthetic truth")
            if p == "D":
                ax.errorbar(d - 0.06, [r["D_ref"] for r in rs], yerr=[r["D_ref_err"] for r in rs], fmt="^",
                            color="C2", capsize=3, ms=5, label="reference (coercivity, in-plane field)")
            bad = [i for i, r in enumerate(rs) if not r["trustworthy"]]
            if bad:
                ax.plot(d[bad], mean[bad], "x", color="red", ms=10, label="flagged untrustworthy")
            ax.set_xlabel("Ta thickness d [nm]")
            ax.set_ylabel(label)
            ax.set_title(f"{name} series: {label.split(' ')[0]}")
            ax.grid(alpha=0.3)
            if k == 0:
                ax.legend(fontsize=7, loc="best")
    fig.suptitle("Synthetic Ta(d)/Pt/Co/MgO wedge (simulated, scanning-probe rendering): one image per position",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)  # atomic, and marked so that it is never read back as a domain image


COLUMNS = [("series", "series"), ("position", "position"), ("ta_nm", "Ta [nm]"), ("D_mean", "D [mJ/m²]"),
           ("D_hdi_low", "D 90 % low"), ("D_hdi_high", "D 90 % high"), ("D_cnn", "D CNN"), ("D_ref", "D reference"),
           ("D_true", "D true"), ("D_in_hdi", "D in HDI"), ("sigma_mean", "σ"), ("sigma_hdi_low", "σ 90 % low"),
           ("sigma_hdi_high", "σ 90 % high"), ("sigma_true", "σ true"), ("sigma_in_hdi", "σ in HDI"),
           ("trustworthy", "trustworthy")]


def report_page(rows: list[dict], out: Path, wall: float, wanted, config) -> Path:
    """``report.html``: the series as one page (flagged positions first, the table, ``series.png``)."""
    from domainfit.reports.pages import write_series_page

    coverage = "; ".join(f"{name}: D within its 90 % HDI at {sum(r['D_in_hdi'] for r in rs)}/{len(rs)} positions, σ at "
                         f"{sum(r['sigma_in_hdi'] for r in rs)}/{len(rs)}"
                         for name in wanted if (rs := [r for r in rows if r["series"] == name]))
    series = {"title": "Ta(d)/Pt/Co/MgO wedge: D and σ at every position",
              "intro": f"One image per position, read by the CNN and its posterior ({INSTRUMENT['instrument']} "
                       f"instrument, lift {INSTRUMENT['lift']}, resolution {INSTRUMENT['resolution']}). {coverage}.",
              "warnings": ["the data are synthetic: the truth columns are known only for that reason"],
              "columns": COLUMNS, "rows": [r | {"label": f"{r['series']} {r['position']} (Ta {r['ta_nm']:g} nm)"}
                                           for r in rows],
              "timing": {"total_s": round(wall, 1)},
              "config": {"command": "python examples/ta_wedge/estimate_series.py", "instrument": INSTRUMENT,
                         "chains": config.chains, "samples": config.samples, "warmup": config.warmup,
                         "predictive": config.predictive, "images": [r["file"] for r in rows]},
              "files": {"csv": str(out / "series.csv"), "json": str(out / "series.json"),
                        "figure": str(out / "series.png")}}
    return write_series_page(out / "report.html", series, {"series": out / "series.png"})


def main(args) -> list[dict]:
    import domainfit as df

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    truth = read_csv(data / "truth.csv")
    refs = {(r["series"], r["position"]): r for r in read_csv(data / "reference.csv")}
    wanted = ("wedge", "control") if args.series == "both" else (args.series,)
    truth = [t for t in truth if t["series"] in wanted and (args.first is None or int(t["position"]) < args.first)]
    config = (df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if args.tiny
              else df.PosteriorConfig(chains=4, samples=1000, warmup=500, predictive=100))
    rows, reports = [], {}
    t0 = time.perf_counter()
    for t in truth:
        result = estimate_one(data / t["file"], config, key=int(t["position"]))
        row = row_of(result, t, refs[(t["series"], t["position"])])
        rows.append(row)
        reports[t["file"]] = json.loads(result.to_json())
        print(f"{row['series']:7s} Ta {row['ta_nm']:.1f} nm: D {row['D_mean']:.3f} [{row['D_hdi_low']:.3f}, "
              f"{row['D_hdi_high']:.3f}] (true {row['D_true']:.3f}, ref {row['D_ref']:.3f} ± {row['D_ref_err']:.3f}) "
              f"σ {row['sigma_mean']:.3f} [{row['sigma_hdi_low']:.3f}, {row['sigma_hdi_high']:.3f}] "
              f"(true {row['sigma_true']:.3f}){'' if row['trustworthy'] else '  UNTRUSTWORTHY: ' + row['reasons']}",
              flush=True)
    wall = time.perf_counter() - t0
    with open(out / "series.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "series.json").write_text(json.dumps({"instrument": INSTRUMENT, "wall_time_s": wall,
                                                 "rows": rows, "reports": reports}, indent=1))
    figure(rows, out / "series.png")
    report_page(rows, out, wall, wanted, config)
    for name in wanted:
        rs = [r for r in rows if r["series"] == name]
        print(f"{name}: D within its 90 % HDI at {sum(r['D_in_hdi'] for r in rs)}/{len(rs)} positions, "
              f"σ at {sum(r['sigma_in_hdi'] for r in rs)}/{len(rs)}")
    print(f"{len(rows)} images in {wall:.0f} s; wrote {out / 'series.csv'}, {out / 'series.json'}, {out / 'series.png'}, "
          f"{out / 'report.html'}")
    return rows


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE / "data"), help="folder with the TIFFs, truth.csv, reference.csv")
    p.add_argument("--out", default="ta_wedge_out", help="folder for series.csv/json/png")
    p.add_argument("--series", choices=["wedge", "control", "both"], default="both")
    p.add_argument("--first", type=int, help="only the first N positions of each series")
    p.add_argument("--tiny", action="store_true", help="short chains, for the tests")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
