"""Fit and check the H½ forward model (``observations.half_field``) on simulated initial magnetisation curves.

Films are made by ``studies/joint_observations.py --make-films A-B --curve`` (co-pt set, D and σ
uniform over the shipped model's box, the demagnetised maze relaxed from a random state, then its
initial magnetisation curve by ``physics.curve.initial_curve``: 10 mT steps, PBB, tol 1e-3, up to
⟨m_z⟩ = ½). Training films (seeds 21000–21059) are in no test; the held-out films of the joint study
(20000–20059) only check the fit.

``--fit TRAIN`` fits the quadratic μ0H½(D, σ) and its leave-one-film-out prediction error (the model
error) and writes the JSON the package ships; ``--check HELD`` compares its predictions with held-out
films' simulated H½: RMSE, bias, the standardised residuals' sd (≈ 1 when the stated model error is
right) and the fraction within ±1.645 model sd (≈ 90 %).

Run (docs/observations.md):
    python -m tools.assets.half_field --fit ~/domainfit-data/curve_train --write src/domainfit/assets/half_field_co-pt.json
    python -m tools.assets.half_field --fit ~/domainfit-data/curve_train --check ~/domainfit-data/curve_films \
        --model src/domainfit/assets/half_field_co-pt.json --json docs/figures/half_field.json --plot docs/figures/half_field.png
Tests: tests/test_half_field.py (tiny films)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np



def load_films(folder) -> dict[str, np.ndarray]:
    """Seed, D [J/m²], σ and μ0H½ [T] of every film with a curve in ``folder``."""
    from studies.joint_observations import film_files

    rows = []
    for f in film_files(folder):
        d = np.load(f)
        if "h_half_T" in d:
            rows.append((int(d["seed"]), float(d["D"]), float(d["sigma"]), float(d["h_half_T"]), int(d["cells"])))
    if not rows:
        raise SystemExit(f"no films with a curve in {folder}: make them with joint_observations.py --make-films --curve")
    a = np.array(rows, float)
    return {"seed": a[:, 0].astype(int), "D": a[:, 1], "sigma": a[:, 2], "h_half_T": a[:, 3], "cells": a[:, 4].astype(int)}


def fit(folder, write=None):
    from domainfit.observations.half_field import HalfFieldModel
    from domainfit.physics import make_material
    from studies.observations import BOX

    films = load_films(folder)
    mat = make_material("co-pt")
    cells = int(films["cells"][0])
    model = HalfFieldModel.fit(
        films["D"], films["sigma"], films["h_half_T"], box=BOX,
        constants={"Ms": float(mat.Ms), "A": float(mat.A), "Ku": float(mat.Ku)},
        info={"seeds": f"{films['seed'].min()}-{films['seed'].max()}", "cells": cells, "cell_size_m": 4e-9,
              "field_of_view_m": cells * 4e-9,
              "protocol": "demagnetised maze (BB, tol 1e-3, random start), then physics.curve.initial_curve: "
                          "10 mT steps, PBB, tol 1e-3, H½ by linear interpolation"})
    print(f"{model.info['films']} training films ({model.info['seeds']}, {cells}²): μ0H½ from "
          f"{films['h_half_T'].min() * 1e3:.1f} to {films['h_half_T'].max() * 1e3:.1f} mT; "
          f"model error (leave-one-film-out rms) {model.residual_sd_T * 1e3:.2f} mT, in-sample residual sd "
          f"{model.info['fit_sd_T'] * 1e3:.2f} mT")
    if write:
        model.save(write)
        print(f"wrote {write}")
    return model


def check(folder, model_path=None) -> dict:
    from domainfit.observations.half_field import HalfFieldModel, shipped

    model = HalfFieldModel.load(model_path) if model_path else shipped()
    films = load_films(folder)
    pred = np.asarray(model.predict(films["D"], films["sigma"]))
    r = films["h_half_T"] - pred
    z = r / model.residual_sd_T
    res = {"films": int(len(r)), "seeds": f"{films['seed'].min()}-{films['seed'].max()}",
           "rmse_mT": float(np.sqrt(np.mean(r**2)) * 1e3), "bias_mT": float(np.mean(r) * 1e3),
           "model_sd_mT": model.residual_sd_T * 1e3, "z_sd": float(np.std(z, ddof=1)),
           "within_1.645_sd": float(np.mean(np.abs(z) <= 1.645)),
           "sensitivity": _sensitivity(model)}
    print(f"{res['films']} held-out films ({res['seeds']}): RMSE {res['rmse_mT']:.2f} mT, bias {res['bias_mT']:+.2f} mT; "
          f"model sd {res['model_sd_mT']:.2f} mT, standardised residual sd {res['z_sd']:.2f}, "
          f"{res['within_1.645_sd']:.0%} within ±1.645 sd")
    s = res["sensitivity"]
    print(f"at the box centre: dH½/dD {s['per_mJ_m2_of_D_mT']:.1f} mT per mJ/m², dH½/dσ {s['per_unit_sigma_mT']:.0f} mT; "
          f"with D known, H½ alone gives σ to ± {s['sigma_sd_D_known']:.4f} (model sd only)")
    return res


def plot(train_folder, held_folder, model_path, path) -> None:
    """Left: simulated H½ against σ, coloured by D, with the model's lines at three D; right: the model's
    prediction against the held-out films' simulated H½ with ±1.645 model sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from domainfit.observations.half_field import HalfFieldModel, shipped
    from domainfit.reports.plots import save_figure

    model = HalfFieldModel.load(model_path) if model_path else shipped()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
    for folder, marker, label in ((train_folder, "o", "training films"), (held_folder, "^", "held-out films")):
        if folder:
            f = load_films(folder)
            sc = a.scatter(f["sigma"], f["h_half_T"] * 1e3, c=f["D"] * 1e3, cmap="viridis", vmin=0.1, vmax=1.0,
                           marker=marker, s=22, label=label)
    s = np.linspace(*model.box["sigma"], 50)
    for d in (0.2e-3, 0.55e-3, 0.9e-3):
        a.plot(s, np.asarray(model.predict(d, s)) * 1e3, color=plt.cm.viridis((d * 1e3 - 0.1) / 0.9), lw=1)
    fig.colorbar(sc, ax=a, label="D [mJ/m²]")
    a.set_xlabel("σ")
    a.set_ylabel("μ0H½ [mT]")
    a.legend(fontsize=8)
    a.set_title("H½ of the initial magnetisation curve (2 µm, T = 0)", fontsize=9)
    if held_folder:
        f = load_films(held_folder)
        pred = np.asarray(model.predict(f["D"], f["sigma"])) * 1e3
        e = 1.645 * model.residual_sd_T * 1e3
        b.errorbar(f["h_half_T"] * 1e3, pred, yerr=e, fmt="^", ms=4, lw=0.8, alpha=0.8)
        lo, hi = float(min(pred.min(), (f["h_half_T"] * 1e3).min())) - 5, float(max(pred.max(), (f["h_half_T"] * 1e3).max())) + 5
        b.plot([lo, hi], [lo, hi], "k:", lw=0.8)
        r = f["h_half_T"] * 1e3 - pred
        b.set_title(f"held-out films: RMSE {np.sqrt(np.mean(r**2)):.2f} mT, model sd {model.residual_sd_T * 1e3:.2f} mT",
                    fontsize=9)
        b.set_xlabel("simulated μ0H½ [mT]")
        b.set_ylabel("model μ0H½(D, σ) [mT] (± 1.645 sd)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _sensitivity(model) -> dict:
    import jax

    D0 = 0.5 * sum(model.box["D"])
    s0 = 0.5 * sum(model.box["sigma"])
    gD, gs = jax.grad(lambda d, s: model.predict(d, s), argnums=(0, 1))(D0, s0)
    return {"per_mJ_m2_of_D_mT": float(gD) * 1e-3 * 1e3, "per_unit_sigma_mT": float(gs) * 1e3,
            "sigma_sd_D_known": model.residual_sd_T / abs(float(gs))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", help="folder of training films with curves")
    p.add_argument("--write", help="with --fit: write the model JSON here")
    p.add_argument("--check", help="folder of held-out films with curves")
    p.add_argument("--model", help="with --check: the model JSON (default: the shipped one)")
    p.add_argument("--json", help="with --check: write the result here")
    p.add_argument("--plot", help="with --check: figure of the fit (training films from --fit when given)")
    args = p.parse_args(argv)
    if not (args.fit or args.check):
        p.error("give --fit and/or --check")
    out = {}
    if args.fit:
        fit(args.fit, args.write)
    if args.check:
        out = check(args.check, args.model or args.write)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
        if args.plot:
            plot(args.fit, args.check, args.model or args.write, args.plot)
    return out


if __name__ == "__main__":
    main()
