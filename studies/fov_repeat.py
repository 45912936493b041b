"""How much of an image's scatter one instrument repeats on every image it records (issue 34).

Several fields of view of one film, recorded by one instrument, share more than the emulator's error:
the instrument's settings (resolution, lift, noise level, saturation, …) move the statistics of every
image it takes alike. This study measures that share, ρ per instrument family and statistic
(``surrogate.instrument_terms.fit_repeats``), on calibration films — each film relaxed at three places
(its own demagnetised state and two more fields of view: same D and σ, other grains and start;
``studies.joint_observations``), the three recorded by one instrument drawn from
``data.instruments.TEST`` — read by the shipped CNN exactly as ``estimate`` reads a user's image, and
standardised at the film's true θ under the likelihood's own moments (the named family's instrument
term, no repeat). With ``--write-emulator`` the share pooled over the families (``--per-family``: each
family's own) joins the emulator's instrument terms.

  S="--films ~/domainfit-data/fovcal/films --fovs ~/domainfit-data/fovcal/fovs"
  python -m studies.joint_observations $S --out ~/domainfit-data/fovcal/out --make-films 22000-22039 --shard 0/2
  python -m studies.joint_observations $S --out ~/domainfit-data/fovcal/out --fov-pass --simulate-only --shard 0/2
  python -m studies.fov_repeat $S --json docs/figures/fov_repeat.json \\
      --write-emulator src/domainfit/assets/cnn_default.emulator.npz
  python -m studies.fov_repeat --films ~/domainfit-data/joint34/films --fovs ~/domainfit-data/joint34/fovs \\
      --emulator src/domainfit/assets/cnn_default.emulator.npz --json docs/figures/fov_repeat_heldout.json

The second call reads held-out films (the joint-observation study's) and reports the products of their
residuals against what the emulator's terms now hold in common (``--emulator``, with the repeat).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from studies._summary import print_and_write
from studies.joint_observations import N_FOVS, views_of

DEFAULT_EMULATOR = Path(__file__).resolve().parents[1] / "src" / "domainfit" / "assets" / "cnn_default.emulator.npz"


def residuals(films: list[Path], fovs: Path, emulator_path: Path, *, use_repeat: bool) -> list[dict]:
    """Per film: its family, θ and for each field of view z = (s − mean)/sd_tot and the share of the
    variance the likelihood holds in common between two of its images (shared, plus L diag(ρ) Lᵀ where
    ``use_repeat`` and the emulator carries ρ)."""
    import jax.numpy as jnp

    import domainfit as df
    from domainfit.surrogate.emulator import Emulator
    from domainfit.surrogate.learned import summary_with_cnn
    from domainfit.surrogate.likelihood import EmulatorLikelihood
    from domainfit.workflows.inputs import load_model

    emu = Emulator.load(emulator_path)
    loaded = load_model("default")
    out = []
    for path in films:
        film = dict(np.load(path))
        seed = int(film["seed"])
        views = views_of(film, loaded, fovs)
        family = views[0][1]
        theta = {n: jnp.asarray(float(film[n]), jnp.float32) for n in emu.names}
        rec = dict(seed=seed, family=family, D=float(film["D"]), sigma=float(film["sigma"]), z=[], shared=[])
        for img, _ in views:
            r = df.estimate(img, model=loaded, instrument=family)
            s = summary_with_cnn(r.cnn.mean, emu.stat_names, support=r.cnn.support)(img.data, img.pixel_size)
            area = img.data.shape[0] * img.data.shape[1] * img.pixel_size**2
            lik = EmulatorLikelihood(emu, jnp.asarray(s), area_ratio=emu.area / area, instrument=family)
            mean, own, shared = (np.asarray(a, np.float64) for a in lik.moment_parts(theta))
            total = np.diag(own + shared)
            common = np.diag(shared).copy()
            rho = lik.repeat() if use_repeat else None
            if rho is not None:
                chol = np.linalg.cholesky(own)
                common += np.diag((chol * rho) @ chol.T)
            rec["z"].append(((np.asarray(s, np.float64) - mean) / np.sqrt(total)).tolist())
            rec["shared"].append((common / total).tolist())
        out.append(rec)
        print(f"film {seed} ({family}): z " + "; ".join(" ".join(f"{v:+.2f}" for v in z) for z in rec["z"]), flush=True)
    return out


def summarise(rows: list[dict], stat_names) -> dict:
    from domainfit.surrogate.instrument_terms import fit_repeats

    z = np.array([v for r in rows for v in r["z"]])
    shared = np.array([v for r in rows for v in r["shared"]])
    films = np.array([r["seed"] for r in rows for _ in r["z"]])
    fams = np.array([r["family"] for r in rows for _ in r["z"]])
    fit = fit_repeats(z, shared, films, fams)
    res = dict(statistics=list(stat_names), films=len(rows), views=int(len(z)),
               z_rms=[float(v) for v in np.sqrt((z**2).mean(axis=0))], families={})
    for fam, f in fit.items():
        sel = fams == fam if fam != "all" else np.ones(len(fams), bool)
        res["families"][fam] = dict(f, held_in_common=[float(v) for v in shared[sel].mean(axis=0)],
                                    z_rms=[float(v) for v in np.sqrt((z[sel] ** 2).mean(axis=0))])
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--films", required=True, help="folder of film-*.npz (studies.joint_observations --make-films)")
    ap.add_argument("--fovs", required=True, help="folder of their extra fields of view")
    ap.add_argument("--emulator", default=str(DEFAULT_EMULATOR))
    ap.add_argument("--with-repeat", action="store_true",
                    help="count the emulator's repeat as held in common (a check on held-out films)")
    ap.add_argument("--write-emulator", help="attach the measured repeats to the emulator's terms and save it here")
    ap.add_argument("--per-family", action="store_true",
                    help="write each family's own share (default: the share pooled over all families' films)")
    ap.add_argument("--json")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)

    from domainfit.surrogate.emulator import Emulator

    films = sorted(Path(args.films).expanduser().glob("film-*.npz"))
    if not films:
        raise SystemExit(f"no film-*.npz in {args.films}")
    emu = Emulator.load(args.emulator)
    rows = residuals(films, Path(args.fovs).expanduser(), Path(args.emulator), use_repeat=args.with_repeat)
    res = summarise(rows, emu.stat_names)
    res["command"] = "python -m studies.fov_repeat " + " ".join(sys.argv[1:] if argv is None else argv)
    res["rows"] = rows
    for fam, f in res["families"].items():
        print(f"{fam:11s} {f['films']:2d} films: repeat " + ", ".join(
            f"{s} {r:.2f} ± {e:.2f}" for s, r, e in zip(emu.stat_names, f["repeat"], f["se"]))
            + "; held in common " + ", ".join(f"{v:.2f}" for v in f["held_in_common"]))
    if args.write_emulator:
        from domainfit.surrogate.instrument_terms import attach, terms_of, with_repeats

        terms = terms_of(emu)
        if terms is None:
            raise SystemExit(f"{args.emulator} has no instrument terms to add the repeat to")
        # One share for every family, pooled over the films: per family, 4–11 films measure ρ to ± 0.1–1.2
        # (products of residuals are heavy-tailed), and two independent sets of 40 films disagreed family
        # by family (mfm 0.25 against 1.0) while their pooled shares agreed (0.72/0.70 against 0.54/0.65).
        key = "all" if not args.per_family else None
        repeats = {f: res["families"][key or f]["repeat"] for f in terms.families}
        source = (f"{res['films']} films with {N_FOVS} fields of view each, "
                  f"{'pooled over the families' if key else 'per family'} ({res['command']})")
        attach(emu, with_repeats(terms, repeats, source)).save(args.write_emulator)
        print(f"wrote {args.write_emulator}")
    print_and_write(res, args.json, shown={k: v for k, v in res.items() if k != "rows"}, show=False)
    return res


if __name__ == "__main__":
    main()
