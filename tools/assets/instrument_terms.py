"""Measure the instrument term of the shipped emulator on calibration films and write it into the emulator.

Calibration films (demagnetised co-pt states made as the observation study makes its films, seeds in
no dataset and in no test: ``joint_observations.py --make-films 21000-21039`` into their own folder)
are each recorded by ``--draws`` instruments of every family, drawn from the training distribution with
the family forced (own seed stream ``[seed, 77, family, k]``), and read by the shipped network as a
user's image with the family named. Each view's statistics are standardised by the pooled emulator at
the film's θ; ``surrogate.instrument_terms.fit_instrument_terms`` gives each training family's bias,
its error and its scatter. Families training never drew (``lorentzian``) are read too and reported,
not fitted: they show how large an unmeasured family's bias is against the spread the term assumes.

Run (docs/observations.md, "The instrument term"):
    python -m studies.joint_observations --films ~/domainfit-data/cal_films --out ~/domainfit-data/joint_cal \\
        --make-films 21000-21039 --shard 0/2                                 # and 1/2
    python -m tools.assets.instrument_terms --films ~/domainfit-data/cal_films --cache ~/domainfit-data/cal_views_0.jsonl \\
        --draws 6 --shard 0/2                                 # and cal_views_1.jsonl --shard 1/2: the readings
    python -m tools.assets.instrument_terms --films ~/domainfit-data/cal_films --cache ~/domainfit-data/cal_views_*.jsonl \\
        --fit --write src/domainfit/assets/cnn_default.emulator.npz --json docs/figures/instrument_terms.json
Tests: tests/test_instrument_terms.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

import numpy as np

CALIBRATION_FAMILIES = ("ideal", "gaussian", "mfm", "probe", "lorentzian")


def read_film(path: Path, loaded, draws: int, families=CALIBRATION_FAMILIES) -> dict:
    """The network's reading of one film recorded by ``draws`` instruments of each family."""
    import domainfit as df
    from domainfit.data.instruments import TRAINING, draw_instrument
    from domainfit.data.views import recorded
    from domainfit.imaging import from_array

    film = dict(np.load(path))
    seed = int(film["seed"])
    mz = np.asarray(film["demag_mz"], np.float32)
    views = []
    for j, fam in enumerate(families):
        for k in range(draws):
            inst = draw_instrument(TRAINING, np.random.default_rng([seed, 77, j, k]), family=fam)
            raw = recorded(mz, 4e-9, 4e-9, inst, [seed, 77, j, k, 1])
            img = from_array(raw, inst.pixel_size, flatten=loaded.flatten)
            r = df.estimate(img, model=loaded, instrument=fam, key=seed)
            views.append(dict(family=fam, pixel_nm=inst.pixel_size * 1e9, cnn_D=r.cnn.mean["D"] * 1e3,
                              cnn_sigma=r.cnn.mean["sigma"],
                              area_m2=img.data.shape[0] * img.data.shape[1] * img.pixel_size**2))
    return dict(film=path.name, seed=seed, D=float(film["D"]), sigma=float(film["sigma"]), views=views)


def load_cache(cache: Path) -> list[dict]:
    if not cache.exists():
        return []
    return [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]


def residuals(rows: list[dict], emulator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z [N, n], family [N], film seed [N]) of every view."""
    from domainfit.surrogate.likelihood import standardised_residuals

    z, fam, film = [], [], []
    for r in rows:
        theta = {"D": r["D"], "sigma": r["sigma"]}
        for v in r["views"]:
            s = [v[n] for n in emulator.stat_names]
            z.append(standardised_residuals(emulator, theta, s, emulator.area / v["area_m2"]))
            fam.append(v["family"])
            film.append(r["seed"])
    return np.array(z), np.array(fam), np.array(film)


def fit(rows: list[dict], emulator, command: str):
    from domainfit.data.instruments import TRAINING
    from domainfit.surrogate.instrument_terms import fit_instrument_terms

    z, fam, film = residuals(rows, emulator)
    weights = dict(TRAINING.families)
    source = (f"{len(rows)} calibration films (seeds {min(r['seed'] for r in rows)}–{max(r['seed'] for r in rows)}), "
              f"{len(z)} views; {datetime.date.today().isoformat()}; {command}")
    terms = fit_instrument_terms(z, fam, film, weights, emulator.stat_names, source=source)
    # every family read, the untrained ones too, measured the same way (only the trained ones are shipped)
    every = fit_instrument_terms(z, fam, film, {f: 1.0 for f in set(fam.tolist())}, emulator.stat_names)
    summary = {f: {"views": t.views, "films": t.films, "fitted": f in weights, "bias": list(t.bias),
                   "bias_se": list(t.bias_se), "rms": np.sqrt((z[fam == f] ** 2).mean(axis=0)).tolist()}
               for f, t in sorted(every.families.items())}
    bbar, cbar, tau2, _ = terms._mixture()
    return terms, {"stat_names": list(emulator.stat_names), "families": summary, "mixture_bias": bbar.tolist(),
                   "mixture_scale": cbar.tolist(), "between_family_var": tau2.tolist(), "source": source}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--films", required=True, help="folder of calibration film-*.npz")
    p.add_argument("--cache", required=True, nargs="+",
                   help="JSON lines of the readings (resumable, one line per film; one file per shard: --fit reads all)")
    p.add_argument("--model", default="default")
    p.add_argument("--draws", type=int, default=6, help="instruments per family and film")
    p.add_argument("--shard", default="0/1")
    p.add_argument("--fit", action="store_true", help="fit the terms to the cached readings")
    p.add_argument("--write", help="with --fit: write the emulator with the terms to this .npz")
    p.add_argument("--json", help="with --fit: the per-family summary")
    args = p.parse_args(argv)

    import jax

    from domainfit.workflows.estimate import load_model

    caches = [Path(c).expanduser() for c in args.cache]
    cache = caches[0]
    loaded = load_model(args.model)
    if not args.fit:
        from studies.joint_observations import film_files, shard

        i, n = (int(v) for v in args.shard.split("/"))
        done = {r["film"] for r in load_cache(cache)}
        for f in shard(film_files(args.films), i, n):
            if f.name in done:
                continue
            row = read_film(f, loaded, args.draws)
            with open(cache, "a") as fh:  # one whole line per film
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            jax.clear_caches()
            print(f"{f.name}: {len(row['views'])} views", flush=True)
        return None
    from domainfit.surrogate.instrument_terms import attach

    from domainfit.surrogate.emulator import Emulator
    from domainfit.nn import emulator_path

    emulator = Emulator.load(emulator_path(loaded.path))
    rows = [r for c in caches for r in load_cache(c)]
    terms, summary = fit(rows, emulator, "python -m tools.assets.instrument_terms --fit")
    for f, v in summary["families"].items():
        print(f"{f:<11} {v['films']:3d} films {v['views']:4d} views  bias "
              + ", ".join(f"{s} {b:+.2f} ± {e:.2f}" for s, b, e in zip(summary["stat_names"], v["bias"], v["bias_se"]))
              + "  rms " + ", ".join(f"{r:.2f}" for r in v["rms"]) + ("" if v["fitted"] else "  (not fitted)"))
    print("mixture bias", np.round(summary["mixture_bias"], 3), "scale", np.round(summary["mixture_scale"], 3),
          "between-family variance", np.round(summary["between_family_var"], 3))
    if args.write:
        out = attach(emulator, terms).save(args.write)
        print(f"wrote {out}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
