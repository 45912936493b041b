"""Held-out evaluation of a CNN estimator: error, bias and calibration per parameter and image scale.

For every sample of a dataset and every requested field of view F (square, ≤ the simulated image),
the top-left F × F crop of the stored image is estimated exactly as ``nn.estimate`` does for a user
image (resampling to the model pixel size, tiling, combination). Reported per parameter, overall
and per F, in user units: RMSE, bias (mean of estimate − truth), mean predicted sd, and the
coverage of the ±1.645 sd interval (a calibrated model covers 90 %). Optionally one
set-versus-estimate PNG per parameter.
"""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np

from .._files import save_figure
from ..data.prior import PARAMETERS
from ..data.store import Dataset
from ..errors import DomainfitError
from .checkpoint import LoadedModel
from ..units import user_unit
from .estimate import combine, make_tiles, reading_of, read_tiles, to_model_pixels

Z90 = 1.6448536269514722
"""Half-width of the central 90 % interval of a Gaussian in standard deviations."""


def view_estimates(
    loaded: LoadedModel,
    ds: Dataset,
    rows: np.ndarray,
    fields_of_view: tuple[float, ...] | None,
    *,
    symmetries: bool | None = None,
    cluster=None,
) -> tuple[np.ndarray, tuple[float, ...], dict]:
    """Estimates of the top-left F × F crop of each image in ``rows``, for each field of view F [m],
    exactly as ``estimate`` makes them but before the model's spread calibration. ``cluster``
    (``tasks.Cluster`` or an open ``distributed.Client``; None: here, or the cluster of an enclosing
    ``tasks.cluster_scope``): the rows are read as tasks of up to 64 images by the workers (the
    dataset's folder at the same path for them), to the same estimates.

    Returns:
        truth [n, K] (SI), the fields of view used, and {F: (mean [n, K], sd [n, K])} in SI.
    """
    from ..tasks import scoped

    if len(rows) == 0:
        raise DomainfitError(f"no samples to evaluate in {ds.root}")
    pix = ds.image_pixel_size
    rows, cluster = np.asarray(rows), scoped(cluster)
    if cluster is not None:
        return _on_cluster(cluster, loaded, ds, rows, _fields_of_view(ds, rows, fields_of_view), symmetries)
    images = ds.images(rows)
    fields_of_view = _fields_of_view(ds, rows, fields_of_view, images.shape[1:])
    cols = [PARAMETERS.index(t) for t in loaded.targets]
    truth = ds.params[rows][:, cols]
    centre, scale = loaded.centre_scale()
    P, p = loaded.in_pixels, loaded.pixel_size

    results = {}
    for f in fields_of_view:
        n_px = max(1, int(round(f / pix)))
        if loaded.flatten is not None:  # each crop prepared as a user's image (``estimate.prepare``)
            readings = [reading_of(loaded, im[:n_px, :n_px], pix, symmetries=symmetries) for im in images]
            results[f] = (np.array([centre + scale * r.mean for r in readings]),
                          np.array([scale * r.sd for r in readings]))  # fmt: skip
            continue
        groups, all_tiles = [], []
        for im in images:
            crop = to_model_pixels(im[:n_px, :n_px], pix, p)
            t = make_tiles(crop, P, loaded.fill)
            groups.append((len(all_tiles), len(t)))
            all_tiles.extend(t)
        mu, sd = read_tiles(loaded, np.stack(all_tiles), symmetries=symmetries)
        n_eff = max(1.0, (n_px * pix) ** 2 / (P * p) ** 2)
        means, sds = [], []
        for a, n in groups:
            m, s = combine(mu[a : a + n], sd[a : a + n], n_eff)
            means.append(centre + scale * m)
            sds.append(scale * s)
        results[f] = (np.array(means), np.array(sds))
    return truth, tuple(fields_of_view), results


def _fields_of_view(ds: Dataset, rows: np.ndarray, fields_of_view, shape=None) -> tuple[float, ...]:
    """The fields of view [m] of ``view_estimates`` (default 0.5, 1.0, 1.5 µm and the whole image), checked."""
    full = min(ds.images(rows[:1]).shape[1:] if shape is None else shape) * ds.image_pixel_size
    if fields_of_view is None:
        fields_of_view = tuple(f for f in (0.5e-6, 1.0e-6, 1.5e-6) if f < full * (1 - 1e-6)) + (full,)
    for f in fields_of_view:
        if not (0 < f <= full * (1 + 1e-6)):
            raise DomainfitError(f"field of view {f * 1e6:g} µm: need 0 < F ≤ {full * 1e6:g} µm (the simulated image)")
    return tuple(fields_of_view)


def _read_rows(loaded: LoadedModel, ds: Dataset, rows: np.ndarray, fields_of_view, symmetries):
    """``view_estimates`` of ``rows`` here: the task of a cluster worker."""
    return view_estimates(loaded, ds, rows, fields_of_view, symmetries=symmetries)


def _on_cluster(cluster, loaded, ds, rows, fields_of_view, symmetries):
    """``view_estimates`` as tasks of up to 64 rows on ``cluster``, joined in the order of ``rows``."""
    from ..tasks import open_cluster, rows_per_task, run_tasks, share

    with open_cluster(cluster) as client:
        size = rows_per_task(client, len(rows), most=64)
        chunks = [rows[a:a + size] for a in range(0, len(rows), size)]
        model, data = share(client, loaded), share(client, ds)
        parts: list = [None] * len(chunks)
        for k, part in run_tasks(client, _read_rows, [(model, data, c, fields_of_view, symmetries) for c in chunks],
                                 name="view estimates"):  # fmt: skip
            parts[k] = part
    results = {f: tuple(np.concatenate([p[2][f][i] for p in parts]) for i in (0, 1)) for f in fields_of_view}
    return np.concatenate([p[0] for p in parts]), fields_of_view, results


def evaluate(
    loaded: LoadedModel,
    data: str | Path | Dataset,
    *,
    fields_of_view: tuple[float, ...] | None = None,
    rows: np.ndarray | None = None,
    plots: str | Path | None = None,
    symmetries: bool | None = None,
) -> dict:
    """Metrics of ``loaded`` on ``data`` (JSON-able dict in user units).

    Args:
        fields_of_view: crop sides [m]; default 0.5, 1.0, 1.5 µm and the full image.
        rows: dataset rows to use (default all).
        plots: folder for ``set_vs_estimate_{D,Ms,sigma}.png`` (None: no plots).
        symmetries: read each tile in its 16 symmetric versions (None: as ``estimate`` decides).
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    rows = np.arange(len(ds)) if rows is None else np.asarray(rows)
    targets = loaded.targets
    truth, fields_of_view, results = view_estimates(loaded, ds, rows, fields_of_view, symmetries=symmetries)
    results = {f: (m, s * loaded.spread_scale(f)) for f, (m, s) in results.items()}

    def metrics(est, spread, true):
        err = est - true
        return {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "bias": float(np.mean(err)),
            "mean_sd": float(np.mean(spread)),
            "coverage90": float(np.mean(np.abs(err) <= Z90 * spread)),
        }

    report = {"n_samples": int(len(rows)), "fields_of_view_um": [f * 1e6 for f in fields_of_view], "parameters": {}}
    ranges = loaded.ranges
    fixed = [t for t in targets if t in ranges and ranges[t][0] == ranges[t][1]]
    for k, t in enumerate(targets):
        unit, si = user_unit(t)
        factor = 1.0 / si
        if t in fixed:  # held at one value in training: not estimated (see ``nn.estimate``)
            report["parameters"][t] = {"unit": unit, "fixed": True, "value": float(ranges[t][0]) * factor}
            continue
        est = np.concatenate([results[f][0][:, k] for f in fields_of_view]) * factor
        spread = np.concatenate([results[f][1][:, k] for f in fields_of_view]) * factor
        true = np.tile(truth[:, k], len(fields_of_view)) * factor
        entry = {"unit": unit, **metrics(est, spread, true), "per_field_of_view": {}}
        trained = loaded.meta.get("fov_set")
        rmse = {}
        for f in fields_of_view:
            m = metrics(results[f][0][:, k] * factor, results[f][1][:, k] * factor, truth[:, k] * factor)
            if trained is not None:
                m["trained"] = _is_trained(f, trained)
            entry["per_field_of_view"][f"{f * 1e6:.3g}um"] = m
            rmse[f] = m["rmse"]
        if trained is not None:
            entry["scale_generalisation"] = scale_generalisation(rmse, trained)
        report["parameters"][t] = entry
    if plots is not None:
        report["plots"] = _plots(Path(plots), targets, truth, results, fields_of_view, skip=fixed)
    return report


def _is_trained(field_of_view: float, trained) -> bool:
    """Whether training showed this field of view [m]: one of ``trained`` within 1 %."""
    return any(abs(field_of_view / g - 1) < 0.01 for g in trained)


def scale_generalisation(rmse: dict[float, float], trained) -> list[dict]:
    """For each field of view [m] of ``rmse`` that training never showed (none of ``trained`` within
    1 %) and that lies between two evaluated trained ones: its RMSE over the RMSE interpolated
    linearly in log F between those neighbours (the issue's criterion: ≤ 1.3)."""
    on = sorted(f for f in rmse if _is_trained(f, trained))
    out = []
    for f in sorted(rmse):
        if f in on:
            continue
        lo, hi = [g for g in on if g < f], [g for g in on if g > f]
        if not lo or not hi:
            continue
        a, b = lo[-1], hi[0]
        w = math.log(f / a) / math.log(b / a)
        ref = (1 - w) * rmse[a] + w * rmse[b]
        out.append({"field_of_view_um": f * 1e6, "rmse": rmse[f], "interpolated_rmse": ref,
                    "ratio": rmse[f] / ref if ref > 0 else float("inf")})  # fmt: skip
    return out


def _plots(folder: Path, targets, truth, results, fields_of_view, skip=()) -> list[str]:
    from .._files import pyplot

    plt = pyplot()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DomainfitError(f"cannot create plot folder {folder}: {err.strerror or err}") from None
    paths = []
    for k, t in enumerate(targets):
        if t in skip:
            continue
        unit, si = user_unit(t)
        factor = 1.0 / si
        fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=120)
        lo, hi = truth[:, k].min() * factor, truth[:, k].max() * factor
        for f in fields_of_view:
            mean, sd = results[f]
            ax.errorbar(truth[:, k] * factor, mean[:, k] * factor, yerr=sd[:, k] * factor, fmt="o", ms=3,
                        alpha=0.6, elinewidth=0.6, label=f"{f * 1e6:.3g} µm")  # fmt: skip
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1e-12) * 0.1
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        label = {"D": "D", "Ms": "$M_s$", "sigma": "σ"}.get(t, t)
        ax.set_xlabel(f"set {label} [{unit}]")
        ax.set_ylabel(f"estimated {label} [{unit}]")
        ax.legend(fontsize=7, title="field of view", title_fontsize=7)
        fig.tight_layout()
        path = folder / f"set_vs_estimate_{t}.png"
        save_figure(fig, path)
        paths.append(str(path))
    return paths


def select_rows(loaded, ds, split: str = "all", first: int | None = None) -> np.ndarray:
    """Rows of dataset ``ds`` to evaluate or calibrate on: every sample ("all") or the validation split
    of ``loaded``'s training ("val"); with ``first``, only samples of index < first (a dataset whose
    generation went on after a calibration stays reproducible)."""
    from .train import validation_mask

    if split not in ("all", "val"):
        raise DomainfitError(f"split {split!r}: use 'all' or 'val'")
    if split == "all":
        rows = np.arange(len(ds))
    else:
        rows = np.nonzero(validation_mask(ds.index, loaded.training.val_fraction))[0]
    if first is not None:
        if first < 1:
            raise DomainfitError(f"--first {first}: need a positive sample count")
        rows = rows[np.asarray(ds.index)[rows] < first]
    return rows

