"""Joint inference of one film from its image and a second observation: D and σ errors, widths, coverage.

The held-out films of the observation study (``studies/observations.py``, co-pt set, D and σ drawn
uniformly over the shipped model's box, seeds in no dataset) are each rendered by one instrument the
CNN was not trained with (``data.instruments.TEST``, its own seed stream; the instrument family is
named, as a user would), and estimated with ``domainfit.estimate(..., posterior=True)`` — the shipped
CNN seeding MAP and NUTS on the shipped emulator — with each observation set:

- ``image``: the demagnetised image alone;
- ``image + DMI field``: plus the in-plane-field measurement of the film, μ0H_DMI = D/(Ms Δ) read with
  ±3 mT and the wall parameter Δ known to ±7.5 % (the Ta-wedge example's errors), both drawn per film;
  the likelihood gets the same errors (``--dmi-field 28mT±3mT``);
- ``image + σ prior``: plus knowledge of σ from elsewhere, σ ~ N(σ̂, 0.01) with σ̂ the truth + 0.01·ε
  (the custom-prior path, ``priors={"sigma": Prior("sigma", TruncatedNormal(...))}``);
- ``3 images + DMI field`` (``--fov-pass``): three fields of view of the same film
  (the film's own and two more regions: same D and σ, other grains and start, relaxed by the same
  protocol and cached in ``--fovs``), scanned by the same instrument, estimated jointly;
- ``image + H½``, ``image + DMI field + H½`` (``--sets``; films made with ``--make-films … --curve``): plus
  H½ (initial curve at ⟨m_z⟩ = ½), ±2 mT about the film's own value (``observations.half_field``);
- the DMI field alone is not run (σ would be the prior); its D error is reported analytically beside.

Per set: RMSE of the posterior mean of D and σ over the films, mean 90 % HDI width, 90 % HDI coverage,
and which results were flagged untrustworthy. Results are cached per film (JSON lines, ``--cache``), so
the run resumes and shards (``--shard i/n``).

Run (docs/observations.md):
       S="--films ~/domainfit-data/obs_study ~/domainfit-data/joint_films --out ~/domainfit-data/joint"
       python -m studies.joint_observations $S --make-films 20034-20039 --shard 0/2   # films the study lacks
       python -m studies.joint_observations $S --fov-pass --simulate-only --shard 0/2 # extra fields of view
       python -m studies.joint_observations $S --shard 0/2                            # one-image sets
       python -m studies.joint_observations $S --fov-pass --shard 0/2                 # 3 images + DMI field
       python -m studies.joint_observations $S --analyse --json out.json --plot out.png  # (H½: docs/observations.md)
Tests: tests/test_joint_observations.py (tiny films, short chains)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
from studies.figures import plot_joint

DMI_READING_T = 3e-3
DELTA_REL = 0.075
SIGMA_PRIOR_SD = 0.01
HALF_FIELD_READING_T = 2e-3
SETS = ("image", "image + DMI field", "image + σ prior", "3 images + DMI field", "image + H½", "image + DMI field + H½")
FIRST_PASS = SETS[:3]
FOV_SETS = SETS[3:4]
HALF_FIELD_SETS = SETS[4:]
N_FOVS = 3
CO_PT = dict(Ms=1.5e6, A=31e-12, Ku=1.6e6)


def film_files(folders) -> list[Path]:
    """The films of one or more folders (``film-*.npz``), by name; a name in two folders counts once."""
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    found = {}
    for folder in folders:
        for f in sorted(Path(folder).expanduser().glob("film-*.npz")):
            found.setdefault(f.name, f)
    return [found[k] for k in sorted(found)]


def shard(files: list[Path], i: int, n: int) -> list[Path]:
    """The films of shard i of n: seed (the name's last number) ≡ i mod n — not the place in a listing,
    which shifts while another shard still writes films (film 22037 was skipped by both that way)."""
    return [f for f in files if int(f.stem.rsplit("-", 1)[-1]) % n == i]


def _observations_module():
    from studies import observations

    return observations


def make_film(seed: int, cells: int, folder: Path, curve: bool = False) -> Path:
    """The demagnetised state of film ``seed`` exactly as the observation study makes it (same D, σ,
    grains and start), without its field series: for films that study has not reached. With ``curve``,
    also its initial magnetisation curve to ⟨m_z⟩ = ½ by the project's H½ protocol
    (``physics.curve.initial_curve``: 10 mT steps, PBB, tol 1e-3) and the H½ it reads."""
    import jax

    from domainfit.physics import Grid, make_material
    from domainfit.physics.curve import initial_curve
    from domainfit.physics.simulate import random_state, with_disorder

    obs = _observations_module()
    path = Path(folder).expanduser() / f"film-{cells}-{seed}.npz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=4e-9)
    theta = obs.film_parameters(seed)
    key_state, key_grains = jax.random.split(jax.random.key(seed))
    mat = with_disorder(make_material("co-pt", D=theta["D"], sigma=theta["sigma"]), grid, key=key_grains)
    t0 = time.perf_counter()
    r = obs._relaxer(grid, 1e-3, 6000)(random_state(grid, key=key_state, dtype=mat.Ms.dtype), mat)
    extra = {}
    if curve:
        c = initial_curve(r.m, mat, grid)
        extra = dict(curve_T=c.field_T, curve_mz=c.mz, curve_steps=c.steps, curve_converged=c.converged,
                     h_half_T=c.field_at(0.5))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, seed=seed, cells=cells, D=theta["D"], sigma=theta["sigma"], demag_mz=np.asarray(r.m[2], np.float16),
             demag_steps=int(r.steps), demag_converged=bool(r.converged), **extra)
    tmp.replace(path)
    h = f", H½ {extra['h_half_T'] * 1e3:.1f} mT" if curve else ""
    print(f"film {seed}: demagnetised state, {int(r.steps)} steps{h}, {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def render(film: dict, loaded, seed: int, mz=None, k: int = 0):
    """One test-instrument view of the film's demagnetised state (or of ``mz``, its k-th field of view),
    read as a user's file would be. The instrument is drawn once per film; each scan has its own noise."""
    from domainfit.data.instruments import TEST, draw_instrument
    from domainfit.data.views import recorded
    from domainfit.imaging import from_array

    rng = np.random.default_rng([seed, 18])
    inst = draw_instrument(TEST, rng, pixel_size=16e-9 if int(film["cells"]) >= 256 else 4e-9)
    mz = film["demag_mz"] if mz is None else mz
    raw = recorded(np.asarray(mz, np.float32), 4e-9, 4e-9, inst, [seed, 18, 1] if k == 0 else [seed, 18, 1, k])
    return from_array(raw, inst.pixel_size, flatten=loaded.flatten), inst.name


def views_of(film: dict, loaded, fovs: Path) -> list[tuple]:
    """The film's N_FOVS views (image, family) by its one instrument: its own state and those in ``fovs``."""
    seed, cells = int(film["seed"]), int(film["cells"])
    views = [render(film, loaded, seed)]
    for k in range(1, N_FOVS):
        p = fov_path(fovs, seed, cells, k)
        if not p.exists():
            raise SystemExit(f"{p}: missing; simulate it first (studies.joint_observations --fov-pass --simulate-only)")
        views.append(render(film, loaded, seed, mz=np.load(p)["demag_mz"], k=k))
    return views


def fov_path(folder: Path, seed: int, cells: int, k: int) -> Path:
    return Path(folder).expanduser() / f"fov-{cells}-{seed}-{k}.npz"


def simulate_fovs(film_path: Path, folder: Path, n_fovs: int) -> list[Path]:
    """Fields of view 1 … n−1 of a film beside its own (k = 0, the film's demagnetised state): the same
    D and σ, other grains and another random start (another region of the same film), relaxed by the
    observation study's protocol (BB, tol 1e-3, 6,000 steps). Cached; written atomically."""
    import jax

    from domainfit.physics import Grid, make_material
    from domainfit.physics.simulate import random_state, with_disorder

    _relaxer = _observations_module()._relaxer

    film = dict(np.load(film_path))
    seed, cells = int(film["seed"]), int(film["cells"])
    out = []
    for k in range(1, n_fovs):
        path = fov_path(folder, seed, cells, k)
        out.append(path)
        if path.exists():
            continue
        grid = Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=4e-9)
        key_state, key_grains = jax.random.split(jax.random.fold_in(jax.random.key(seed), 1000 + k))
        mat = with_disorder(make_material("co-pt", D=float(film["D"]), sigma=float(film["sigma"])), grid,
                            key=key_grains)
        t0 = time.perf_counter()
        r = _relaxer(grid, 1e-3, 6000)(random_state(grid, key=key_state, dtype=mat.Ms.dtype), mat)
        tmp = path.with_suffix(".tmp.npz")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, demag_mz=np.asarray(r.m[2], np.float16), steps=int(r.steps), converged=bool(r.converged),
                 seed=seed, k=k, D=float(film["D"]), sigma=float(film["sigma"]))
        tmp.replace(path)
        print(f"film {seed} field of view {k}: {int(r.steps)} steps, {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def observations_of(film: dict, seed: int) -> dict:
    """The film's second observations as a user would have them (measurement errors drawn per film)."""
    import numpyro.distributions as dist

    from domainfit.observations import Measurement, dmi_field_of
    from domainfit.inference import Prior

    rng = np.random.default_rng([seed, 19])
    h_true = dmi_field_of(float(film["D"]), **CO_PT)
    h_read = h_true * (1 + DELTA_REL * rng.standard_normal()) + DMI_READING_T * rng.standard_normal()
    s_read = float(film["sigma"]) + SIGMA_PRIOR_SD * rng.standard_normal()
    extra, read = {}, {}
    if "h_half_T" in film:  # the film's own simulated H½ (its field of view's curve), read with ± 2 mT
        hh = float(film["h_half_T"]) + HALF_FIELD_READING_T * np.random.default_rng([seed, 20]).standard_normal()
        half = Measurement("half_field", hh, HALF_FIELD_READING_T)
        extra = {"image + H½": {"measurements": [half]},
                 "image + DMI field + H½": {"measurements": [Measurement("dmi_field", h_read, DMI_READING_T, DELTA_REL),
                                                             half]}}
        read = {"half_field_mT": hh * 1e3}
    return {**extra,
        "image": {},
        "image + DMI field": {"measurements": [Measurement("dmi_field", h_read, DMI_READING_T, DELTA_REL)]},
        "image + σ prior": {"priors": {"sigma": Prior("sigma", dist.TruncatedNormal(s_read, SIGMA_PRIOR_SD,
                                                                                     low=0.05, high=0.2))}},
        "_read": {"dmi_field_mT": h_read * 1e3, "sigma_read": s_read, **read},
    }


def estimate_film(path: Path, loaded, config, sets=FIRST_PASS, fovs: Path | None = None) -> dict:
    import domainfit as df

    film = dict(np.load(path))
    seed = int(film["seed"])
    img, family = render(film, loaded, seed)
    obs = observations_of(film, seed)
    imgs = [img]
    if any(name in FOV_SETS for name in sets):
        paths = simulate_fovs(path, fovs, N_FOVS)
        imgs += [render(film, loaded, seed, mz=np.load(p)["demag_mz"], k=k)[0] for k, p in enumerate(paths, 1)]
        obs["3 images + DMI field"] = obs["image + DMI field"]
    row = {"film": path.name, "seed": seed, "D": float(film["D"]), "sigma": float(film["sigma"]),
           "instrument": family, **obs["_read"], "sets": {}}
    for name in sets:
        t0 = time.perf_counter()
        what = imgs if name in FOV_SETS else img
        r = df.estimate(what, model=loaded, posterior=config, instrument=family, key=seed, **obs[name])
        post = r.report["posterior"]
        row["sets"][name] = {
            p: {k: post[p][k] * (1e-3 if p == "D" else 1.0) for k in ("mean", "median", "hdi_low", "hdi_high", "sd")}
            for p in ("D", "sigma")}
        row["sets"][name]["trustworthy"] = r.trustworthy
        row["sets"][name]["reasons"] = r.reasons
        row["sets"][name]["seconds"] = time.perf_counter() - t0
        row["sets"][name]["ppc_p"] = (r.report.get("posterior_predictive") or {}).get("p_joint")
    row["cnn"] = {p: {"mean": r.cnn.mean[p], "sd": r.cnn.sd[p]} for p in ("D", "sigma")}
    return row


def films_done(cache: Path, sets) -> set[str]:
    """Films whose rows in ``cache`` already hold every one of ``sets`` (a pass with other sets over the
    same films writes to the same file and must not be skipped)."""
    have: dict[str, set] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                have.setdefault(row["film"], set()).update(row["sets"])
    return {f for f, got in have.items() if set(sets) <= got}


def run(args) -> None:
    import jax

    import domainfit as df
    from domainfit.workflows.estimate import load_model

    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    i, n = (int(v) for v in args.shard.split("/"))
    sets = FOV_SETS if args.fov_pass else tuple(args.sets) if args.sets else FIRST_PASS
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise SystemExit(f"unknown set(s) {unknown}: choose from {SETS}")
    tag = "fov-" if args.fov_pass else "half-" if any(s in HALF_FIELD_SETS for s in sets) else ""
    cache = out / f"rows-{tag}{i}of{n}.jsonl"
    done = films_done(cache, sets)
    if args.make_films:
        a, b = (int(v) for v in args.make_films.split("-"))
        for seed in range(a, b + 1):
            if (seed - a) % n == i:
                make_film(seed, args.cells, Path(args.films[-1]), curve=args.curve)
        return
    files = shard(film_files(args.films)[: args.max_films], i, n)
    if args.simulate_only:
        for f in files:
            simulate_fovs(f, Path(args.fovs), N_FOVS)
        return
    loaded = load_model(args.model)
    config = df.PosteriorConfig(chains=args.chains, samples=args.samples, warmup=args.warmup, predictive=args.predictive)
    for f in files:
        if f.name in done:
            continue
        t0 = time.perf_counter()
        row = estimate_film(f, loaded, config, sets, Path(args.fovs))
        with open(cache, "a") as fh:  # one whole line per film: an interrupted run loses at most the film it was on
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        jax.clear_caches()  # every estimate compiles its own likelihood: drop them, or memory grows film by film
        s = row["sets"]
        print(f"{f.name}: D {row['D'] * 1e3:.3f} σ {row['sigma']:.3f} ({row['instrument']}); "
              + "; ".join(f"{k}: D {v['D']['mean'] * 1e3:.3f} [{v['D']['hdi_low'] * 1e3:.2f}, {v['D']['hdi_high'] * 1e3:.2f}] "
                          f"σ {v['sigma']['mean']:.3f}" for k, v in s.items())
              + f"; {time.perf_counter() - t0:.0f} s", flush=True)


def load_rows(out: Path) -> list[dict]:
    rows = {}
    for f in sorted(Path(out).expanduser().glob("rows-*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["film"] in rows:  # another pass over the same film: its sets join the row
                    rows[r["film"]]["sets"].update(r["sets"])
                else:
                    rows[r["film"]] = r
    return [rows[k] for k in sorted(rows)]


def analyse(rows: list[dict]) -> dict:
    """RMSE, mean HDI width and coverage per set and parameter (D in mJ/m²)."""
    if not rows:
        raise SystemExit("no films estimated yet: run without --analyse first")
    res = {"films": len(rows), "instruments": sorted({r["instrument"] for r in rows}), "sets": {}}
    for name in SETS:
        if not all(name in r["sets"] for r in rows):
            continue  # a pass not run (or not finished) for every film
        per = {}
        for p, f in (("D", 1e3), ("sigma", 1.0)):
            truth = np.array([r[p] for r in rows]) * f
            mean = np.array([r["sets"][name][p]["mean"] for r in rows]) * f
            lo = np.array([r["sets"][name][p]["hdi_low"] for r in rows]) * f
            hi = np.array([r["sets"][name][p]["hdi_high"] for r in rows]) * f
            per[p] = {"rmse": float(np.sqrt(np.mean((mean - truth) ** 2))), "bias": float(np.mean(mean - truth)),
                      "hdi90_width": float(np.mean(hi - lo)), "coverage90": float(np.mean((lo <= truth) & (truth <= hi))),
                      "covered": int(np.sum((lo <= truth) & (truth <= hi)))}
        per["sigma_rmse_by_instrument"] = {
            fam: float(np.sqrt(np.mean([(r["sets"][name]["sigma"]["mean"] - r["sigma"]) ** 2
                                        for r in rows if r["instrument"] == fam])))
            for fam in sorted({r["instrument"] for r in rows})}
        per["untrustworthy"] = int(sum(not r["sets"][name]["trustworthy"] for r in rows))
        per["seconds_median"] = float(np.median([r["sets"][name]["seconds"] for r in rows]))
        res["sets"][name] = per
    d = np.array([r["D"] for r in rows])
    h = d / (CO_PT["Ms"] * math.sqrt(CO_PT["A"] / (CO_PT["Ku"] - 0.5 * 4e-7 * math.pi * CO_PT["Ms"] ** 2)))
    # the measurement alone, D = μ0H Ms Δ: its error is the reading and the Δ error, per film
    alone = np.sqrt((DMI_READING_T / h) ** 2 + DELTA_REL**2) * d * 1e3
    res["dmi_field_alone_D_sd"] = {"rms": float(np.sqrt(np.mean(alone**2)))}
    return res


def print_result(res: dict) -> None:
    print(f"{res['films']} held-out films, one test-instrument view each ({', '.join(res['instruments'])})")
    print(f"{'observations':<22} {'D RMSE':>7} {'D 90% width':>12} {'D cover':>8} {'σ RMSE':>7} {'σ width':>8} "
          f"{'σ cover':>8} {'flagged':>7} {'s/film':>7}")
    for name, v in res["sets"].items():
        print(f"{name:<22} {v['D']['rmse']:7.3f} {v['D']['hdi90_width']:12.3f} {v['D']['coverage90']:8.0%} "
              f"{v['sigma']['rmse']:7.4f} {v['sigma']['hdi90_width']:8.4f} {v['sigma']['coverage90']:8.0%} "
              f"{v['untrustworthy']:7d} {v['seconds_median']:7.1f}")
    for name, v in res["sets"].items():
        print(f"σ RMSE by instrument, {name}: "
              + ", ".join(f"{k} {e:.4f}" for k, e in v["sigma_rmse_by_instrument"].items()))
    print(f"(the DMI field alone gives D to ± {res['dmi_field_alone_D_sd']['rms']:.3f} mJ/m² rms; D in mJ/m²)")


def main(argv=None) -> dict | None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--films", required=True, nargs="+",
                   help="folder(s) of film-*.npz from studies/observations.py (--make-films writes into the last)")
    p.add_argument("--make-films", metavar="FIRST-LAST",
                   help="relax the demagnetised states of film seeds FIRST…LAST the observation study has not made")
    p.add_argument("--curve", action="store_true",
                   help="with --make-films: also the initial magnetisation curve and its H½ (physics.curve)")
    p.add_argument("--cells", type=int, default=512)
    p.add_argument("--out", required=True, help="folder of the per-film results (resumable)")
    p.add_argument("--model", default="default")
    p.add_argument("--shard", default="0/1", help="i/n: estimate films k with k mod n == i")
    p.add_argument("--max-films", type=int, default=None)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--predictive", type=int, default=200)
    p.add_argument("--fov-pass", action="store_true",
                   help=f"the sets with {N_FOVS} fields of view per film ({', '.join(FOV_SETS)}): simulates the "
                        "extra fields of view first (cached in --fovs)")
    p.add_argument("--sets", nargs="+", metavar="SET",
                   help=f"the one-image sets to run (default: {', '.join(FIRST_PASS)}); the H½ sets "
                        f"({', '.join(HALF_FIELD_SETS)}) need films made with --curve")
    p.add_argument("--simulate-only", action="store_true", help="only relax the extra fields of view (cached)")
    p.add_argument("--fovs", default="~/domainfit-data/joint_fovs", help="folder of the extra fields of view")
    p.add_argument("--analyse", action="store_true")
    p.add_argument("--json")
    p.add_argument("--plot")
    args = p.parse_args(argv)
    if not args.analyse:
        run(args)
        return None
    rows = load_rows(args.out)
    res = analyse(rows)
    print_result(res)
    if args.json:  # with each film's row: the figure can be scored again without its films
        Path(args.json).write_text(json.dumps(dict(res, rows=rows), indent=1))
    if args.plot:
        plot_joint(rows, res, Path(args.plot))
    return res


if __name__ == "__main__":
    main()
