"""The exact posterior of several fields of view + the DMI field on a grid: where its coverage comes from.

For films with three fields of view (``studies.joint_observations --make-films … --fov-pass
--simulate-only``), each view is recorded by the film's one test instrument and read by the shipped
CNN exactly as ``estimate`` reads it (``studies.fov_repeat``), and the film's DMI field is read with the
study's errors (``joint_observations.observations_of``). The likelihood ``estimate`` builds from them
(``JointLikelihood`` of the views' ``EmulatorLikelihood`` with the named family, and the measurement) is
evaluated on a grid over the emulator's box (uniform prior, as the study draws its films) — no sampler —
for three observation sets: the DMI field alone, the three views alone, and both. Per set and parameter:
90 % HDI coverage, RMSE of the posterior mean, mean width and the rms of (mean − truth)/sd. With the
readings cached (``--cache``, one JSON line per film), a rerun costs seconds per film, so variants of the
likelihood can be compared on the same readings. ``--from-residuals`` scores a set whose films are gone
from the residuals ``studies.fov_repeat`` recorded; ``--self-check N`` scores N films whose readings are
drawn from the likelihood itself (what an exactly right likelihood shows on that many films); ``--pool``
scores several figures' rows together.

  python -m studies.fov_grid --films ~/domainfit-data/fovcal/films --fovs ~/domainfit-data/fovcal/fovs \\
      --cache ~/domainfit-data/fovcal/readings.jsonl --json docs/figures/fov_grid_calibration.json
  python -m studies.fov_grid --from-residuals docs/figures/fov_repeat_heldout.json --json docs/figures/fov_grid_20000.json
  python -m studies.fov_grid --self-check 400 --json docs/figures/fov_grid_self_check.json
  python -m studies.fov_grid --pool docs/figures/fov_grid_20000.json docs/figures/fov_grid_24000.json …
Tests: tests/test_fov_grid.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from studies._summary import print_and_write
from studies.fov_repeat import DEFAULT_EMULATOR

GRID = 161
SETS = ("DMI field", "3 images", "3 images + DMI field")
HDI = 0.9


def read_film(path: Path, fovs: Path, loaded, stat_names) -> dict:
    """The film's three views as ``estimate`` reads them: statistics, pixel size and area per view, the
    instrument family, the DMI field as read (T, with its reading sd and relative model error)."""
    import domainfit as df
    from domainfit.surrogate.learned import summary_with_cnn
    from studies.joint_observations import observations_of, views_of

    film = dict(np.load(path))
    seed = int(film["seed"])
    views = views_of(film, loaded, fovs)
    family = views[0][1]
    stats, areas = [], []
    for img, _ in views:
        r = df.estimate(img, model=loaded, instrument=family)
        stats.append([float(v) for v in summary_with_cnn(r.cnn.mean, stat_names, support=r.cnn.support)(img.data, img.pixel_size)])
        areas.append(float(img.data.shape[0] * img.data.shape[1] * img.pixel_size**2))
    m = observations_of(film, seed)["image + DMI field"]["measurements"][0]
    return dict(film=path.name, seed=seed, family=family, D=float(film["D"]), sigma=float(film["sigma"]),
                stats=stats, areas=areas, dmi_field=dict(value=m.value, sd=m.sd, rel=m.rel_model_sd))


def from_residuals(rows: list[dict], emu, cells: int = 512) -> list[dict]:
    """Readings rebuilt from ``studies.fov_repeat``'s rows — each view's z = (s − μ(θ))/σ_tot(θ) at the
    film's true θ under the named family's term — as s = μ(θ) + z σ_tot(θ): exact while the emulator's
    mean and variances at θ are those the rows were standardised with (the repeat ρ enters neither), so
    a set whose films are gone is scored again. Views at 16 nm pixels of a ``cells``² film of 4 nm cells
    (``joint_observations.render``); the DMI field read again from the film's seed."""
    import jax.numpy as jnp

    from domainfit.surrogate.likelihood import EmulatorLikelihood
    from studies.joint_observations import observations_of

    area = (cells * 4e-9) ** 2
    out = []
    for r in rows:
        theta = {"D": jnp.float32(r["D"]), "sigma": jnp.float32(r["sigma"])}
        lik = EmulatorLikelihood(emu, jnp.zeros(len(emu.stat_names)), area_ratio=emu.area / area, instrument=r["family"])
        mean, own, shared = (np.asarray(a, np.float64) for a in lik.moment_parts(theta))
        sd = np.sqrt(np.diag(own + shared))
        m = observations_of({"D": r["D"], "sigma": r["sigma"]}, int(r["seed"]))["image + DMI field"]["measurements"][0]
        out.append(dict(film=f"film-{cells}-{r['seed']}.npz", seed=int(r["seed"]), family=r["family"], D=r["D"],
                        sigma=r["sigma"], stats=[(mean + np.asarray(z) * sd).tolist() for z in r["z"]],
                        areas=[area] * len(r["z"]), dmi_field=dict(value=m.value, sd=m.sd, rel=m.rel_model_sd)))
    return out


def self_check_rows(n: int, emu, seed: int = 0, cells: int = 512) -> list[dict]:
    """``n`` films whose readings are drawn from the likelihood itself: θ uniform over the box, the
    families of ``data.instruments.TEST`` in turn, the three views' statistics from the joint Gaussian
    (repeat included) at θ and the DMI field read with the study's errors. Coverage on these is what an
    exactly right likelihood gives on n films: the yardstick for the real ones."""
    import jax.numpy as jnp

    from domainfit.data.instruments import TEST
    from domainfit.observations.measurements import JointLikelihood, dmi_field_of
    from domainfit.surrogate.likelihood import EmulatorLikelihood
    from studies.joint_observations import CO_PT, DELTA_REL, DMI_READING_T, N_FOVS

    rng = np.random.default_rng([seed, 34])
    families = [f for f, _ in TEST.families]
    area = (cells * 4e-9) ** 2
    rows = []
    for k in range(n):
        d, s = (float(rng.uniform(*emu.box[p])) for p in ("D", "sigma"))
        fam = families[k % len(families)]
        joint = JointLikelihood([EmulatorLikelihood(emu, jnp.zeros(len(emu.stat_names)), area_ratio=emu.area / area,
                                                    instrument=fam) for _ in range(N_FOVS)])
        mean, cov = joint.moments({"D": jnp.float32(d), "sigma": jnp.float32(s)})
        x = rng.multivariate_normal(np.asarray(mean, float), np.asarray(cov, float))
        h = dmi_field_of(d, **CO_PT)
        h = h * (1 + DELTA_REL * rng.standard_normal()) + DMI_READING_T * rng.standard_normal()
        rows.append(dict(film=f"self-check-{k}", seed=k, family=fam, D=d, sigma=s, stats=x.reshape(N_FOVS, -1).tolist(),
                         areas=[area] * N_FOVS, dmi_field=dict(value=h, sd=DMI_READING_T, rel=DELTA_REL)))
    return rows


def likelihood(row: dict, emu, which: str):
    """The likelihood ``estimate`` builds for ``which`` of ``SETS`` from the film's cached readings."""
    import jax.numpy as jnp

    from domainfit.observations.measurements import JointLikelihood, Measurement
    from domainfit.surrogate.likelihood import EmulatorLikelihood

    liks = [EmulatorLikelihood(emu, jnp.asarray(s, jnp.float32), area_ratio=emu.area / a, instrument=row["family"])
            for s, a in zip(row["stats"], row["areas"])]
    f = row["dmi_field"]
    dmi = [Measurement("dmi_field", f["value"], f["sd"], f["rel"])]
    if which == "DMI field":
        return lambda theta: dmi[0].log_likelihood({**emu.constants, **theta})
    return JointLikelihood(liks, dmi if which.endswith("DMI field") else [])


def grid_summary(loglik, emu, truth: dict) -> dict:
    """Marginal posterior mean, sd and 90 % HDI of each parameter on a GRID × GRID grid over the box."""
    import jax
    import jax.numpy as jnp

    names = list(emu.names)
    axes = [np.linspace(*emu.box[n], GRID) for n in names]
    mesh = np.meshgrid(*axes, indexing="ij")
    flat = [jnp.asarray(m.ravel(), jnp.float32) for m in mesh]
    logp = np.asarray((jax.vmap(lambda *v: loglik(dict(zip(names, v)))))(*flat), float).reshape(mesh[0].shape)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    out = {}
    for k, n in enumerate(names):
        marginal = w.sum(axis=tuple(j for j in range(len(names)) if j != k))
        x = axes[k]
        # the HDI of the marginal interpolated 10× finer: cells of the coarse grid would widen it by up
        # to a cell (a padded 161-point grid held the truth at 0.6017 where the HDI ends at 0.6000)
        fine = np.linspace(x[0], x[-1], 10 * (len(x) - 1) + 1)
        dens = np.interp(fine, x, marginal)
        dens /= dens.sum()
        order = np.argsort(dens)[::-1]
        keep = order[: np.searchsorted(np.cumsum(dens[order]), HDI) + 1]
        lo, hi = fine[keep].min(), fine[keep].max()
        mean = float(marginal @ x)
        sd = float(np.sqrt(marginal @ (x - mean) ** 2))
        out[n] = dict(truth=truth[n], mean=mean, sd=sd, hdi_low=float(lo), hdi_high=float(hi),
                      inside=bool(lo <= truth[n] <= hi))
    return out


def jeffreys(k: int, n: int, level: float = 0.9) -> list[float]:
    """The Jeffreys interval of a binomial rate from k of n (the coverage a set of n films measures)."""
    from scipy.stats import beta

    a = (1 - level) / 2
    return [float(beta.ppf(a, k + 0.5, n - k + 0.5)) if k > 0 else 0.0,
            float(beta.ppf(1 - a, k + 0.5, n - k + 0.5)) if k < n else 1.0]


def summarise(rows: list[dict], names) -> dict:
    res = {"films": len(rows), "sets": {}}
    for s in SETS:
        per = {}
        for n in names:
            f = 1e3 if n == "D" else 1.0
            p = [r["grid"][s][n] for r in rows]
            err = np.array([q["mean"] - q["truth"] for q in p])
            sd = np.array([q["sd"] for q in p])
            inside = np.array([q["inside"] for q in p])
            per[n] = dict(coverage90=float(inside.mean()), covered=int(inside.sum()),
                          coverage_interval90=jeffreys(int(inside.sum()), len(inside)), rmse=float(np.sqrt(np.mean(err**2)) * f),
                          width=float(np.mean([q["hdi_high"] - q["hdi_low"] for q in p]) * f),
                          z_rms=float(np.sqrt(np.mean((err / sd) ** 2))))
        res["sets"][s] = per
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--films", help="folder of film-*.npz")
    ap.add_argument("--fovs", help="folder of their extra fields of view")
    ap.add_argument("--cache", help="JSON lines of the films' readings (made if missing, resumed)")
    ap.add_argument("--from-residuals", metavar="JSON",
                    help="instead of films: a studies.fov_repeat figure's rows (readings rebuilt from them)")
    ap.add_argument("--self-check", type=int, metavar="N",
                    help="instead of films: N films whose readings are drawn from the likelihood itself")
    ap.add_argument("--seed", type=int, default=0, help="of --self-check")
    ap.add_argument("--pool", nargs="+", metavar="JSON", help="score the rows of these fov_grid figures together")
    ap.add_argument("--emulator", default=None, help="default: the shipped emulator")
    ap.add_argument("--json")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)

    from domainfit.surrogate.emulator import Emulator
    from domainfit.workflows.inputs import load_model

    if args.pool:
        rows = [r for f in args.pool for r in json.loads(Path(f).read_text())["rows"]]
        res = dict(summarise(rows, ["D", "sigma"]), pooled=args.pool)
        res["command"] = "python -m studies.fov_grid " + " ".join(sys.argv[1:] if argv is None else argv)
        return print_and_write(res, args.json)
    emu = Emulator.load(args.emulator or DEFAULT_EMULATOR)
    if args.self_check:
        have = {r["film"]: r for r in self_check_rows(args.self_check, emu, args.seed)}
        films = [Path(k) for k in have]
    elif args.from_residuals:
        have = {r["film"]: r for r in from_residuals(json.loads(Path(args.from_residuals).read_text())["rows"], emu)}
        films = [Path(k) for k in sorted(have)]
    elif not (args.films and args.fovs and args.cache):
        raise SystemExit("give --films, --fovs and --cache, or --from-residuals")
    else:
        films = sorted(Path(args.films).expanduser().glob("film-*.npz"))
        if not films:
            raise SystemExit(f"no film-*.npz in {args.films}")
        cache = Path(args.cache).expanduser()
        have = {}
    if not (args.from_residuals or args.self_check) and cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                have[r["film"]] = r
    rows, loaded = [], None
    for path in films:
        row = have.get(path.name)
        if row is None:
            if loaded is None:
                loaded = load_model("default")
            row = read_film(path, Path(args.fovs).expanduser(), loaded, emu.stat_names)
            with open(cache, "a") as fh:  # one whole line per film
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        truth = {"D": row["D"], "sigma": row["sigma"]}
        row = dict(row, grid={s: grid_summary(likelihood(row, emu, s), emu, truth) for s in SETS})
        rows.append(row)
        g = row["grid"]["3 images + DMI field"]
        print(f"{row['film']} ({row['family']}): D {row['D'] * 1e3:.3f} → {g['D']['mean'] * 1e3:.3f} ± {g['D']['sd'] * 1e3:.3f}"
              f" σ {row['sigma']:.3f} → {g['sigma']['mean']:.3f} ± {g['sigma']['sd']:.3f}", flush=True)
    res = summarise(rows, list(emu.names))
    res["command"] = "python -m studies.fov_grid " + " ".join(sys.argv[1:] if argv is None else argv)
    if not args.self_check:  # drawn again from --seed; real films' rows keep their readings for re-scoring
        res["rows"] = rows
    print_and_write(res, args.json, shown={k: v for k, v in res.items() if k != "rows"}, show=True)
    return res


if __name__ == "__main__":
    main()
