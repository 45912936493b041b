"""The default emulator measured state by state, and its evidence error against refits (issue 34).

The shipped emulator was fitted to 544 recorded views: 136 relaxed states × 4 instruments. Its
cross-validation permuted views, so a held-out view's three twins (same state) sat in the training
folds, and its V_μ counted 544 independent views. On a set of the same design (`domainfit generate
--seed 2 …`, the calibration set's command; regenerated, since datasets are not kept) this study

1. records the same views (the shipped CNN's readings, 4 instruments per state, draw seed 1);
2. cross-validates the shipped design (degree 2/1) with whole states held out and, for comparison,
   with views permuted as before; measures each statistic's between-state share ρ and the design
   effect of V_μ (`surrogate.fitting.state_level`);
3. with `--write-provenance FILE`, writes these into the emulator file's provenance (its β, γ and
   instrument terms unchanged): ρ, the design effect and the state-held-out mean error e, which the
   likelihood uses (`surrogate.likelihood`);
4. refits the emulator on `--refits` bootstrap resamples of the states and compares the models of the
   model-comparison example (σ free, σ = 0.10, σ = 0.18 on one emulator) on each image with each refit:
   the spread of log BF over refits against the error `compare` states (Monte Carlo + the emulator's
   share, `workflows.emulator_error`), which acceptance 3 wants within 2×.

  python -m studies.emulator_states --data ~/domainfit-data/coptb512_cal136 --readings ~/domainfit-data/cal136_readings.npz \
      --write-provenance src/domainfit/assets/cnn_default.emulator.npz --refits 20 --json docs/figures/emulator_states.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from studies._summary import print_and_write

MODELS = {"σ free": None, "σ = 0.10": 0.10, "σ = 0.18": 0.18}
BOX = ([1e-4, 0.05], [1e-3, 0.2])  # the co-pt box the shipped emulator was fitted over (D, σ; SI)


def readings(data: Path, cache: Path | None, draws: int, seed: int):
    """(θ [N, 2] SI, statistics [N, k], state of each view [N], walls [N], names, area) of the recorded views."""
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        return z["theta"], z["s"], z["groups"], z["walls"], tuple(z["names"]), float(z["area"])
    from domainfit.data import Dataset
    from domainfit.nn import load_default
    from domainfit.surrogate.learned import recorded_cnn_statistics

    ds = Dataset(data)
    rows = np.nonzero(np.asarray(ds.converged, bool))[0]
    names, s, params, area, walls = recorded_cnn_statistics(load_default(), ds, rows, draws=draws, seed=seed)
    theta = params[:, [0, 2]]  # D, σ (Ms, Ku, A fixed in a co-pt set)
    groups = np.unique(theta, axis=0, return_inverse=True)[1].reshape(-1)
    if cache is not None:
        from domainfit._files import atomic_path

        with atomic_path(cache) as tmp:
            np.savez(tmp, theta=theta, s=s, groups=groups, walls=walls, names=np.asarray(names), area=area)
    return theta, s, groups, walls, tuple(names), float(area)


def fit(theta, s, walls, names, area, *, groups=None, folds=5):
    """The shipped design fitted to these views, with the provenance ``compare`` needs (the CNN whose
    readings are the statistics, the co-pt constants)."""
    from domainfit.nn import load_default
    from domainfit.surrogate import Emulator, fit_emulator
    from domainfit.surrogate.emulator import fields_of

    emu = fit_emulator(theta, s, names=("D", "sigma"), area=area, stat_names=names, degree=2, degree_var=1,
                       box=BOX, walls=walls, groups=groups, folds=folds)
    rep = emu.error_report
    rep.update(constants={"Ms": 1.5e6, "Ku": 1.6e6, "A": 31e-12}, component="co-pt",
               learned_model_sha256=load_default().sha256)
    return Emulator(**{**fields_of(emu), "report": json.dumps(rep)})


def compare_on(image, emulator, *, particles: int, runs: int, key: int) -> dict:
    import domainfit as df

    fix = {name: {"sigma": v} for name, v in MODELS.items() if v is not None}
    c = df.compare(image, models={name: emulator for name in MODELS}, fix=fix, cnn="default", particles=particles,
                   runs=runs, key=key)
    t = c.table
    best = t["best"]
    out = {name: t["evidence"][name]["log_evidence"] for name in MODELS}
    errors = {f"{best} : {n}": {k: bf.get(k) for k in ("log_bayes_factor", "error", "mc_error", "emulator_error")}
              for n, bf in t["bayes_factors"].items()}
    return dict(best=best, log_evidence=out, bayes_factors=errors)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--readings", type=Path, help="cache of the recorded views' readings (.npz)")
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--draw-seed", type=int, default=1)
    ap.add_argument("--write-provenance", type=Path)
    ap.add_argument("--write-model-json", type=Path,
                    help="the CNN's JSON: its spread_calibration gets the readings' between-state shares (nn.estimate.floored)")
    ap.add_argument("--refits", type=int, default=20)
    ap.add_argument("--images", nargs="+", default=["example", "example-512"])
    ap.add_argument("--particles", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    theta, s, groups, walls, names, area = readings(args.data.expanduser(), args.readings and args.readings.expanduser(),
                                                    args.draws, args.draw_seed)
    by_state = fit(theta, s, walls, names, area, groups=groups)
    by_view = fit(theta, s, walls, names, area, groups=np.arange(len(theta)))
    keys = ("held_out", "z_rms", "coverage_90", "mean_error_over_sd", "surrogate_error", "states", "views_per_state",
            "between_state_share", "mean_var_factor")
    out = dict(data=str(args.data), views=int(len(theta)), states=int(len(np.unique(groups))),
               views_with_walls=int(np.sum(walls)),
               cv_states={k: by_state.error_report.get(k) for k in keys},
               cv_views={k: by_view.error_report.get(k) for k in keys if k not in ("between_state_share", "mean_var_factor")})
    print(json.dumps(out, indent=1))
    if args.write_provenance:
        from domainfit.surrogate import Emulator
        from domainfit.surrogate.emulator import fields_of

        shipped = Emulator.load(args.write_provenance)
        rep = shipped.error_report
        g = by_state.error_report
        rep["per_view_cross_validation"] = {k: rep.get(k) for k in ("folds", "z_rms", "coverage_90", "mean_error_over_sd",
                                                                   "surrogate_error", "surrogate_error_upper")}
        rep.update({k: g[k] for k in ("folds", "held_out", "z_rms", "coverage_90", "mean_error_over_sd", "z2_pooled",
                                      "z2_pooled_se", "surrogate_error", "surrogate_error_upper", "states",
                                      "views_per_state", "between_state_share", "mean_var_factor")})
        rep["state_level_measured_on"] = dict(data=str(args.data), views=out["views"], states=out["states"],
                                              draws=args.draws, draw_seed=args.draw_seed, design="degree 2/1")
        Emulator(**{**fields_of(shipped), "report": json.dumps(rep)}).save(args.write_provenance)
        out["written"] = str(args.write_provenance)
    if args.write_model_json:  # the CNN-only spread of an image beyond the calibrated field keeps 1 − ρ
        from domainfit._files import atomic_write

        meta = json.loads(args.write_model_json.read_text())
        rho = by_state.error_report["between_state_share"]
        meta["spread_calibration"]["between_state_share"] = {n.removeprefix("cnn_"): float(r) for n, r in zip(names, rho)}
        atomic_write(args.write_model_json, json.dumps(meta, indent=2))
        out["written_model_json"] = str(args.write_model_json)
    if args.refits < 2:
        return print_and_write(out, args.json, show=False)
    # the evidence error against refits on bootstrapped states
    rng = np.random.default_rng(34)
    labels = np.unique(groups)
    stated = {str(im): compare_on(im, by_state, particles=args.particles, runs=args.runs, key=0) for im in args.images}
    refits = {str(im): [] for im in args.images}
    from tqdm.auto import tqdm

    for b in tqdm(range(args.refits), desc="refits", unit="refit"):
        pick = rng.choice(labels, len(labels), replace=True)
        idx = np.concatenate([np.nonzero(groups == g)[0] for g in pick])
        copy = np.repeat(np.arange(len(pick)), [np.sum(groups == g) for g in pick])
        emu = fit(theta[idx], s[idx], walls[idx], names, area, groups=copy, folds=1)
        for im in args.images:
            refits[str(im)].append(compare_on(im, emu, particles=args.particles, runs=args.runs, key=b + 1))
    summary = {}
    for im in map(str, args.images):
        rows = {}
        for pair, st in stated[im]["bayes_factors"].items():
            a, _, b = pair.partition(" : ")
            values = np.array([r["log_evidence"][a] - r["log_evidence"][b] for r in refits[im]])
            spread = float(np.std(values, ddof=1))
            rows[pair] = dict(stated=st, refit_mean=float(values.mean()), refit_sd=spread,
                              stated_error_over_refit_sd=st["error"] / spread if spread > 0 else None,
                              stated_mc_error_over_refit_sd=st["mc_error"] / spread if spread > 0 else None)
        summary[im] = rows
    out.update(refits=args.refits, particles=args.particles, runs=args.runs, bayes_factors=summary,
               machine=f"{platform.machine()}, {os.cpu_count()} cores", wall_time_s=round(time.perf_counter() - t0, 1))
    return print_and_write(out, args.json, shown=summary)


if __name__ == "__main__":
    main()
