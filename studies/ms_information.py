"""How much of Ms does one relaxed low-ms pattern carry, even with σ known? (issue 16, acceptance 1)

The relaxed low-ms maze is a random pattern: at fixed (Ms, σ) its period and wall density change from
one random initial state to the next. Here both are measured on the *simulated* m_z of every state of a
low-ms dataset (no instrument: the most any image of it could show) with walls (≥ 1 /µm), regressed on
log Ms and σ (log y = b₀ + b₁ log Ms + b₂ σ + b₃ σ log Ms + b₄ σ²), and the residual scatter at fixed
parameters converted into the relative error of Ms that one image allows **with σ known exactly**:
sd(residual) / |∂ log y / ∂ log Ms|, for each statistic and for both together (their residuals'
covariance). Any estimator that reads the domain geometry (a CNN, the emulators' statistics) inherits
that floor; σ unknown only widens it. The number of independent fields of the same size that would
bring it to the issue's 5 % is (error / 0.05)².

  python -m studies.ms_information --data ~/domainfit-data/lowms512 --json docs/figures/ms_information.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from domainfit.features import statistics as stats
from domainfit._files import atomic_write
from domainfit.data.prior import PARAMETERS
from domainfit.data.store import Dataset

TARGET = 0.05
"""The issue's relative RMSE of Ms."""


def design(log_ms: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Regressors of a statistic's log: 1, log Ms, σ, σ·log Ms, σ² (centred at the box middle)."""
    x, s = log_ms - np.log(450e3), sigma - 0.125
    return np.column_stack([np.ones_like(x), x, s, x * s, s**2])


def floor(y: np.ndarray, log_ms: np.ndarray, sigma: np.ndarray) -> dict:
    """Fit log y on ``design``; the relative Ms error per image from the residual scatter."""
    X = design(log_ms, sigma)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sd = float(resid.std(ddof=X.shape[1]))
    return dict(d_dlogMs=float(beta[1]), d_dsigma=float(beta[2]), residual_sd=sd,
                ms_relative_error=sd / abs(float(beta[1])), residual=resid, slope=float(beta[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a low-ms dataset written by `domainfit generate`")
    ap.add_argument("--min-walls", type=float, default=1.0, help="wall density [1/µm] an image must hold (issue: 1)")
    ap.add_argument("--json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = Dataset(args.data)
    cell = float(ds.grid["cell_size"])
    rows = np.nonzero(np.asarray(ds.converged, bool))[0]
    params = np.asarray(ds.params)[rows]
    ms, sigma = params[:, PARAMETERS.index("Ms")], params[:, PARAMETERS.index("sigma")]
    w, period = [], []
    for r in rows:
        m = np.asarray(ds.mz([r])[0], np.float32)
        w.append(float(stats.wall_density(m, cell)) * 1e-6)
        period.append(float(stats.domain_period(m, cell)) * 1e9)
    w, period = np.array(w), np.array(period)
    keep = w >= args.min_walls
    if keep.sum() < 20:
        raise SystemExit(f"only {int(keep.sum())} states hold ≥ {args.min_walls} walls/µm: too few to regress")
    log_ms = np.log(ms[keep])
    fits = {"wall_density": floor(np.log(w[keep]), log_ms, sigma[keep]),
            "period": floor(np.log(period[keep]), log_ms, sigma[keep])}
    g = np.array([fits[k]["slope"] for k in fits])
    cov = np.cov(np.array([fits[k]["residual"] for k in fits]))
    both = float(1.0 / np.sqrt(g @ np.linalg.solve(cov, g)))
    out = {k: {n: v for n, v in f.items() if n not in ("residual", "slope")} for k, f in fits.items()}
    out["both"] = dict(ms_relative_error=both, residual_correlation=float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])))
    for f in out.values():
        f["fields_for_5_percent"] = (f["ms_relative_error"] / TARGET) ** 2
    field_um = float(ds.grid["cell_size"]) * np.asarray(ds.mz([rows[0]])[0]).shape[-1] * 1e6
    report = dict(floor=out, states=int(len(rows)), states_with_walls=int(keep.sum()), min_walls_per_um=args.min_walls,
                  field_of_view_um=field_um, data=str(args.data),
                  machine=dict(platform=platform.platform(), cpus=os.cpu_count()),
                  wall_time_s=round(time.perf_counter() - t0, 1))
    for name, f in out.items():
        extra = (f" (∂ log/∂ log Ms {f['d_dlogMs']:+.2f}, residual sd {f['residual_sd']:.3f})" if "d_dlogMs" in f else
                 f" (residual correlation {f['residual_correlation']:+.2f})")
        print(f"{name:13s}: Ms relative error per {field_um:.3g} µm image with σ known ≥ {f['ms_relative_error']:.3f}"
              f"{extra}; {f['fields_for_5_percent']:.0f} such fields for {TARGET:.0%}")
    print(f"{int(keep.sum())} of {len(rows)} states with ≥ {args.min_walls} walls/µm; simulated m_z, no instrument")
    if args.json:
        atomic_write(args.json, json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
