"""Which second observation of a film breaks the D–σ degeneracy? A measurement with the simulator.

For each film (co-pt set, D and σ drawn uniformly over the shipped model's box, its own grains and
random start; Ms, Ku, A fixed) the script simulates what an experimentalist could add to the one
demagnetised image:

- ``demag``: the maze relaxed from a random state at zero field (the training data's protocol: BB,
  tol 1e-3, 6,000 steps at most);
- ``field``: the same film imaged under perpendicular fields (default 20 and 50 mT), each relaxed by
  continuation from the state before (a minor loop from the demagnetised state: pinning freezes a
  pattern that wall energy alone would move);
- ``curve``: the initial magnetisation curve from the demagnetised state, ⟨m_z⟩ at a ladder of fields
  (10 … 300 mT, continuation, up to saturation); the fields where it reaches ⟨m_z⟩ = ¼, ½ and 0.9 are
  what a magnetometer (VSM, Kerr or Hall loop of the demagnetised film) gives;
- ``remanence``: the state relaxed at zero field from saturation (+z with a 1 % random tilt), imaged:
  reversed domains nucleate only where the disorder and the wall energy let them at zero temperature
  (small films often stay saturated).

``--analyse`` then renders every image through instrument models the CNN was not trained with
(``data.instruments.TEST``, its own seed stream) and measures, per observation set, how well D and σ
are determined by cross-validated regression (linear or quadratic ridge, leaving one film out at a time) from what that set
records: the shipped CNN's D̂, σ̂ and the wall density of the demagnetised image; the wall density and
domain area fraction of each field image and of the remanent image; H¼, H½, H0.9 with a ±3 mT
reading error each. The cross-validated RMSE is the
width a posterior with that observation set could reach; the single image's is beside it.

Relaxations are cached per film (``--cache``), so the run resumes and shards (``--shard i/n``).

Run:   python -m studies.observations --films 64 --cells 512 --cache ~/domainfit-data/obs_study --shard 0/2
       python -m studies.observations --cache ~/domainfit-data/obs_study --analyse --json out.json --plot out.png
Tests: --cells 64 --films 3 (tests/test_observations.py)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from studies.figures import plot_observations

MU0 = 4e-7 * math.pi
BOX = {"D": (0.1e-3, 1.0e-3), "sigma": (0.05, 0.2)}
LADDER_MT = (10.0, 20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0, 300.0)
READING_ERROR_MT = 3.0


def film_parameters(seed: int) -> dict[str, float]:
    u = np.random.default_rng(seed).uniform(size=2)
    return {k: lo + ui * (hi - lo) for ui, (k, (lo, hi)) in zip(u, BOX.items())}


def simulate_film(seed: int, cells: int, fields_mT: tuple[float, ...], tol: float = 1e-3, max_steps: int = 6000) -> dict:
    """Relax the demagnetised maze, its initial magnetisation curve (with the field images on it) and the
    zero-field state from saturation of one film."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from domainfit.physics import Grid, make_material
    from domainfit.physics.simulate import random_state, with_disorder

    grid = Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=4e-9)
    theta = film_parameters(seed)
    key_state, key_grains = jax.random.split(jax.random.key(seed))
    mat = with_disorder(make_material("co-pt", D=theta["D"], sigma=theta["sigma"]), grid, key=key_grains)
    run = _relaxer(grid, tol, max_steps)

    def at_field(h_mT):
        return eqx.tree_at(lambda x: x.H_ext, mat, jnp.array([0.0, 0.0, h_mT * 1e-3 / MU0], mat.Ms.dtype))

    t0 = time.perf_counter()
    r = run(random_state(grid, key=key_state, dtype=mat.Ms.dtype), mat)
    out = {"seed": seed, "cells": cells, **theta, "demag_mz": np.asarray(r.m[2], np.float16),
           "demag_steps": int(r.steps), "demag_converged": bool(r.converged)}
    # the initial magnetisation curve from the demagnetised state, by continuation up a ladder of fields;
    # the field images are the states at the requested fields on that path
    m = demag_m = r.m
    curve_h, curve_mz, images, steps = [0.0], [float(jnp.mean(demag_m[2]))], {}, {}
    for h in sorted(set(LADDER_MT) | set(fields_mT)):
        if curve_mz[-1] > 0.98:  # saturated: higher fields keep it so
            break
        r = run(m, at_field(h))
        m = r.m
        curve_h.append(h)
        curve_mz.append(float(jnp.mean(m[2])))
        if h in fields_mT:
            images[h], steps[h] = np.asarray(m[2], np.float16), int(r.steps)
    for h in fields_mT:  # saturated before reaching it: the image is the saturated state
        images.setdefault(h, np.asarray(m[2], np.float16))
        steps.setdefault(h, 0)
    out.update(fields_mT=np.asarray(fields_mT, float), field_mz=np.asarray([images[h] for h in fields_mT]),
               field_steps=np.asarray([steps[h] for h in fields_mT]))
    tilt = 0.01 * jax.random.normal(jax.random.fold_in(key_state, 1), (3, cells, cells), mat.Ms.dtype)
    r = run(jnp.zeros((3, cells, cells), mat.Ms.dtype).at[2].set(1.0) + tilt, mat)
    out.update(curve_mT=np.asarray(curve_h), curve_mz=np.asarray(curve_mz), remanence_mz=float(jnp.mean(r.m[2])),
               remanence_image=np.asarray(r.m[2], np.float16), seconds=time.perf_counter() - t0)
    return out


def _relaxer(grid, tol, max_steps):
    """The jitted BB relaxation of the study's protocol (cached per grid and tolerance)."""
    from domainfit.physics.curve import _relaxer as relaxer
    from domainfit.physics.relax import BB

    return relaxer(grid, tol, max_steps, BB())


def curve_field(curve_mT: np.ndarray, curve_mz: np.ndarray, level: float) -> float:
    """Field [mT] at which the initial magnetisation curve first reaches ⟨m_z⟩ = ``level``, interpolated
    linearly between its points (the last field when it never does)."""
    above = np.nonzero(curve_mz >= level)[0]
    if len(above) == 0:
        return float(curve_mT[-1])
    i = int(above[0])
    if i == 0:
        return 0.0
    h0, h1, m0, m1 = curve_mT[i - 1], curve_mT[i], curve_mz[i - 1], curve_mz[i]
    return float(h0 + (level - m0) / (m1 - m0) * (h1 - h0))


def half_field(curve_mT: np.ndarray, curve_mz: np.ndarray) -> float:
    """H½: the field [mT] where the initial curve reaches ⟨m_z⟩ = ½."""
    return curve_field(curve_mT, curve_mz, 0.5)


CURVE_LEVELS = (0.25, 0.5, 0.9)
"""⟨m_z⟩ levels of the initial curve whose fields the magnetometry observation reports (H¼, H½, H0.9:
the last is near the saturation field, where the wall energy rather than the pinning decides)."""


def run_films(args) -> list[Path]:
    cache = Path(args.cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    i_shard, n_shard = (int(v) for v in args.shard.split("/"))
    fields = tuple(float(v) for v in args.fields.split(","))
    done = []
    for k in range(args.films):
        seed = args.first_seed + k
        if k % n_shard != i_shard:
            continue
        path = cache / f"film-{args.cells}-{seed}.npz"
        if not path.exists():
            out = simulate_film(seed, args.cells, fields)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **out)
            tmp.replace(path)
            print(f"film {seed}: D {out['D'] * 1e3:.3f} mJ/m², σ {out['sigma']:.3f}; demag {out['demag_steps']} steps, "
                  f"<mz> at {args.fields} mT: " + ", ".join(f"{float(np.mean(z.astype(np.float32))):+.2f}" for z in out["field_mz"])
                  + f"; H½ {half_field(out['curve_mT'], out['curve_mz']):.0f} mT; remanence from saturation "
                  f"{out['remanence_mz']:+.3f}; {out['seconds']:.0f} s", flush=True)
        done.append(path)
    return done


# --- analysis --------------------------------------------------------------------------------------

def _features(film: dict, loaded, rng: np.random.Generator, instrument_seed: int) -> dict[str, np.ndarray]:
    """What each observation records, read from images rendered by a fresh test instrument."""
    import domainfit as df
    from domainfit.features import statistics as stats
    from domainfit.data.instruments import TEST, draw_instrument
    from domainfit.data.views import recorded
    from domainfit.imaging import from_array

    inst_rng = np.random.default_rng(instrument_seed)
    inst = draw_instrument(TEST, inst_rng, pixel_size=16e-9 if film["cells"] >= 256 else 4e-9)
    feats = {}

    def read(mz):
        raw = recorded(np.asarray(mz, np.float32), 4e-9, 4e-9, inst, instrument_seed)
        return from_array(raw, inst.pixel_size, flatten=loaded.flatten)

    img = read(film["demag_mz"])
    est = df.estimate(img, model=loaded, single_view=True)
    feats["demag"] = np.array([est.cnn.mean["D"] * 1e3, est.cnn.mean["sigma"],
                               float(stats.wall_density(img.data, img.pixel_size)) * 1e-6])
    def walls_and_area(mz):
        if float(np.std(np.asarray(mz, np.float32))) < 1e-3:  # saturated: a uniform image, no walls
            return [0.0, 1.0]
        im = read(mz)
        return [float(stats.wall_density(im.data, im.pixel_size)) * 1e-6, float(np.mean(im.data > 0))]

    feats["field"] = np.array([v for mz in film["field_mz"] for v in walls_and_area(mz)])
    feats["remanence"] = np.array(walls_and_area(film["remanence_image"]))
    feats["curve"] = np.array([curve_field(film["curve_mT"], film["curve_mz"], lv) + READING_ERROR_MT * rng.standard_normal()
                               for lv in CURVE_LEVELS])
    return feats


SETS = {
    "one image (demag)": ("demag",),
    "demag + field series": ("demag", "field"),
    "demag + magnetisation curve (H¼, H½, H0.9)": ("demag", "curve"),
    "demag + remanent image after saturation": ("demag", "remanence"),
    "demag + field series + curve": ("demag", "field", "curve"),
    "all of them": ("demag", "field", "curve", "remanence"),
    "field series alone": ("field",),
    "magnetisation curve alone": ("curve",),
}


def _quadratic(x: np.ndarray, degree: int = 2) -> np.ndarray:
    n, d = x.shape
    cols = [np.ones(n)] + [x[:, i] for i in range(d)]
    if degree >= 2:
        cols += [x[:, i] * x[:, j] for i in range(d) for j in range(i, d)]
    return np.stack(cols, 1)


def loo_rmse(x: np.ndarray, y: np.ndarray, lams=(1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
             groups: np.ndarray | None = None, degree: int = 2) -> tuple[float, float]:
    """Cross-validated RMSE of a polynomial (``degree`` 1 or 2) ridge regression of y on x (features
    standardised), leaving out one row at a time, or one group at a time (``groups``: the views of one
    film go out together, so a film never predicts itself). The ridge λ is chosen by that error
    itself, so the figure is slightly optimistic. Returns (RMSE, λ)."""
    xs = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    phi = _quadratic(xs, degree)
    best = (math.inf, None)
    for lam in lams:
        pen = lam * np.eye(phi.shape[1])
        pen[0, 0] = 0.0
        if groups is None:
            hat = phi @ np.linalg.solve(phi.T @ phi + pen, phi.T)
            loo = (y - hat @ y) / np.clip(1 - np.diag(hat), 1e-6, None)
        else:
            loo = np.empty_like(y)
            for g in np.unique(groups):
                out = groups == g
                beta = np.linalg.solve(phi[~out].T @ phi[~out] + pen, phi[~out].T @ y[~out])
                loo[out] = y[out] - phi[out] @ beta
        rmse = float(np.sqrt(np.mean(loo**2)))
        if rmse < best[0]:
            best = (rmse, lam)
    return best


def sensitivities(films: list[dict]) -> dict:
    """Each observable (from the simulation itself, no instrument) fitted as c + a·D + b·σ over the films
    (D in mJ/m²): a, b, the residual sd, and b/a — the D-equivalent of one unit of σ, in mJ/m². An
    observation breaks the D–σ ridge of the demagnetised image's geometry only where its b/a differs
    from the wall density's."""
    from domainfit.features import statistics as stats

    def wd(mz):
        mz = np.asarray(mz, np.float32)
        return 0.0 if float(np.std(mz)) < 1e-3 else float(stats.wall_density(mz, 4e-9)) * 1e-6

    obs = {"wall density, demag [1/µm]": [wd(f["demag_mz"]) for f in films]}
    for k, h in enumerate(films[0]["fields_mT"]):
        obs[f"wall density at {h:g} mT [1/µm]"] = [wd(f["field_mz"][k]) for f in films]
        obs[f"<m_z> at {h:g} mT"] = [float(np.mean(np.asarray(f["field_mz"][k], np.float32))) for f in films]
    for lv in CURVE_LEVELS:
        obs[f"H at <m_z> = {lv:g} [mT]"] = [curve_field(f["curve_mT"], f["curve_mz"], lv) for f in films]
    obs["<m_z> remanent after saturation"] = [float(f["remanence_mz"]) for f in films]
    X = np.stack([np.ones(len(films)), [float(f["D"]) * 1e3 for f in films], [float(f["sigma"]) for f in films]], 1)
    out = {}
    for name, v in obs.items():
        v = np.asarray(v, float)
        beta = np.linalg.lstsq(X, v, rcond=None)[0]
        resid = v - X @ beta
        out[name] = {"per_mJ_m2_of_D": float(beta[1]), "per_unit_sigma": float(beta[2]),
                     "residual_sd": float(np.std(resid, ddof=3)) if len(films) > 3 else float("nan"),
                     "D_equivalent_of_sigma_mJ_m2": float(beta[2] / beta[1]) if beta[1] != 0 else float("inf")}
    return out


def pair_widths(sens: dict, base: str = "wall density, demag [1/µm]") -> dict:
    """sd of D [mJ/m²] and of σ from the demagnetised wall density together with each other observable,
    by the Fisher information of the two linear relations with their film-to-film residual sd as noise
    (field readings get the ±3 mT reading error on top): F = Σ g gᵀ/s², g = (a, b). Nearly parallel
    g (similar b/a) leave F nearly singular: the ridge survives."""
    def g_s(name):
        v = sens[name]
        extra = READING_ERROR_MT if name.startswith("H at") else 0.0
        return np.array([v["per_mJ_m2_of_D"], v["per_unit_sigma"]]), math.hypot(v["residual_sd"], extra)

    g0, s0 = g_s(base)
    out = {}
    for name in sens:
        if name == base:
            continue
        g1, s1 = g_s(name)
        F = np.outer(g0, g0) / s0**2 + np.outer(g1, g1) / max(s1, 1e-12) ** 2
        if np.linalg.cond(F) > 1e12:  # parallel relations: one direction is not measured at all
            out[name] = {"D_sd_mJ_m2": math.inf, "sigma_sd": math.inf}
            continue
        cov = np.linalg.inv(F)
        out[name] = {"D_sd_mJ_m2": float(math.sqrt(cov[0, 0])), "sigma_sd": float(math.sqrt(cov[1, 1]))}
    return out


def analyse(args) -> dict:
    from domainfit.nn import load_default

    cache = Path(args.cache).expanduser()
    files = sorted(cache.glob(f"film-{args.cells}-*.npz"))
    if len(files) < 8:
        raise SystemExit(f"{len(files)} films in {cache}: simulate more first (need ≥ 8)")
    loaded = load_default()
    rng = np.random.default_rng(12345)
    films, rows = [], []
    for f in files:
        z = dict(np.load(f))
        z["cells"] = int(z["cells"])
        for v in range(args.views):
            feats = _features(z, loaded, rng, instrument_seed=10_000 * (v + 1) + int(z["seed"]))
            rows.append((float(z["D"]) * 1e3, float(z["sigma"]), feats, int(z["seed"])))
        films.append(z)
    y_D = np.array([r[0] for r in rows])
    y_s = np.array([r[1] for r in rows])
    groups = np.array([r[3] for r in rows])
    result = {"films": len(films), "views_per_film": args.views, "cells": args.cells,
              "fields_mT": [float(v) for v in films[0]["fields_mT"]], "reading_error_mT": READING_ERROR_MT,
              "prior_sd": {"D": float(np.std(y_D)), "sigma": float(np.std(y_s))}, "sets": {}}
    for name, parts in SETS.items():
        x = np.concatenate([np.stack([r[2][p] for r in rows]) for p in parts], 1)
        # linear or quadratic, whichever cross-validates better (chosen per set and target alike)
        (rd, lam_d), deg_d = min((loo_rmse(x, y_D, groups=groups, degree=k), k) for k in (1, 2))
        (rs, lam_s), deg_s = min((loo_rmse(x, y_s, groups=groups, degree=k), k) for k in (1, 2))
        result["sets"][name] = {"D_rmse_mJ_m2": rd, "sigma_rmse": rs, "features": int(x.shape[1]),
                                "ridge_D": lam_d, "ridge_sigma": lam_s, "degree_D": deg_d, "degree_sigma": deg_s}
    result["sensitivities"] = sensitivities(films)
    result["with_demag_wall_density"] = pair_widths(result["sensitivities"])
    hh = np.array([half_field(f["curve_mT"], f["curve_mz"]) for f in films])
    rem = np.array([float(f["remanence_mz"]) for f in films])
    result["half_field_mT"] = {"min": float(hh.min()), "median": float(np.median(hh)), "max": float(hh.max())}
    result["remanence_from_saturation_mz"] = {"min": float(rem.min()), "median": float(np.median(rem)),
                                              "max": float(rem.max()), "saturated": int(np.sum(rem > 0.999))}
    return result


def print_result(res: dict) -> None:
    print("observable = c + a·D + b·σ over the films (D in mJ/m²; no instrument):")
    print(f"  {'observable':36s} {'a (per mJ/m²)':>14s} {'b (per σ)':>10s} {'resid sd':>9s} {'b/a [mJ/m²]':>12s}")
    for name, v in res["sensitivities"].items():
        print(f"  {name:36s} {v['per_mJ_m2_of_D']:14.3f} {v['per_unit_sigma']:10.2f} {v['residual_sd']:9.3f} "
              f"{v['D_equivalent_of_sigma_mJ_m2']:12.2f}")
    print("demagnetised wall density together with one more observable (Fisher, film-to-film noise):")
    for name, v in res["with_demag_wall_density"].items():
        print(f"  + {name:34s} D sd {v['D_sd_mJ_m2']:6.3f} mJ/m², σ sd {v['sigma_sd']:.4f}")
    print(f"{res['films']} films × {res['views_per_film']} instrument views, {res['cells']}² cells; fields "
          f"{res['fields_mT']} mT; prior sd D {res['prior_sd']['D']:.3f} mJ/m², σ {res['prior_sd']['sigma']:.4f}")
    print(f"{'observation set':42s} {'D RMSE [mJ/m²]':>15s} {'σ RMSE':>8s}")
    for name, s in sorted(res["sets"].items(), key=lambda kv: kv[1]["D_rmse_mJ_m2"]):
        print(f"{name:42s} {s['D_rmse_mJ_m2']:15.3f} {s['sigma_rmse']:8.4f}")


def main(argv=None) -> dict | list:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--films", type=int, default=64)
    p.add_argument("--first-seed", type=int, default=20_000, help="film seeds first-seed … (in no dataset)")
    p.add_argument("--cells", type=int, default=512)
    p.add_argument("--fields", default="20,50", help="perpendicular fields of the field series [mT]")
    p.add_argument("--cache", default="~/domainfit-data/obs_study", help="folder of the per-film relaxations")
    p.add_argument("--shard", default="0/1", help="i/n: simulate films k with k mod n == i")
    p.add_argument("--analyse", action="store_true", help="analyse the cached films instead of simulating")
    p.add_argument("--views", type=int, default=2, help="instrument views per film in the analysis")
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    if not args.analyse:
        return run_films(args)
    res = analyse(args)
    print_result(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    if args.plot:
        plot_observations(res, args.plot)
    return res


if __name__ == "__main__":
    main()
