"""Calibrating the CNN's predicted spreads on held-out images.

A network trained by Gaussian NLL on a finite set tends to predict spreads that are too narrow on
images it never saw. ``calibrate_spread`` measures, on held-out simulated images (the validation
split of the training set by default), the standardised errors z = (estimate − truth)/sd of every
image at every field of view, and sets one factor per target

    c = q_L(|z|) / Φ⁻¹((1 + L)/2),

the ratio of the L-quantile of |z| (L = 0.9 by default) to the one of a standard normal, so that
the ±Φ⁻¹((1+L)/2)·c·sd interval holds the truth in a fraction L of the held-out views. The same
factor is also fitted at each field of view F on its own (``per_field_of_view``): a network's
spreads can be too wide on large images and too narrow on small ones at once (the shipped model:
0.98 and 0.79 coverage with one factor). ``LoadedModel.spread_scale(F)`` interpolates those
linearly in log F, held constant beyond the calibrated range, and falls back to the pooled factor.
The record is stored in the model JSON (``spread_calibration``) and applied by ``estimate`` and
``evaluate``.

For a model trained on instrument views the factors are also fitted per instrument family
(``per_family``) and, within each family, as a function of the instrument's settings
(``per_family_settings``, ``fit_setting_model``): a user who names the instrument and its height and
resolution (``estimate --instrument probe --lift 60nm --resolution 30nm``) gets spreads that follow
how much that instrument hides. It matters most where the image cannot show it: a saturated image
of a stray-field probe 60 nm above the film looks as sharp as one at 10 nm, but its walls have lost
the grain-scale roughness that carries σ (docs/inference.md, "On recorded images").
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ..data.store import Dataset
from ..errors import DomainfitError
from .._files import atomic_write
from ..data.instruments import SETTING_REFERENCE_NM, setting_covariates as setting_covariates
from .checkpoint import LoadedModel
from .evaluate import view_estimates


CALIBRATION_FIELDS_OF_VIEW: tuple[float, ...] = tuple(float(f) * 1e-6 for f in np.geomspace(0.5, 2.048, 7))
"""Fields of view [m] of the calibration of instrument-trained models: 7 log-spaced from 0.5 to 2.048 µm."""


def spread_factors(z: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Factors [K] from standardised errors z [n, K]: q_level(|z|) / Φ⁻¹((1 + level)/2)."""
    if not 0 < level < 1:
        raise DomainfitError(f"calibration level {level}: need 0 < level < 1")
    return np.quantile(np.abs(z), level, axis=0) / norm.ppf(0.5 + level / 2)


def fit_setting_model(z: np.ndarray, X: np.ndarray, level: float = 0.9, ridge: float = 1e-3) -> tuple[np.ndarray, float]:
    """Coefficients b [C] of a spread factor exp(X b) for standardised errors z [n] (errors over the
    spreads already scaled per field of view) with covariates X [n, C] (``setting_covariates``):
    b maximises the Gaussian likelihood of z with sd exp(X b) (a small ridge on all but the
    intercept), then the intercept is moved so that the ±Φ⁻¹((1+L)/2) exp(X b) interval holds a
    fraction L of the views (as ``spread_factors``). Returns (b, the share of the intercept's move)."""
    from scipy.optimize import minimize

    z = np.asarray(z, np.float64)
    X = np.asarray(X, np.float64)
    penalty = np.r_[0.0, np.full(X.shape[1] - 1, ridge)]

    def nll(b):
        ls = X @ b
        w = z**2 * np.exp(-2 * ls)
        return np.mean(ls + 0.5 * w) + np.sum(penalty * b**2), X.T @ (1 - w) / len(z) + 2 * penalty * b

    b = minimize(nll, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    c = float(spread_factors((z / np.exp(X @ b))[:, None], level)[0])
    b[0] += math.log(c)
    return b, c


def calibrate_spread(
    loaded: LoadedModel,
    data: str | Path | Dataset,
    *,
    rows: np.ndarray | None = None,
    fields_of_view: tuple[float, ...] | None = None,
    level: float = 0.9,
    save: bool = True,
    draws: int = 2,
    seed: int = 0,
    progress: bool = False,
    cluster=None,
) -> dict:
    """Fit the spread factors of ``loaded`` on ``rows`` of ``data`` and (with ``save``) write them into
    its JSON. Targets held fixed in training keep factor 1. Returns the ``spread_calibration`` record.

    Args:
        rows: held-out rows (default: the validation split of the model's training configuration).
        fields_of_view: crop sides [m] (default: those of the model's training set, or ``evaluate``'s;
            for a model trained on instrument views, ``CALIBRATION_FIELDS_OF_VIEW``).
        draws, seed: for a model trained on instrument views, each state is recorded by ``draws``
            instruments drawn from its training distribution (``nn.recorded``); the factors are then
            also fitted per instrument family (``per_family``), and the support checks' reference
            (``nn.support``) is fitted on the same views and saved beside the model.
        cluster: where the images are recorded and read (``tasks.Cluster`` or an open
            ``distributed.Client``; None: here), as tasks of a few rows each whose results come back
            here: the record is the one made in one process (each view's instrument derives from its
            row), and only this process writes the model's files.
    """
    from .train import validation_mask

    ds = data if isinstance(data, Dataset) else Dataset(data)
    cfg = loaded.training.config
    if rows is None:
        rows = np.nonzero(validation_mask(ds.index, cfg.get("val_fraction", 0.1)))[0]
    rows = np.asarray(rows)
    if len(rows) < 10:
        raise DomainfitError(f"{len(rows)} held-out images: need at least 10 to calibrate the spreads")
    if fields_of_view is None and cfg.get("fov_set"):
        full = min(ds.images(rows[:1]).shape[1:]) * ds.image_pixel_size
        fields_of_view = tuple(min(f, full) for f in cfg["fov_set"])
    per_family, reference = {}, None
    ranges = loaded.ranges
    fixed = [t in ranges and ranges[t][0] == ranges[t][1] for t in loaded.targets]
    if loaded.instruments is not None:  # recorded by instruments drawn as in training
        from .recorded import recorded_readings
        from .support import fit_reference

        if fields_of_view is None:
            fields_of_view = CALIBRATION_FIELDS_OF_VIEW
        r = recorded_readings(loaded, ds, rows, prior=loaded.instruments, draws=draws, seed=seed,
                              fields_of_view=fields_of_view, progress=progress, cluster=cluster)  # fmt: skip
        z_all = (r.mean - r.truth) / np.where(r.sd > 0, r.sd, np.inf)
        fovs = tuple(fields_of_view)
        nominal = np.array([fields_of_view[i % len(fields_of_view)] for i in range(len(r.truth))])
        per_view = {f: z_all[nominal == f] for f in fovs}
        per_family = {fam: spread_factors(z_all[r.family == fam], level) for fam in sorted(set(r.family.tolist()))}
        reference = fit_reference(r.features, r.period, r.pixel_size)
    else:
        truth, fovs, results = view_estimates(loaded, ds, rows, fields_of_view, cluster=cluster)
        per_view = {f: (m - truth) / np.where(s > 0, s, np.inf) for f, (m, s) in results.items()}
    factors = spread_factors(np.concatenate(list(per_view.values())), level)
    by_fov = {f: spread_factors(z, level) for f, z in per_view.items()}
    if per_family:  # errors over the per-scale factors, view by view, for the setting models
        settings_models = _setting_models(r, z_all / np.stack([by_fov[f] for f in nominal]), level, fixed)
    record = {
        "factors": {t: 1.0 if fixed[k] else float(factors[k]) for k, t in enumerate(loaded.targets)},
        "per_field_of_view": {
            "fields_of_view_um": [f * 1e6 for f in sorted(by_fov)],
            "factors": {t: [1.0 if fixed[k] else float(by_fov[f][k]) for f in sorted(by_fov)]
                        for k, t in enumerate(loaded.targets)},  # fmt: skip
        },
        "level": level,
        "method": "quantile of |estimate - truth|/sd over held-out images and fields of view (nn.calibrate)",
        "data": str(ds.root),
        "data_hash": ds.content_hash(),
        "rows": int(len(rows)),
        "fields_of_view_um": [f * 1e6 for f in fovs],
    }
    if per_family:
        record["per_family"] = {fam: {t: 1.0 if fixed[k] else float(v[k]) for k, t in enumerate(loaded.targets)}
                                for fam, v in per_family.items()}  # fmt: skip
        record["per_family_settings"] = {
            fam: {"covariates": names, "reference_nm": SETTING_REFERENCE_NM,
                  "coefficients": {t: [float(x) for x in b[k]] for k, t in enumerate(loaded.targets)},
                  "marginal": {t: [float(x) for x in m[k]] for k, t in enumerate(loaded.targets)}}
            for fam, (names, b, m) in settings_models.items()
        }  # fmt: skip
        record["instrument_draws"] = dict(draws=draws, seed=seed, views=int(sum(len(z) for z in per_view.values())))
        record["method"] = ("quantile of |estimate - truth|/sd over held-out states recorded by instruments drawn as in "
                            "training, at every field of view (nn.calibrate)")
    values = [math.exp(v[0]) for m in record.get("per_family_settings", {}).values()
              for part in ("coefficients", "marginal") for v in m[part].values()]  # fmt: skip
    values += [*record["factors"].values(), *(v for vs in record["per_field_of_view"]["factors"].values() for v in vs)]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise DomainfitError(f"spread calibration failed: factors {record['factors']}")
    if save:
        if loaded.path is None:
            raise DomainfitError("this model has no file to store its calibration in")
        json_path = Path(loaded.path).with_suffix(".json")
        if reference is not None:
            from .checkpoint import support_path

            reference.save(support_path(loaded.path))
            record["support"] = dict(file=support_path(loaded.path).name, views=reference.n_views,
                                     period_nm=[v * 1e9 for v in reference.period_range], feature_limit=reference.limit)
        try:
            atomic_write(json_path, json.dumps(dict(loaded.meta, spread_calibration=record), indent=2).encode())
        except OSError as err:
            raise DomainfitError(f"cannot write {json_path}: {err.strerror or err}") from None
    return record


def _setting_models(r, z: np.ndarray, level: float, fixed: list[bool]) -> dict:
    """Per family (``data.instruments.FAMILY_RANGES``): (covariate names, coefficients [K, C] of
    ``fit_setting_model`` on the views of that family, coefficients [K, 2] of the same without the
    settings: the family known, its settings not), z: errors over the per-scale spreads."""
    from ..data.instruments import FAMILY_RANGES

    out = {}
    for fam in sorted(set(r.family.tolist())):
        if fam not in FAMILY_RANGES:
            continue
        mask = r.family == fam
        names = ["1", "log_field_of_view"] + [f"log_{n}" for n in sorted(FAMILY_RANGES[fam])]
        settings = {n: np.array([d.get(f"{n}_nm", np.nan) for d, m in zip(r.instruments, mask) if m]) * 1e-9
                    for n in FAMILY_RANGES[fam]}  # fmt: skip
        X = setting_covariates(fam, r.field_of_view[mask], settings)
        if mask.sum() < 10 * X.shape[1]:
            continue  # too few views for a model of the settings: the family's factor alone
        fit = [np.zeros(X.shape[1]) if fixed[k] else fit_setting_model(z[mask, k], X, level)[0] for k in range(z.shape[1])]
        marginal = [np.zeros(2) if fixed[k] else fit_setting_model(z[mask, k], X[:, :2], level)[0] for k in range(z.shape[1])]
        out[fam] = (names, np.stack(fit), np.stack(marginal))
    return out
