"""Calibration of the posterior: do the 90 % HDIs of `estimate --posterior` hold the truth 90 % of the time?

For the first N converged images of a test dataset written by `domainfit generate` with another seed
than the training set (so other initial states and grains than anything the emulator saw), it runs
what `domainfit estimate IMAGE --posterior` runs — CNN estimate → choice of the emulator (per prior
component) → MAP → NUTS — and records, per inferred parameter, whether the HDI holds the true value,
the posterior sd over the CNN sd, R-hat and the wall time. Then it prints the coverage per parameter
with its binomial standard error, writes every case to JSON and draws truth vs posterior (with HDI
bars) per parameter.

Run:  python -m benchmarks.calibration --model src/domainfit/assets/cnn_default --data data/test \
          --n 40 --json docs/figures/calibration.json --plot docs/figures/calibration.png
Acceptance (issue #5): coverage of the 90 % HDI in 80–97 % for each parameter over ≥ 40 cases.
With --instruments each state is first recorded by an instrument drawn from `data.instruments.TEST`
and loaded as `estimate` loads a file (issue 13: the same coverage on instrument-rendered images).
It is resumable: with --json, cases already in the file are kept and skipped when the file was written
for the same model, emulator(s), test data and sampler settings (otherwise it starts afresh).
With --workers N (local processes) or --scheduler ADDRESS (a Dask cluster) each case is one task
(docs/scale-out.md); the file is written here, cases in the order of the rows, the same as in one process.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

import domainfit
from domainfit import nn
from domainfit._files import atomic_write
from domainfit.data import Dataset
from domainfit.data.instruments import TEST, draw_instrument
from domainfit.data.views import recorded
from domainfit.imaging import flatten_background, normalise_contrast
from domainfit.imaging import DomainImage
from domainfit.units import user_unit
from domainfit import surrogate


INSTRUMENT_SEED = 20261202
"""Seed stream of the instruments of --instruments (its own: no training, calibration or benchmark draw)."""


def run_case(loaded, image, pixel, truth, *, hdi, chains, warmup, samples, seed, emulator=None):
    """One held-out image through the public one-call API (``domainfit.estimate``), as a user runs it."""
    t0 = time.perf_counter()
    config = domainfit.PosteriorConfig(hdi_prob=hdi, chains=chains, warmup=warmup, samples=samples, predictive=0,
                                      emulator=emulator)
    r = domainfit.estimate(DomainImage(image, pixel, source="benchmark"), model=loaded, posterior=config, key=seed)
    case = {"emulator": r.report["emulator"]["path"], "component": r.report["emulator"]["component"],
            "parameters": {}, "wall_time_s": time.perf_counter() - t0, "warnings": r.report["warnings"]}
    for name, p in r.report["posterior"].items():
        if p["fixed"]:
            continue
        factor = user_unit(name)[1]
        t = truth[name] / factor
        case["parameters"][name] = dict(
            unit=p["unit"], truth=t, mean=p["mean"], median=p["median"], sd=p["sd"], hdi_low=p["hdi_low"],
            hdi_high=p["hdi_high"], inside=bool(p["hdi_low"] <= t <= p["hdi_high"]), r_hat=p["r_hat"],
            cnn_mean=r.cnn.mean[name] / factor if name in r.cnn.mean else None,
            cnn_sd=r.cnn.sd[name] / factor if name in r.cnn.sd else None,
        )  # fmt: skip
    return case


@functools.lru_cache(maxsize=2)
def _inputs(model: str, emulators: tuple[str, ...], data: str):
    """The model, its emulators' hash and the test dataset, loaded once per process (a worker's too)."""
    return nn.load_model(model), Dataset(data)


def compute_case(spec: dict, k: int, row: int) -> dict:
    """Case ``k`` (dataset row ``row``): the image as ``--instruments`` or the dataset gives it, through
    ``run_case``. A pure function of its arguments: the task a cluster worker runs (``--workers``)."""
    loaded, ds = _inputs(spec["model"], tuple(spec["emulators"]), spec["data"])
    index = int(ds.index[row])
    truth = dict(zip(("D", "Ms", "sigma", "Ku", "A"), map(float, ds.params[row])))
    image, pixel = ds.images([row])[0], ds.image_pixel_size
    instrument = None
    if spec["instruments"]:  # as the instrument writes the file, loaded as `estimate` loads it
        pixels = spec["pixels"]
        draw = [INSTRUMENT_SEED, 0xCA1, index]
        inst = draw_instrument(TEST, np.random.default_rng(draw), pixel_size=pixels[k % len(pixels)])
        raw = recorded(ds.mz([row])[0], ds.cell_size, float(ds.grid["thickness"]), inst, draw + [1])
        image = normalise_contrast(flatten_background(raw.astype(np.float64), loaded.flatten or 0)[0])[0]
        pixel, instrument = inst.pixel_size, inst.describe()
    if spec["fov"] is not None:
        n_px = int(round(spec["fov"] * 1e-6 / pixel))
        if not 0 < n_px <= min(image.shape):
            raise SystemExit(f"--fov {spec['fov']}: need 0 < F ≤ {min(image.shape) * pixel * 1e6:g} µm")
        image = image[:n_px, :n_px]
    case = run_case(loaded, image, pixel, truth, hdi=spec["hdi"], chains=spec["chains"], warmup=spec["warmup"],
                    samples=spec["samples"], seed=index, emulator=spec["emulator"])
    case["index"] = index
    case["instrument"] = instrument
    # Each case compiles its own sampler; without this the compiled programs pile up and, after
    # ~30 cases, LLVM fails with "Cannot allocate memory" (seen on the 2-core/24 GiB machine).
    jax.clear_caches()
    return case


def summarise(cases: list[dict], hdi: float) -> dict:
    out = {}
    names = sorted({n for c in cases for n in c["parameters"]})
    for name in names:
        rows = [c["parameters"][name] for c in cases if name in c["parameters"]]
        inside = np.array([r["inside"] for r in rows], float)
        ratio = [r["sd"] / r["cnn_sd"] for r in rows if r.get("cnn_sd")]
        err = np.array([r["median"] - r["truth"] for r in rows])
        cnn_err = np.array([r["cnn_mean"] - r["truth"] for r in rows if r.get("cnn_mean") is not None])
        out[name] = dict(
            n=len(rows), coverage=float(inside.mean()), coverage_se=float(math.sqrt(hdi * (1 - hdi) / len(rows))),
            posterior_rmse=float(np.sqrt(np.mean(err**2))), cnn_rmse=float(np.sqrt(np.mean(cnn_err**2))) if len(cnn_err) else None,
            sd_over_cnn_sd_median=float(np.median(ratio)) if ratio else None,
            r_hat_max=max((r["r_hat"] for r in rows if r["r_hat"] is not None), default=None), unit=rows[0]["unit"],
        )  # fmt: skip
    return out


def plot(cases: list[dict], path: Path, hdi: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for c in cases for n in c["parameters"]})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = [c["parameters"][name] for c in cases if name in c["parameters"]]
        t = np.array([r["truth"] for r in rows])
        med = np.array([r["median"] for r in rows])
        lo, hi = np.array([r["hdi_low"] for r in rows]), np.array([r["hdi_high"] for r in rows])
        ok = np.array([r["inside"] for r in rows])
        for mask, colour, label in ((ok, "tab:blue", "truth inside"), (~ok, "tab:red", "truth outside")):
            ax.errorbar(t[mask], med[mask], yerr=[med[mask] - lo[mask], hi[mask] - med[mask]], fmt="o", ms=3,
                        color=colour, lw=0.8, label=f"{label} ({mask.sum()})")
        a, b = min(t.min(), lo.min()), max(t.max(), hi.max())
        ax.plot([a, b], [a, b], "k--", lw=0.8)
        unit = rows[0]["unit"]
        unit = "" if unit in ("1", "") else f" [{unit}]"
        ax.set_xlabel(f"true {name}{unit}")
        ax.set_ylabel(f"posterior median, {hdi:.0%} HDI")
        ax.set_title(f"{name}: coverage {ok.mean():.0%} of {len(rows)}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    from domainfit.tasks import cluster_from_options, cluster_parent

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], parents=[cluster_parent()])
    ap.add_argument("--model", required=True, help="model (.eqx/.json/folder) with its emulator(s) beside it")
    ap.add_argument("--data", required=True, help="test dataset (domainfit generate, another --seed than training)")
    ap.add_argument("--n", type=int, default=40, help="number of cases (default 40)")
    ap.add_argument("--fov", type=float, help="crop the top-left F × F µm of each image (default: whole image)")
    ap.add_argument("--hdi", type=float, default=0.9)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--emulator", type=Path, action="append",
                    help="emulator .npz to use instead of those beside the model (repeat for one per prior component)")
    ap.add_argument("--instruments", action="store_true",
                    help="record each state by an instrument drawn from data.instruments.TEST (fresh settings, "
                         "families incl. one training never drew; pixel size from --pixel-sizes) instead of reading "
                         "the stored clean image")
    ap.add_argument("--pixel-sizes", default="8,16", help="with --instruments: detector pixel sizes [nm], cycled over cases")
    ap.add_argument("--json", type=Path, help="write every case and the summary here (resumes from it)")
    ap.add_argument("--plot", type=Path, help="truth vs posterior figure (PNG)")
    args = ap.parse_args(argv)
    cluster = cluster_from_options(args.workers, args.scheduler)  # bad options refused before any work

    loaded = nn.load_model(args.model)
    paths = args.emulator or nn.emulator_paths(args.model)
    emulators = [(surrogate.Emulator.load(p), p) for p in paths]
    if not emulators:
        raise SystemExit(f"no emulator beside {args.model}: run domainfit emulator --data TRAIN --model {args.model}")
    ds = Dataset(args.data)
    rows = np.nonzero(np.asarray(ds.converged, bool))[0][: args.n]
    if len(rows) < args.n:
        print(f"warning: only {len(rows)} converged images in {args.data}")
    digest = hashlib.sha256()
    for path in [loaded.path, *(p for _, p in emulators)]:
        digest.update(Path(path).read_bytes())
    run = {"model_and_emulators_sha256": digest.hexdigest(), "data_hash": ds.content_hash(), "hdi": args.hdi,
           "chains": args.chains, "warmup": args.warmup, "samples": args.samples, "fov_um": args.fov,
           **({"instruments": "TEST", "pixel_sizes_nm": args.pixel_sizes, "seed": INSTRUMENT_SEED}
              if args.instruments else {})}  # fmt: skip
    pixels = [float(p) * 1e-9 for p in args.pixel_sizes.split(",")]
    done = {}
    if args.json is not None and args.json.is_file():
        old = json.loads(args.json.read_text())
        if old.get("run") == run:
            done = {c["index"]: c for c in old.get("cases", [])}
    spec = {"model": str(args.model), "emulators": [str(p) for _, p in emulators], "emulator": args.emulator,
            "data": str(args.data), "instruments": args.instruments, "pixels": pixels, "fov": args.fov, "hdi": args.hdi,
            "chains": args.chains, "warmup": args.warmup, "samples": args.samples}
    from tqdm.auto import tqdm

    from domainfit.tasks import open_cluster, run_tasks

    todo = [(k, int(row)) for k, row in enumerate(rows) if int(ds.index[row]) not in done]
    by_row = {k: done[int(ds.index[row])] for k, row in enumerate(rows) if int(ds.index[row]) in done}
    bar = tqdm(total=len(rows), initial=len(by_row), desc="calibration", unit="case")
    with open_cluster(cluster) as client:  # one task per case (docs/scale-out.md); None: here, in order
        for n, case in run_tasks(client, compute_case, [(spec, k, row) for k, row in todo], name="calibration case"):
            by_row[todo[n][0]] = case
            bar.update(1)
            if args.json is not None:  # after every case: an interrupted study resumes where it stopped
                seen = {c["index"] for c in by_row.values()}  # and the earlier cases of rows still ahead
                atomic_write(args.json, json.dumps({"run": run, "cases": [by_row[k] for k in sorted(by_row)]
                                                    + [c for i, c in done.items() if i not in seen]}, indent=1))
    bar.close()
    cases = [by_row[k] for k in sorted(by_row)]
    summary = summarise(cases, args.hdi)
    if args.instruments:  # coverage per instrument family as well
        for fam in sorted({c["instrument"]["name"] for c in cases}):
            summary[f"family {fam}"] = summarise([c for c in cases if c["instrument"]["name"] == fam], args.hdi)
    info = {"model": str(args.model), "data": str(args.data), "fov_um": args.fov, "hdi_prob": args.hdi, "chains": args.chains,
            "warmup": args.warmup, "samples": args.samples, "machine": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, JAX {jax.__version__} {jax.default_backend()}",
            "wall_time_s_per_case_median": float(np.median([c["wall_time_s"] for c in cases]))}  # fmt: skip
    print(f"{len(cases)} cases, {args.hdi:.0%} HDI, {args.chains} chains × {args.samples} draws; "
          f"median {info['wall_time_s_per_case_median']:.1f} s per case")
    for name, s in summary.items():
        if name.startswith("family "):
            print(f"  {name}: " + "; ".join(f"{p} n {v['n']} coverage {v['coverage']:.2f} RMSE {v['posterior_rmse']:.3g}"
                                          for p, v in s.items()))
            continue
        cnn = "n/a" if s["cnn_rmse"] is None else f"{s['cnn_rmse']:.4g}"
        ratio = "n/a" if s["sd_over_cnn_sd_median"] is None else f"{s['sd_over_cnn_sd_median']:.2f}"
        print(f"{name:>6}: n {s['n']:3d}  coverage {s['coverage']:.3f} ± {s['coverage_se']:.3f}  RMSE posterior "
              f"{s['posterior_rmse']:.4g} / CNN {cnn} {s['unit']}  sd/CNN sd (median) {ratio}  R-hat max {s['r_hat_max']}")
    if args.json is not None:
        atomic_write(args.json, json.dumps({"run": run, "info": info, "summary": summary, "cases": cases}, indent=1))
    if args.plot is not None:
        plot(cases, args.plot, args.hdi)


if __name__ == "__main__":
    main()
