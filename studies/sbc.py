"""Simulation-based calibration of one parameter set's posterior on held-out recorded images.

Every converged state of odd chunk number of a dataset written by `domainfit generate` (the shipped
set emulators were fitted on the even chunks only, so these states, their grains and initial states
are held out) is recorded by one instrument drawn from `data.instruments.TEST` (its own seed stream:
no view the emulators were fitted on repeats) and estimated as a user runs it when the set is known:
`domainfit.estimate(image, posterior=PosteriorConfig(emulator=<the set's emulator>))`, i.e. the
shipped CNN's estimate seeds MAP → NUTS on the set's emulator likelihood under the set's box prior
(the prior the dataset's parameters were drawn from, so the SBC identity holds). Per estimated
parameter it records the rank of the truth among `--ranks` evenly spaced posterior draws and whether
the 90 % HDI held it; then it reports the HDI coverage with its exact binomial interval, the χ² test of
the ranks' uniformity (`domainfit.inference.rank_uniformity`) and draws the rank histograms with the
99 % band of a uniform histogram, beside truth vs posterior median (with HDI) per parameter.
Issue 16 asks for ≥ 100 images per set, coverage 85–95 % and uniformity p > 0.01 for every parameter.

  python -m studies.sbc --set co-pt --data ~/domainfit-data/coptd0_512 --max-images 128 --workers 2 \
      --chains 2 --warmup 300 --samples 500 --json docs/figures/sbc_co-pt.json --plot docs/figures/sbc_co-pt.png

With --workers N (local processes) or --scheduler ADDRESS each image is one task (docs/scale-out.md), its
case the one made in one process (each image's seeds derive from its index); --part i/n still splits by hand.

Resumable: with --json, cases already in the file are kept when it was written with the same settings.
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
from scipy.stats import norm

STREAM = 0x5BC
"""Seed stream of the recording instruments (no training, fitting or other benchmark draw uses it)."""


def run_case(ds, row: int, loaded, emulator_path: Path, args, rng_ranks) -> dict:
    import domainfit as df
    from domainfit.data.splits import held_out_view
    from domainfit.imaging import DomainImage
    from domainfit.diagnostics import sbc_rank
    from domainfit.units import user_unit

    index = int(ds.index[row])
    raw, inst = held_out_view(ds, row, STREAM)
    truth = dict(zip(("D", "Ms", "sigma", "Ku", "A"), map(float, ds.params[row])))
    config = df.PosteriorConfig(hdi_prob=args.hdi, chains=args.chains, warmup=args.warmup, samples=args.samples,
                                predictive=0, emulator=str(emulator_path))
    t0 = time.perf_counter()
    r = df.estimate(DomainImage(raw, inst.pixel_size, source=f"held-out state {index}"), model=loaded, posterior=config,
                    key=index)
    draws = r.idata.posterior  # user units, as the report
    case = dict(index=index, family=inst.name, pixel_size_nm=inst.pixel_size * 1e9, wall_time_s=time.perf_counter() - t0,
                walls=r.report["observation"]["walls"],
                reasons=r.report["reasons"], parameters={})
    for name, p in r.report["posterior"].items():
        if p["fixed"]:
            continue
        factor = user_unit(name)[1]
        t = truth[name] / factor
        d = np.asarray(draws[name]).ravel()
        c = r.report["parameters"].get(name, {})  # the CNN's own estimate: its central interval of the same mass
        half = float(norm.ppf(0.5 + args.hdi / 2)) * c["sd"] if c.get("sd") else None
        case["parameters"][name] = dict(
            unit=p["unit"], truth=t, median=p["median"], sd=p["sd"], hdi_low=p["hdi_low"], hdi_high=p["hdi_high"],
            inside=bool(p["hdi_low"] <= t <= p["hdi_high"]), r_hat=p["r_hat"], ess=p.get("ess_bulk"),
            rank=sbc_rank(d, t, args.ranks, rng_ranks), cnn_mean=c.get("mean"), cnn_sd=c.get("sd"),
            cnn_inside=None if half is None else bool(abs(c["mean"] - t) <= half))
    return case


def observed(ds, row: int, loaded, emulator) -> tuple:
    """The image run_case records, as the posterior sees it: (the emulator's likelihood of its statistics,
    whether it shows walls). The statistics are the shipped CNN's estimates and its sign's geometry."""
    import domainfit as df
    from domainfit.data.splits import held_out_view
    from domainfit.imaging import DomainImage
    from domainfit.surrogate import EmulatorLikelihood
    from domainfit.features import shows_walls
    from domainfit.surrogate.learned import summary_with_cnn

    index = int(ds.index[row])
    raw, inst = held_out_view(ds, row, STREAM)  # the very image run_case records
    r = df.estimate(DomainImage(raw, inst.pixel_size, source=f"held-out state {index}"), model=loaded)
    image = r.image
    walls = shows_walls(image.data)
    s_obs = np.asarray(summary_with_cnn(r.cnn.mean, emulator.stat_names, support=r.cnn.support)(image.data, image.pixel_size))
    area = image.data.shape[0] * image.data.shape[1] * image.pixel_size**2
    return EmulatorLikelihood(emulator, s_obs, area_ratio=emulator.area / area, walls=walls), walls, inst


def residual_at_truth(ds, row: int, loaded, emulator) -> dict:
    """The image's statistics against the emulator at the true θ: z_i = (s_i − μ_i(θ)) / sd_i(θ), with
    sd the likelihood's own (this image's noise at its area, the emulator's error). A calibrated
    likelihood gives z of mean 0 and rms 1 over the images; a mean away from 0 is a shift the emulator
    does not know (e.g. the test instruments read otherwise than the ones it was fitted on)."""
    lik, _, _ = observed(ds, row, loaded, emulator)
    truth = dict(zip(("D", "Ms", "sigma", "Ku", "A"), map(float, ds.params[row])))
    mean, own, shared = lik.moment_parts({n: truth[n] for n in emulator.names})
    z = (np.asarray(lik.s_obs) - np.asarray(mean)) / np.sqrt(np.diag(np.asarray(own + shared)))
    return dict(zip(emulator.stat_names, map(float, z)))


GRID = 161
"""Points per parameter of the exact grid posterior (--grid)."""


def grid_case(ds, row: int, loaded, emulator, args, rng) -> dict:
    """One image's exact posterior on a grid over the set's box (uniform prior), no sampler: what the
    emulator likelihood itself implies. Ranks from draws of the grid posterior (jittered within a cell),
    HDIs of each marginal from its grid density."""
    from domainfit.diagnostics import sbc_rank
    from domainfit.units import user_unit

    lik, walls, inst = observed(ds, row, loaded, emulator)
    names = list(emulator.names)
    axes = [np.linspace(lo, hi, GRID) for lo, hi in (emulator.box[n] for n in names)]
    mesh = np.meshgrid(*axes, indexing="ij")
    flat = {n: jax.numpy.asarray(m.ravel()) for n, m in zip(names, mesh)}
    logp = np.asarray(jax.vmap(lambda *v: lik(dict(zip(names, v))))(*flat.values()), float).reshape(mesh[0].shape)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    truth = dict(zip(("D", "Ms", "sigma", "Ku", "A"), map(float, ds.params[row])))
    pick = rng.choice(w.size, size=20 * args.ranks, p=w.ravel())
    idx = np.unravel_index(pick, w.shape)
    case = dict(index=int(ds.index[row]), family=inst.name, walls=bool(walls), parameters={})
    for k, n in enumerate(names):
        step = axes[k][1] - axes[k][0]
        draws = np.clip(axes[k][idx[k]] + rng.uniform(-0.5, 0.5, pick.size) * step, axes[k][0], axes[k][-1])
        marginal = w.sum(axis=tuple(j for j in range(len(names)) if j != k))
        order = np.argsort(marginal)[::-1]
        keep = order[: np.searchsorted(np.cumsum(marginal[order]), args.hdi) + 1]
        lo, hi = axes[k][keep].min() - 0.5 * step, axes[k][keep].max() + 0.5 * step
        f = user_unit(n)[1]
        case["parameters"][n] = dict(unit=user_unit(n)[0], truth=truth[n] / f, median=float(np.median(draws)) / f,
                                     hdi_low=lo / f, hdi_high=hi / f, inside=bool(lo <= truth[n] <= hi), r_hat=None,
                                     rank=sbc_rank(draws, truth[n], args.ranks, rng))
    return case


def kept(cases: list[dict], done: dict) -> list[dict]:
    """What an interrupted run must write: this run's cases and every earlier one it has not reached yet
    (writing this run's alone lost the earlier cases of rows still ahead)."""
    seen = {c["index"] for c in cases}
    return cases + [c for i, c in done.items() if i not in seen]


def pool_unnamed_instrument() -> None:
    """Replace the unnamed family's instrument term by the pooled emulator alone (zero bias, unit scales),
    to see what the term does to the coverage."""
    from domainfit.surrogate import instrument_terms

    real = instrument_terms.InstrumentTerms.term
    if getattr(real, "pooled", False):
        return  # already (each case of --workers asks again: its worker may be fresh)

    def term(self, family):
        t = real(self, family)
        if family is not None:
            return t
        n = len(t["bias"])
        return dict(kind="unnamed", bias=np.zeros(n), own_scale=np.ones(n), own_extra=np.zeros((n, n)),
                    shared_scale=np.ones(n), shared_extra=np.zeros(n))

    term.pooled = True
    instrument_terms.InstrumentTerms.term = term


def sbc_case(ds, row: int, loaded, emulator_path: Path, emu, args) -> dict:
    """Held-out row ``row``'s case, from seeds of its own (its index): run here in turn, or as one task of
    --workers / --scheduler, to the same case."""
    if args.pooled_instrument:
        pool_unnamed_instrument()
    rng = np.random.default_rng([STREAM, int(ds.index[row]), 2])
    if args.grid:
        return grid_case(ds, row, loaded, emu, args, rng)
    return run_case(ds, row, loaded, emulator_path, args, rng)


def summarise(cases: list[dict], n_ranks: int) -> dict:
    from domainfit.diagnostics import coverage, rank_uniformity

    out = {}
    for name in sorted({n for c in cases for n in c["parameters"]}):
        rows = [c["parameters"][name] for c in cases if name in c["parameters"]]
        err = np.array([r["median"] - r["truth"] for r in rows])
        out[name] = dict(unit=rows[0]["unit"], hdi_coverage=coverage([r["inside"] for r in rows]),
                         ranks=rank_uniformity([r["rank"] for r in rows], n_ranks),
                         rmse=float(np.sqrt(np.mean(err**2))),
                         r_hat_max=max((r["r_hat"] for r in rows if r["r_hat"] is not None), default=None))
        cnn = [r for r in rows if r.get("cnn_inside") is not None]
        if cnn:  # the CNN's own interval on the same images, and the posterior's width against it
            out[name].update(cnn_coverage=coverage([r["cnn_inside"] for r in cnn]),
                             cnn_rmse=float(np.sqrt(np.mean([(r["cnn_mean"] - r["truth"]) ** 2 for r in cnn]))),
                             posterior_sd_over_cnn_sd_median=float(np.median([r["sd"] / r["cnn_sd"] for r in cnn])))
    return out


def residual_summary(cases: list[dict]) -> dict | None:
    """Mean and rms of the residuals at the truth per statistic, and the mean per instrument family."""
    with_z = [c["residual_z"] for c in cases if "residual_z" in c]
    if not with_z:
        return None
    out = {n: dict(mean=float(np.mean([z[n] for z in with_z])), rms=float(np.sqrt(np.mean([z[n] ** 2 for z in with_z]))))
           for n in with_z[0]}
    for fam in sorted({c["family"] for c in cases if "residual_z" in c}):
        zs = [c["residual_z"] for c in cases if c.get("family") == fam and "residual_z" in c]
        out[f"family {fam} (mean, n {len(zs)})"] = {n: round(float(np.mean([z[n] for z in zs])), 3) for n in zs[0]}
    return out


def plot(cases: list[dict], summary: dict, n_ranks: int, title: str, path: Path, hdi: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, axes = plt.subplots(2, len(names), figsize=(4.4 * len(names), 7.6), squeeze=False)
    for j, name in enumerate(names):
        s, ax = summary[name], axes[0, j]
        u = s["ranks"]
        width = (n_ranks + 1) / u["bins"]
        ax.axhspan(*u["band_99"], color="0.85", label="99 % band (uniform)")
        ax.axhline(u["expected"], color="0.4", lw=0.8)
        ax.bar(np.arange(u["bins"]) * width, u["counts"], width=width, align="edge", color="tab:blue",
               edgecolor="white")
        ax.set_xlim(0, n_ranks + 1)
        ax.set_xlabel(f"rank of the true {name} among {n_ranks} posterior draws")
        ax.set_ylabel("images")
        ax.set_title(f"{name}: χ² p = {u['p_value']:.2g} (n {u['n']})")
        ax.legend(fontsize=8, loc="lower center")
        ax = axes[1, j]
        rows = [c["parameters"][name] for c in cases if name in c["parameters"]]
        t, med = np.array([r["truth"] for r in rows]), np.array([r["median"] for r in rows])
        lo, hi = np.array([r["hdi_low"] for r in rows]), np.array([r["hdi_high"] for r in rows])
        ok = np.array([r["inside"] for r in rows])
        for mask, colour, label in ((ok, "tab:blue", "truth inside"), (~ok, "tab:red", "truth outside")):
            ax.errorbar(t[mask], med[mask], yerr=[med[mask] - lo[mask], hi[mask] - med[mask]], fmt="o", ms=3,
                        color=colour, lw=0.7, label=f"{label} ({mask.sum()})")
        a, b = min(t.min(), lo.min()), max(t.max(), hi.max())
        ax.plot([a, b], [a, b], "k--", lw=0.8)
        unit = "" if rows[0]["unit"] in ("1", "") else f" [{rows[0]['unit']}]"
        ax.set_xlabel(f"true {name}{unit}")
        ax.set_ylabel(f"posterior median, {hdi:.0%} HDI")
        c = s["hdi_coverage"]
        ax.set_title(f"{hdi:.0%} HDI coverage {c['coverage']:.0%} [{c['interval_95'][0]:.0%}, {c['interval_95'][1]:.0%}]")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    from tqdm.auto import tqdm

    from domainfit import __file__ as package_file
    from domainfit._files import atomic_write
    from domainfit.data import Dataset
    from domainfit.nn import load_default
    from domainfit.tasks import cluster_from_options, cluster_parent, open_cluster, run_tasks, share

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], parents=[cluster_parent("one task per image")])
    ap.add_argument("--set", required=True, choices=("co-pt", "low-ms"))
    ap.add_argument("--data", required=True, help="the set's dataset (its odd chunks are read)")
    ap.add_argument("--emulator", type=Path, help="the set's emulator (default: the shipped one)")
    ap.add_argument("--chunks", choices=("odd", "all"), default="odd",
                    help="which chunks are held out: odd (default: the set emulators were fitted on the even chunks of "
                         "their datasets) or all (a dataset no emulator, CNN or calibration saw, e.g. another seed)")
    ap.add_argument("--max-images", type=int, default=10_000)
    ap.add_argument("--hdi", type=float, default=0.9)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--ranks", type=int, default=99, help="posterior draws each truth is ranked among (default 99)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--also", type=Path, action="append", default=[],
                    help="another run's JSON (same settings, e.g. a --part) whose cases are taken as done")
    ap.add_argument("--part", help="i/n: run only every n-th held-out image from the i-th (one process per core; "
                                   "join the parts' JSONs with --also)")
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--grid", action="store_true",
                    help=f"exact posterior on a {GRID}² grid instead of MAP → NUTS (the emulator's own calibration; ~2 s each)")
    ap.add_argument("--residuals", action="store_true",
                    help="also the statistics' standardised residuals at the true θ per image (CNN only, ~2 s each)")
    ap.add_argument("--pooled-instrument", action="store_true",
                    help="diagnosis: an unnamed instrument gets the pooled emulator alone (no mixture bias or scatter)")
    args = ap.parse_args(argv)
    cluster = cluster_from_options(args.workers, args.scheduler)  # bad options refused before any work
    if args.pooled_instrument:
        pool_unnamed_instrument()
    emulator = args.emulator or Path(package_file).parent / "assets" / f"set_{args.set}.emulator.npz"
    loaded = load_default()
    ds = Dataset(args.data)
    if ds.meta["identity"].get("preset") not in (None, args.set):
        raise SystemExit(f"{args.data} is a {ds.meta['identity'].get('preset')} dataset, not {args.set}")
    from domainfit.data.splits import chunk_rows

    # odd chunks: held out from the set emulators; all: a dataset of its own seed, held out from everything
    rows = (chunk_rows(ds, 1) if args.chunks == "odd" else np.nonzero(np.asarray(ds.converged, bool))[0])[: args.max_images]
    if args.part:
        i, n = map(int, args.part.split("/"))
        rows = rows[i::n]
    run = dict(set=args.set, **({"chunks": "all"} if args.chunks == "all" else {}),
               **({"pooled_instrument": True} if args.pooled_instrument else {}),
               emulator_bytes=len(emulator.read_bytes()), data_hash=ds.content_hash(), hdi=args.hdi,
               chains=args.chains, warmup=args.warmup, samples=args.samples, ranks=args.ranks, stream=STREAM,
               **({"sampler": f"grid {GRID}", "emulator": str(emulator)} if args.grid else {}))
    from domainfit.surrogate import Emulator

    emu = Emulator.load(emulator)
    done = {}
    for path in [args.json, *args.also]:
        if path is None or not path.is_file():
            continue
        old = json.loads(path.read_text())
        if {k: v for k, v in old.get("run", {}).items() if k != "data_hash"} == {k: v for k, v in run.items() if k != "data_hash"}:
            done.update({c["index"]: c for c in old.get("cases", [])})  # a dataset still growing keeps its old states
        elif path != args.json:
            raise SystemExit(f"{path} was run with other settings: {old.get('run')}")
    from studies.sbc import sbc_case as task  # by its module's name (run as __main__): what the workers import

    by_row, t0 = {row: done[int(ds.index[row])] for row in rows if int(ds.index[row]) in done}, time.perf_counter()
    todo = [row for row in rows if row not in by_row]
    bar = tqdm(total=len(rows), initial=len(by_row), desc=f"SBC {args.set}", unit="image")
    with open_cluster(cluster if todo else None) as client:  # one task per image (docs/scale-out.md)
        shared = [share(client, x) for x in (ds, loaded, emu)]
        for n, case in run_tasks(client, task, [(shared[0], row, shared[1], emulator, shared[2], args) for row in todo],
                                 name="SBC case"):  # fmt: skip
            by_row[todo[n]] = case
            bar.update(1)
            if args.json is not None:
                atomic_write(args.json, json.dumps({"run": run, "cases": kept([by_row[r] for r in rows if r in by_row],
                                                                              done)}, indent=1))
    bar.close()
    cases = [by_row[row] for row in rows]
    if args.residuals:
        by_index = {int(ds.index[r]): r for r in rows}
        for c in tqdm([c for c in cases if c["walls"] and "residual_z" not in c], desc="residuals", unit="image"):
            c["residual_z"] = residual_at_truth(ds, by_index[c["index"]], loaded, emu)
        if args.json is not None:
            atomic_write(args.json, json.dumps({"run": run, "cases": cases}, indent=1))
    summary = summarise(cases, args.ranks)
    walls = [c for c in cases if c["walls"]]
    info = dict(set=args.set, data=str(args.data), emulator=str(emulator), images=len(cases), with_walls=len(walls),
                machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, JAX {jax.__version__} "
                        f"{jax.default_backend()}",
                wall_time_s_per_image_median=float(np.median([c.get("wall_time_s", np.nan) for c in cases])),
                this_run_s=round(time.perf_counter() - t0, 1))
    if walls and len(walls) < len(cases):
        summary_walls = summarise(walls, args.ranks)
    else:
        summary_walls = None
    residuals = residual_summary(cases)
    if residuals:
        print("residuals at the truth: " + json.dumps(residuals))
    how = (f"exact posterior on a {GRID}² grid" if args.grid else
           f"{args.chains} chains × {args.samples} draws, median {info['wall_time_s_per_image_median']:.1f} s per image")
    print(f"{args.set}: {len(cases)} held-out images ({len(walls)} with walls), {how}")
    for label, summ in (("all", summary), ("with walls", summary_walls)):
        for name, s in (summ or {}).items():
            c, u = s["hdi_coverage"], s["ranks"]
            print(f"  {label:>10} {name:>6}: {args.hdi:.0%} HDI coverage {c['coverage']:.3f} "
                  f"[{c['interval_95'][0]:.3f}, {c['interval_95'][1]:.3f}]  SBC χ² {u['chi2']:.1f}/{u['dof']} "
                  f"p {u['p_value']:.3g}  RMSE {s['rmse']:.3g} {s['unit']}  R-hat max {s['r_hat_max']}")
    if args.json is not None:
        atomic_write(args.json, json.dumps({"run": run, "info": info, "summary": summary,
                                            "summary_with_walls": summary_walls,
                                            "residuals_at_truth": residuals, "cases": cases}, indent=1))
    if args.plot is not None:
        plot(cases, summary, args.ranks, f"{args.set}: SBC on {len(cases)} held-out recorded images", args.plot, args.hdi)


if __name__ == "__main__":
    main()
