"""Which emulator degree: K-fold cross-validated posterior coverage on a held-out (calibration) set.

For each (degree, degree_var), the emulator is fitted on K−1 folds of the dataset's (θ, s) pairs and
the exact posterior of every image of the remaining fold is computed on a grid over the box (flat
prior, the likelihood `estimate --posterior` uses); reported are the coverage of the marginal 90 %
highest-density sets, the posterior-mean RMSE and the emulator's own CV figures. With `--model`, the
statistics include that CNN's estimates (learned statistics, as `emulator --learned`). Two varying
parameters only (a grid in 2D).

Run:  python -m studies.emulator_cv --data data/coptb512_cal192 --model src/domainfit/assets/cnn_default
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from domainfit import nn
from domainfit.features import statistics as stats
from domainfit.data import Dataset
from domainfit.surrogate.emulator import DATASET_PARAMS
from domainfit.surrogate.learned import check_held_out, dataset_cnn_statistics
from domainfit import surrogate


def hdi_mask(weights: np.ndarray, level: float) -> np.ndarray:
    """Cells of the smallest set holding ``level`` of the (normalised) marginal weights."""
    order = np.argsort(weights)[::-1]
    keep = order[: np.searchsorted(np.cumsum(weights[order]), level) + 1]
    mask = np.zeros(weights.shape, bool)
    mask[keep] = True
    return mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="held-out dataset (domainfit generate), not the CNN's training set")
    ap.add_argument("--model", help="CNN whose estimates join the statistics (learned statistics; 'default': the shipped one)")
    ap.add_argument("--degrees", default="2/0,2/1,3/1,3/2", help="degree/degree_var pairs, comma separated")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--grid", type=int, default=120, help="grid points per parameter")
    ap.add_argument("--level", type=float, default=0.9)
    args = ap.parse_args()

    ds = Dataset(args.data)
    rows = np.nonzero(np.asarray(ds.converged, bool))[0]
    params = np.asarray(ds.params, np.float64)[rows]
    varying = [i for i in range(params.shape[1]) if np.ptp(params[:, i]) > 0]
    if len(varying) != 2:
        raise SystemExit(f"{len(varying)} parameters vary in {args.data}: this grid study needs exactly two")
    names = tuple(DATASET_PARAMS[i] for i in varying)
    theta = params[:, varying]
    pix = ds.image_pixel_size
    summary = jax.jit(jax.vmap(lambda im: stats.summary_vector(im, pix)))
    s = np.asarray(summary(jnp.asarray(ds.images(rows), jnp.float32)), np.float64)
    if args.model:
        loaded = nn.load_default() if args.model == "default" else nn.load_model(args.model)
        check_held_out(loaded, ds, ds.content_hash())
        _, cnn = dataset_cnn_statistics(loaded, ds, rows)
        s = np.concatenate([s, cnn], axis=1)
    lo, hi = theta.min(0), theta.max(0)
    axes = [np.linspace(lo[k], hi[k], args.grid) for k in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    perm = np.random.default_rng(0).permutation(len(s))
    print(f"{len(s)} images of {args.data}, {s.shape[1]} statistics, inputs {', '.join(names)}, {args.folds} folds")
    for spec in args.degrees.split(","):
        degree, degree_var = (int(v) for v in spec.split("/"))
        t0 = time.perf_counter()
        inside, errors = [], []
        for test in np.array_split(perm, args.folds):
            train = np.setdiff1d(perm, test)
            emu = surrogate.fit_emulator(theta[train], s[train], names=names, area=1.0, degree=degree,
                                         degree_var=degree_var, key=jax.random.key(0), box=(lo, hi))

            @jax.jit
            def log_lik(s_obs, emu=emu):
                lik = surrogate.EmulatorLikelihood(emu, s_obs)
                return jax.vmap(lambda t: lik({names[0]: t[0], names[1]: t[1]}))(jnp.asarray(grid))

            for i in test:
                L = np.asarray(log_lik(jnp.asarray(s[i])), np.float64).reshape(args.grid, args.grid)
                w = np.exp(L - L.max())
                w /= w.sum()
                marg = (w.sum(1), w.sum(0))
                inside.append([hdi_mask(marg[k], args.level)[np.argmin(np.abs(axes[k] - theta[i, k]))] for k in range(2)])
                errors.append([(marg[k] * axes[k]).sum() - theta[i, k] for k in range(2)])
        cov, rmse = np.mean(inside, axis=0), np.sqrt(np.mean(np.square(errors), axis=0))
        print(f"degree {degree}/{degree_var}: coverage {names[0]} {cov[0]:.3f}, {names[1]} {cov[1]:.3f}; "
              f"posterior-mean RMSE {names[0]} {rmse[0]:.4g}, {names[1]} {rmse[1]:.4g} (SI); "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
