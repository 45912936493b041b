"""One joint model over the Ta-wedge series: is D constant, linear in d, or free per position? And σ?

Reads the per-image posteriors of ``estimate_series.py`` (``series.json``; run first if missing) and
rebuilds each image's emulator likelihood (``observations.series.likelihood_from_report``). Every
combination of a trend for D and for σ ("constant", "linear", "free"; ``observations.series``) is
compared by its evidence (tempered SMC, error bar from 4 independent runs). Because the trend of σ
is a nuisance when asking about D (and the other way round), the script reports the Bayes factor of
"D linear" against "D constant" both for each σ trend and averaged over the three σ trends (equal
prior weight), and the same for σ. The slopes and their 90 % intervals come from NUTS on the model
"D linear, σ linear".

Mind the ridge (notes/geometry-information.md): D rising while σ falls moves the wall density in
opposite directions, so with one image per position the intervals of each image are wide along a
D–σ line; the joint model pools the positions, which is what can still decide. The control series
(D constant, same σ trend) shows what the comparison says when there is no D trend.

With ``--observations dmi-field`` (or ``both``, the default) each position's likelihood also holds its
in-plane-field measurement from reference.csv, μ0H_DMI = D/(Ms Δ) read with ±3 mT and Δ known to ±7.5 %
(``observations.Measurement``): the second observation per position that separates D from σ where the
images cannot (docs/observations.md).

Run:   python examples/ta_wedge/trend.py --out ta_wedge_out                (after estimate_series.py)
Tests: python examples/ta_wedge/trend.py --tiny --data DIR --out DIR       (fewer particles and draws)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

HERE = Path(__file__).resolve().parent
TRENDS = ("constant", "linear", "free")
SCALE = {"D": 1e3, "sigma": 1.0}  # SI → user units (mJ/m², 1)
UNIT = {"D": "mJ/m²", "sigma": ""}


def load_series(out: Path, data: Path, tiny: bool, series: str) -> dict:
    path = out / "series.json"
    if not path.exists():  # the series first, as its own command (the scripts do not import each other)
        import subprocess
        import sys

        subprocess.run([sys.executable, str(HERE / "estimate_series.py"), "--data", str(data), "--out", str(out),
                        "--series", "both", *(["--tiny"] if tiny else [])], check=True)
    return json.loads(path.read_text())


def read_reference(data: Path) -> dict:
    """{(series, position): row} of reference.csv: the in-plane-field measurement of every position."""
    import csv

    with open(data / "reference.csv", newline="") as f:
        return {(r["series"], int(r["position"])): r for r in csv.DictReader(f)}


def analyse(name: str, rows: list[dict], reports: dict, *, key: int, tiny: bool, reference: dict | None = None) -> dict:
    """The trend comparison and slopes of one series; with ``reference`` each position's likelihood also
    holds its DMI-field measurement (μ0H_DMI as read, ±3 mT, Δ to ±7.5 %: ``observations.Measurement``)."""
    import jax

    from domainfit.observations import JointLikelihood, Measurement
    from domainfit.observations import series as ser

    rows = sorted([r for r in rows if r["series"] == name], key=lambda r: r["position"])
    if len(rows) < 3:
        raise SystemExit(f"{name}: {len(rows)} positions; a trend needs at least 3")
    image_liks = [ser.likelihood_from_report(reports[r["file"]]) for r in rows]
    liks = image_liks
    if reference is not None:
        meas = []
        for r in rows:
            ref = reference[(name, int(r["position"]))]
            meas.append(Measurement("dmi_field", float(ref["mu0_H_DMI_mT"]) * 1e-3,
                                    float(ref["mu0_H_DMI_err_mT"]) * 1e-3, 0.075))
        liks = [JointLikelihood([lik], [m]) for lik, m in zip(image_liks, meas)]
    x = np.array([r["ta_nm"] for r in rows])
    emu_box = image_liks[0].emulator.box
    box = {p: tuple(float(v) for v in emu_box[p]) for p in ("D", "sigma")}
    trends_used = TRENDS[:2] if tiny else TRENDS  # tests: constant and linear only
    models = {f"D {a}, σ {b}": {"D": a, "sigma": b} for a, b in itertools.product(trends_used, trends_used)}
    options = dict(n_particles=300, n_runs=2, n_moves=5) if tiny else dict(n_particles=1000, n_runs=4, n_moves=10)
    t0 = time.perf_counter()
    cmp = ser.compare_trends(liks, x, box, models, key=jax.random.key(key), **options)
    ev = {m: cmp["evidence"][m]["log_evidence"] for m in models}
    err = {m: cmp["evidence"][m]["error"] for m in models}
    out = {"series": name, "observations": "images + DMI field" if reference is not None else "images",
           "trends": list(trends_used), "positions_nm": x.tolist(), "box_SI": box, "evidence": cmp["evidence"], "best": cmp["best"]}
    # Bayes factors: linear vs constant, per nuisance trend and averaged over it (equal prior weights).
    bf = {}
    for p, other in (("D", "sigma"), ("sigma", "D")):
        sym = "σ" if other == "sigma" else "D"
        key_of = (lambda t, o: f"D {t}, σ {o}") if p == "D" else (lambda t, o: f"D {o}, σ {t}")
        per = {o: dict(log_bf=ev[key_of("linear", o)] - ev[key_of("constant", o)],
                       error=math.hypot(err[key_of("linear", o)], err[key_of("constant", o)])) for o in trends_used}
        avg = {t: float(logsumexp([ev[key_of(t, o)] for o in trends_used])) - math.log(len(trends_used))
               for t in trends_used}
        bf[p] = {"linear_vs_constant_per_" + ("sigma" if p == "D" else "D") + "_trend": per,
                 "log_evidence_averaged_over_" + sym: avg,
                 "linear_vs_constant_averaged": avg["linear"] - avg["constant"],
                 "free_vs_linear_averaged": avg["free"] - avg["linear"] if "free" in avg else None}
    out["bayes_factors"] = bf
    out["evidence_wall_s"] = time.perf_counter() - t0
    # Slopes from NUTS on "D linear, σ linear", seeded by the per-image posterior means.
    trends = {"D": "linear", "sigma": "linear"}
    problem = ser.series_problem(liks, x, box, trends)
    est = [{"D": r["D_mean"] / SCALE["D"], "sigma": r["sigma_mean"]} for r in rows]
    seed = ser.seed_from_estimates(est, x, box, trends)
    nuts = dict(num_chains=2, num_warmup=100, num_samples=200, progress=False) if tiny else \
        dict(num_chains=4, num_warmup=500, num_samples=1000, progress=False)
    _, idata = ser.series_posterior(problem, seed, key=key + 1, **nuts)
    post = idata.posterior
    out["slopes"] = {}
    for p in ("D", "sigma"):
        draws = np.asarray(post[f"{p}_slope"]).ravel() * SCALE[p]
        lo, hi = ser.hdi(draws, 0.9)
        true_slope = np.polyfit(x, [r[f"{p}_true"] for r in rows], 1)[0]
        out["slopes"][p] = dict(mean=float(draws.mean()), sd=float(draws.std()), hdi_low=lo, hdi_high=hi,
                                true=float(true_slope), holds_truth=bool(lo <= true_slope <= hi),
                                unit=f"{UNIT[p]} per nm".strip())
        line = np.stack([np.asarray(post[f"{p}_{i}"]).ravel() * SCALE[p] for i in range(len(x))], 1)
        out[f"{p}_line"] = dict(mean=line.mean(0).tolist(),
                                hdi=[ser.hdi(line[:, i], 0.9) for i in range(len(x))])
    import arviz as az

    out["nuts"] = dict(r_hat_max=float(np.nanmax(az.rhat(idata).to_array().values)),
                       divergences=int(np.asarray(idata.sample_stats["diverging"]).sum()))
    out["rows"] = rows
    return out


def report_lines(res: dict) -> list[str]:
    name, bf = res["series"], res["bayes_factors"]
    lines = [f"== {name} series ({len(res['positions_nm'])} positions), {res['observations']} =="]
    lines.append("log evidence [nats] (rows: D trend, columns: σ trend):")
    trends = res["trends"]
    lines.append(" " * 14 + "".join(f"{'σ ' + t:>18s}" for t in trends))
    for a in trends:
        cells = [res["evidence"][f"D {a}, σ {b}"] for b in trends]
        lines.append(f"{'D ' + a:14s}" + "".join(f"{c['log_evidence']:11.2f} ± {c['error']:4.2f}" for c in cells))
    lines.append(f"best: {res['best']}")
    for p, sym, other in (("D", "D", "σ"), ("sigma", "σ", "D")):
        b = bf[p]
        per = b["linear_vs_constant_per_" + ("sigma" if p == "D" else "D") + "_trend"]
        lines.append(f"{sym} linear vs {sym} constant: log BF {b['linear_vs_constant_averaged']:+.2f} averaged over the "
                     f"{other} trend; per {other} trend " + ", ".join(f"{o} {v['log_bf']:+.2f} ± {v['error']:.2f}"
                                                                  for o, v in per.items()))
        if b["free_vs_linear_averaged"] is not None:
            lines.append(f"{sym} free vs {sym} linear: log BF {b['free_vs_linear_averaged']:+.2f} (averaged)")
        s = res["slopes"][p]
        lines.append(f"{sym} slope: {s['mean']:+.4f} ± {s['sd']:.4f} {s['unit']}, 90 % HDI [{s['hdi_low']:+.4f}, "
                     f"{s['hdi_high']:+.4f}] (true {s['true']:+.4f}: {'inside' if s['holds_truth'] else 'OUTSIDE'})")
    lines.append(f"NUTS (D linear, σ linear): R-hat max {res['nuts']['r_hat_max']:.3f}, "
                 f"{res['nuts']['divergences']} divergences; evidence {res['evidence_wall_s']:.0f} s")
    return lines


def figure(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from domainfit.reports.plots import save_figure

    fig, axes = plt.subplots(len(results), 2, figsize=(10, 3.8 * len(results)), squeeze=False, dpi=120)
    for k, res in enumerate(results):
        x = np.array(res["positions_nm"])
        for j, p in enumerate(("D", "sigma")):
            ax = axes[k, j]
            rows = res["rows"]
            mean = np.array([r[f"{p}_mean"] for r in rows])
            lo = np.array([r[f"{p}_hdi_low"] for r in rows])
            hi = np.array([r[f"{p}_hdi_high"] for r in rows])
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o", color="C0", capsize=3, alpha=0.6,
                        label="each image alone (90 % HDI)")
            band = np.array(res[f"{p}_line"]["hdi"])
            ax.fill_between(x, band[:, 0], band[:, 1], color="C3", alpha=0.25, label="joint linear trend (90 % HDI)")
            ax.plot(x, res[f"{p}_line"]["mean"], color="C3")
            ax.plot(x, [r[f"{p}_true"] for r in rows], "k--", lw=1, label="synthetic truth")
            if p == "D":
                ax.errorbar(x + 0.05, [r["D_ref"] for r in rows], yerr=[r["D_ref_err"] for r in rows], fmt="^",
                            color="C2", capsize=3, ms=5, label="reference (coercivity)")
            bf = res["bayes_factors"][p]["linear_vs_constant_averaged"]
            s = res["slopes"][p]
            ax.set_title(f"{res['series']}, {res['observations']}\n{'D' if p == 'D' else 'σ'} slope {s['mean']:+.3f} "
                         f"[{s['hdi_low']:+.3f}, {s['hdi_high']:+.3f}] {s['unit']}; log BF lin/const {bf:+.1f}",
                         fontsize=8)
            ax.set_xlabel("Ta thickness d [nm]")
            ax.set_ylabel("D [mJ/m²]" if p == "D" else "σ")
            ax.grid(alpha=0.3)
            if k == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)  # atomic, and marked so that it is never read back as a domain image


def main(args) -> list[dict]:
    out, data = Path(args.out), Path(args.data)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    loaded = load_series(out, data, args.tiny, args.series)
    names = sorted({r["series"] for r in loaded["rows"]}, key=lambda s: s != "wedge")
    results = []
    reference = read_reference(data) if args.observations != "images" else None
    sets = {"images": [None], "dmi-field": [reference], "both": [None, reference]}[args.observations]
    for ref in sets:
        for i, name in enumerate(names):
            res = analyse(name, loaded["rows"], loaded["reports"], key=10 * i, tiny=args.tiny, reference=ref)
            results.append(res)
            print("\n".join(report_lines(res)), flush=True)
    (out / "trend.json").write_text(json.dumps(results, indent=1, default=float))
    figure(results, out / "trend.png")
    print(f"trend analysis in {time.perf_counter() - t0:.0f} s; wrote {out / 'trend.json'}, {out / 'trend.png'}")
    return results


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE / "data"), help="folder of the images (used if series.json is missing)")
    p.add_argument("--out", default="ta_wedge_out", help="folder with series.json; trend.json/png are written here")
    p.add_argument("--series", choices=["wedge", "control", "both"], default="both",
                   help="which series to estimate if series.json is missing")
    p.add_argument("--tiny", action="store_true", help="fewer particles and draws, for the tests")
    p.add_argument("--observations", choices=["images", "dmi-field", "both"], default="both",
                   help="per position: the image alone, the image with the DMI field of reference.csv (a second "
                        "observation that D moves and σ does not), or both analyses (default)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
