"""Estimates on images as microscopes record them: accuracy and calibration per instrument family.

Every converged state of a held-out test set (`domainfit generate` with a seed no training or
calibration set used) is recorded by an instrument of each family at each pixel size — settings
drawn afresh from `data.instruments.TEST` on a seed stream of its own, so no view repeats a training
or calibration draw, and `lorentzian` is a family training never drew — and read exactly as
`domainfit estimate` reads a user's file (`nn.recorded`), `--draws` instruments per state and pixel
size. Reported per family, in user units: D and
σ RMSE and bias, the coverage of the ±1.645 sd interval (a calibrated model holds the truth in 90 %),
the share of views the support checks flag, and the same over trusted views only; coverage also
with the instrument named as a user who knows it names it (`named`: its family; `named_settings`:
its family, height and resolution, `estimate --instrument probe --lift 40nm --resolution 20nm`). Beside them:
clean simulations (`clean`: m_z area-sampled, nothing else); with --bound, a network trained and
tested on ideal binarised images (`binary`: the sign of the sampled m_z), the bound any instrument
allows; binarised against clean images (|ΔD| ≤ 1 sd in ≥ 90 % of images); and `--flatten 1` (a
plane removed on loading) on clean images (|ΔD| in sd). With --specialist, a network trained on one
family's views alone (same states and schedule) read on that family: what the family allows.

Run (docs/cnn.md, "Images as microscopes record them"):
  python -m benchmarks.microscope --model src/domainfit/assets/cnn_default --data ~/domainfit-data/coptb512_test \
      --bound ~/domainfit-data/runs/binary-v1 --specialist probe=~/domainfit-data/runs/probe-v1 \
      --json docs/figures/microscope.json --plot docs/figures/microscope.png
Acceptance (issue 13): D RMSE ≤ 0.20 mJ/m² (goal 0.15), σ RMSE ≤ 0.02 (goal 0.01), coverage 85–95 %
for both, per family, on ≥ 40 images at 8 and 16 nm pixels.
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
from domainfit.data.instruments import BINARY, CLEAN, TEST
from domainfit.data.views import recorded
from domainfit.imaging import Instrument, flatten_background, normalise_contrast
from domainfit.nn.recorded import Readings, recorded_readings
from domainfit.units import user_unit

Z90 = 1.6448536269514722
SEED = 20261201
"""Seed stream of the test instruments (training draws from seed 0 of another stream, calibration 0)."""
USER = {t: 1.0 / user_unit(t)[1] for t in ("D", "sigma")}  # SI → mJ/m², 1


def settings_of(described: dict) -> dict:
    """An instrument's settings [m] from ``Instrument.describe()`` (what a user passes as --lift, --resolution)."""
    return {n: described[f"{n}_nm"] * 1e-9 for n in ("height", "resolution") if described.get(f"{n}_nm")}


def metrics(r, loaded, named: str | None = None) -> dict:
    """RMSE, bias, ±1.645 sd coverage per parameter (spreads calibrated as estimate calibrates them):
    the instrument unknown (``named`` None), its family named ("family"), or its family and settings
    ("settings", as ``estimate --instrument probe --lift 40nm --resolution 20nm``)."""
    out = {"n": int(len(r.truth)), "flagged": float(1 - r.trusted.mean()) if len(r.truth) else 0.0}
    fam = r.family[0] if named and len(r.family) and r.family[0] in loaded.calibrated_families else None
    settings = [settings_of(d) if named == "settings" and fam else None for d in r.instruments]
    scales = np.stack([loaded.spread_scale(f, fam, s) for f, s in zip(r.field_of_view, settings)]) if len(r.truth) else None
    for k, t in enumerate(loaded.targets):
        if t not in USER:
            continue
        scale = scales[:, k]
        err = (r.mean[:, k] - r.truth[:, k]) * USER[t]
        sd = r.sd[:, k] * scale * USER[t]
        entry = {"rmse": float(np.sqrt(np.mean(err**2))), "bias": float(np.mean(err)),
                 "coverage": float(np.mean(np.abs(err) <= Z90 * sd)), "mean_sd": float(np.mean(sd))}  # fmt: skip
        ok = r.trusted
        if ok.any():
            entry.update(rmse_trusted=float(np.sqrt(np.mean(err[ok] ** 2))),
                         coverage_trusted=float(np.mean(np.abs(err[ok]) <= Z90 * sd[ok])))  # fmt: skip
        out[t] = entry
    return out


def loaded_image(raw: np.ndarray, flatten: int) -> np.ndarray:
    """What ``imaging.load(file, flatten=d)`` makes of a file's grey levels."""
    return normalise_contrast(flatten_background(raw.astype(np.float64), flatten)[0])[0].astype(np.float32)


def flatten_one_shift(loaded, ds, rows, pixel) -> list[float]:
    """|ΔD|/sd between `estimate --flatten 1` and `estimate` (which loads with the model's degree 2)
    on clean images, per image."""
    cell, thick = float(ds.grid["cell_size"]), float(ds.grid["thickness"])
    out = []
    for r, m in zip(rows, ds.mz(rows)):
        raw = recorded(m, cell, thick, Instrument(pixel_size=pixel, name="ideal"), [SEED, 3, int(ds.index[r])])
        plain = nn.estimate(loaded, loaded_image(raw, loaded.flatten), pixel)
        moved = nn.estimate(loaded, loaded_image(raw, 1), pixel)
        out.append(abs(moved.mean["D"] - plain.mean["D"]) / plain.sd["D"])
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = [f for f in results["families"] if f in results["points"]]
    fig, axes = plt.subplots(2, len(fams), figsize=(3.1 * len(fams), 6.2), squeeze=False)
    for j, fam in enumerate(fams):
        pts = results["points"][fam]
        for i, (t, label, unit) in enumerate((("D", "D", "mJ/m²"), ("sigma", "σ", ""))):
            ax = axes[i, j]
            truth, est, sd, ok = (np.array(pts[t][x]) for x in ("truth", "mean", "sd", "trusted"))
            ax.errorbar(truth[ok], est[ok], yerr=Z90 * sd[ok], fmt="o", ms=2.5, lw=0.5, alpha=0.6, label="trusted")
            if (~ok).any():
                ax.plot(truth[~ok], est[~ok], "x", color="tab:red", ms=4, label="flagged")
            lo, hi = truth.min(), truth.max()
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            m = results["summary"][fam][t]
            ax.set_title(f"{fam}: RMSE {m['rmse']:.3g}, cover {m['coverage']:.0%}", fontsize=8)
            ax.set_xlabel(f"true {label} {unit}".strip(), fontsize=8)
            if j == 0:
                ax.set_ylabel(f"estimate ±1.645 sd {unit}".strip(), fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model trained on instrument views and calibrated")
    ap.add_argument("--data", required=True, action="append",
                    help="held-out test dataset (with m_z); repeat for more test states (each its own seed stream)")
    ap.add_argument("--bound", help="a model trained with --instruments binary (the geometry bound)")
    ap.add_argument("--specialist", action="append", default=[], metavar="FAMILY=MODEL",
                    help="a model trained on one family's views alone, read on that family's test views beside the "
                         "shipped model (what the family allows a network of this size, on the same training states)")
    ap.add_argument("--n", type=int, default=48, help="test states per dataset (default 48)")
    ap.add_argument("--pixel-sizes", default="8,16", help="detector pixel sizes [nm] (default 8,16)")
    ap.add_argument("--draws", type=int, default=2, help="instruments drawn per state, family and pixel size (default 2)")
    ap.add_argument("--families", default="clean,ideal,gaussian,mfm,probe,lorentzian")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    loaded = nn.load_model(args.model)
    sets = [Dataset(d) for d in args.data]
    picks = [np.nonzero(np.asarray(ds.converged, bool))[0][: args.n] for ds in sets]
    pixels = [float(p) * 1e-9 for p in args.pixel_sizes.split(",")]
    families = args.families.split(",")
    results = {"families": families, "summary": {}, "named": {}, "named_settings": {}, "points": {}}

    def read(model, fam, prior=TEST, draws=args.draws):
        # dataset d draws its instruments on seed stream SEED + 100 d + i (the first: as before)
        parts = [recorded_readings(model, ds, rows, prior=prior, family=None if fam == "clean" else fam,
                                   pixel_size=p, seed=SEED + 100 * d + i, draws=1 if fam == "clean" else draws)
                 for d, (ds, rows) in enumerate(zip(sets, picks)) for i, p in enumerate(pixels)]  # fmt: skip
        return Readings.joined(parts)

    readings = {}
    for fam in families:
        r = read(loaded, fam, CLEAN if fam == "clean" else TEST)
        readings[fam] = r
        results["summary"][fam] = metrics(r, loaded)
        results["named"][fam] = metrics(r, loaded, named="family")
        results["named_settings"][fam] = metrics(r, loaded, named="settings")
        results["points"][fam] = {t: {"truth": (r.truth[:, k] * USER[t]).tolist(), "mean": (r.mean[:, k] * USER[t]).tolist(),
                                      "sd": (r.sd[:, k] * USER[t] * np.array([loaded.spread_scale(f)[k] for f in r.field_of_view])).tolist(),
                                      "trusted": r.trusted.tolist()}
                                  for k, t in enumerate(loaded.targets) if t in USER}  # fmt: skip
        s = results["summary"][fam]
        print(f"{fam:>11}: n {s['n']:3d}  D RMSE {s['D']['rmse']:.3f} bias {s['D']['bias']:+.3f} cover {s['D']['coverage']:.2f}"
              f" | σ RMSE {s['sigma']['rmse']:.4f} bias {s['sigma']['bias']:+.4f} cover {s['sigma']['coverage']:.2f}"
              f" | flagged {s['flagged']:.2f}", flush=True)
        for how in ("named", "named_settings"):
            s = results[how][fam]
            print(f"{'':>11}  {how:>14}: D cover {s['D']['coverage']:.2f} | σ cover {s['sigma']['coverage']:.2f}", flush=True)
    rendered = [readings[f] for f in families if f != "clean"]
    if rendered:  # every instrument-rendered view together: the acceptance's RMSE over the test images
        pooled = {}
        for k, t in enumerate(loaded.targets):
            if t in USER:
                err = np.concatenate([(r.mean[:, k] - r.truth[:, k]) * USER[t] for r in rendered])
                pooled[t] = {"rmse": float(np.sqrt(np.mean(err**2))), "bias": float(np.mean(err)), "n": int(len(err))}
        results["pooled_instruments"] = pooled
        print(f"all instrument views ({pooled['D']['n']}): D RMSE {pooled['D']['rmse']:.3f} | "
              f"σ RMSE {pooled['sigma']['rmse']:.4f}", flush=True)
    binary = read(loaded, "binary", BINARY, draws=1)  # one per state and pixel size, as clean
    results["summary"]["binary (shipped model)"] = metrics(binary, loaded)
    if "clean" in readings:
        clean = readings["clean"]
        k = loaded.targets.index("D")
        sd = clean.sd[:, k] * np.array([loaded.spread_scale(f)[k] for f in clean.field_of_view])
        agree = np.abs(binary.mean[:, k] - clean.mean[:, k]) <= sd
        results["binarised_vs_clean"] = {"within_1sd": float(agree.mean()), "n": int(len(agree)),
                                         "median_shift_sd": float(np.median(np.abs(binary.mean[:, k] - clean.mean[:, k]) / sd))}
        print(f"binarised vs clean: |ΔD| ≤ 1 sd in {agree.mean():.2f} of {len(agree)} images")
        shifts = []
        for ds, rows in zip(sets, picks):
            for p in pixels:
                shifts += flatten_one_shift(loaded, ds, rows, p)
        results["flatten_1"] = {"max_shift_sd": float(np.max(shifts)), "median_shift_sd": float(np.median(shifts)),
                                "within_half_sd": float(np.mean(np.array(shifts) <= 0.5)), "n": len(shifts)}
        print(f"--flatten 1 on clean images: |ΔD| median {np.median(shifts):.2f} sd, max {np.max(shifts):.2f} sd")
    if args.bound:
        bound = nn.load_model(args.bound)
        b = read(bound, "binary", BINARY, draws=1)
        results["summary"]["binary (bound network)"] = metrics(b, bound)
        s = results["summary"]["binary (bound network)"]
        print(f"bound network on binarised images: D RMSE {s['D']['rmse']:.3f} cover {s['D']['coverage']:.2f} | "
              f"σ RMSE {s['sigma']['rmse']:.4f} cover {s['sigma']['coverage']:.2f}")
    for spec in args.specialist:
        fam, _, path = spec.partition("=")
        if fam not in families or not path:
            raise SystemExit(f"--specialist {spec!r}: write FAMILY=MODEL with FAMILY one of {', '.join(families)}")
        special = nn.load_model(path)
        r = read(special, fam)
        results["summary"][f"{fam} (specialist)"] = metrics(r, special)
        results["named_settings"][f"{fam} (specialist)"] = metrics(r, special, named="settings")
        s = results["summary"][f"{fam} (specialist)"]
        print(f"{fam} specialist on {fam} views: D RMSE {s['D']['rmse']:.3f} cover {s['D']['coverage']:.2f} | "
              f"σ RMSE {s['sigma']['rmse']:.4f} bias {s['sigma']['bias']:+.4f} cover {s['sigma']['coverage']:.2f}")
    results["info"] = {"model": str(args.model), "data": [str(d) for d in args.data],
                       "states": int(sum(len(r) for r in picks)),
                       "pixel_sizes_nm": [p * 1e9 for p in pixels], "draws": args.draws, "seed": SEED,
                       "wall_time_s": time.perf_counter() - t0,
                       "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, JAX "
                                  f"{jax.__version__} {jax.default_backend()}"}  # fmt: skip
    if args.json:
        atomic_write(args.json, json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
