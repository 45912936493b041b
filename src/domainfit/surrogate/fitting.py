"""Fitting the emulator: to (θ, s) pairs with K-fold cross-validation, or to a stored dataset's statistics
(the model of ``emulator.py``; docs/inference.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError
from ..parameters import MATERIAL
from .emulator import LOG_CHI2_1_MEAN, Emulator, as_tuple, fields_of
from . import polynomial
from .presence import fit_presence
from ..features.walls import shows_walls

_RIDGE = 1e-6
RIDGE = _RIDGE
"""λ of the ridge fits: (ΦᵀΦ + λI)⁻¹ is the stored gram_inv."""
_IRLS_STEPS = 25



def _theta_matrix(theta, names: Sequence[str]) -> np.ndarray:
    if isinstance(theta, Mapping):
        return np.stack([np.asarray(theta[n], np.float64) for n in names], axis=-1)
    t = np.asarray(theta, np.float64)
    if t.ndim != 2 or t.shape[1] != len(names):
        raise DomainfitError(f"θ array has shape {t.shape}: need [N, {len(names)}] for inputs {list(names)}")
    return t


def _fit_arrays(x, s, degree, degree_var, ridge):
    pm, pv = polynomial.powers(x.shape[1], degree), polynomial.powers(x.shape[1], degree_var)
    phi_m = polynomial.features(x, pm)
    if phi_m.shape[1] >= len(x):
        raise DomainfitError(
            f"{len(x)} training pairs cannot fit a degree-{degree} emulator with {phi_m.shape[1]} terms: "
            "lower the degree or simulate more"
        )
    beta, gram_inv = polynomial.ridge(phi_m, s, ridge)
    r = s - phi_m @ beta
    # A statistic that barely varies (e.g. the mean contrast of balanced stripes) has residuals near
    # round-off, or none at all: floor the variance at 1e-8 of the statistic's own scale (plus an
    # absolute 1e-4, the statistics being O(1) by construction) so log σ² stays finite and the IRLS
    # update r² e^{−η} cannot overflow.
    scale2 = np.var(s, axis=0) + 1e-4 * np.mean(s**2, axis=0) + 1e-4
    floor = 1e-8 * scale2
    r2 = r**2 + floor
    log_lo, log_hi = np.log(floor), np.log(1e4 * scale2)
    phi_v = polynomial.features(x, pv)
    gamma, _ = polynomial.ridge(phi_v, np.log(r2), ridge)
    gamma[0] -= LOG_CHI2_1_MEAN  # constant monomial (all exponents zero) is row 0
    # Then Gaussian maximum likelihood for log σ² (a Gamma GLM with log link on r², by IRLS): the log r²
    # regression is unbiased but inefficient (Var log χ²₁ = π²/2 against 2 for the likelihood).
    gamma_log = gamma.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(_IRLS_STEPS):
            eta = np.clip(phi_v @ gamma, log_lo, log_hi)
            gamma, _ = polynomial.ridge(phi_v, eta + r2 * np.exp(-eta) - 1.0, ridge)
        eta = phi_v @ gamma
    # IRLS can oscillate on a statistic that is constant up to the floor: keep the log r² fit there.
    diverged = ~np.all(np.isfinite(eta) & (eta > log_lo - 5.0) & (eta < log_hi + 5.0), axis=0)
    gamma[:, diverged] = gamma_log[:, diverged]
    sd = np.sqrt(np.exp(phi_v @ gamma))
    z = r / sd
    corr = np.corrcoef(z, rowvar=False) if s.shape[1] > 1 else np.ones((1, 1))
    corr = 0.9 * corr + 0.1 * np.eye(len(corr))
    return pm, pv, beta, gamma, np.linalg.cholesky(corr), gram_inv


def _residuals(x, s, degree, degree_var, ridge) -> np.ndarray:
    """Standardised residuals z = (s − μ)/σ of the fit to all pairs."""
    pm, pv, beta, gamma, _, _ = _fit_arrays(x, s, degree, degree_var, ridge)
    return (s - polynomial.features(x, pm) @ beta) / np.sqrt(np.exp(polynomial.features(x, pv) @ gamma))


def groups_of(x: np.ndarray) -> np.ndarray:
    """Group label [N] of each training pair: pairs with identical inputs are views of one simulated
    state (``recorded_cnn_statistics`` records each state through several instruments; states drawn
    over a box never share θ), so they are held out together and counted once for V_μ."""
    return np.unique(np.asarray(x), axis=0, return_inverse=True)[1].reshape(-1)


def state_level(z: np.ndarray, groups: np.ndarray) -> dict:
    """Between-state share ρ and design effect of standardised residuals z [N, n] grouped by state.

    One-way random-effects ANOVA per statistic: σ_b² = max((MSB − MSW)/m₀, 0), ρ = σ_b²/(σ_b² + MSW),
    the share of a view's noise that is the state's (relaxation: it averages over a larger field of
    view) rather than the view's (instrument draw, CNN reading: it does not). The mean fit's variance
    V_μ, computed as if the N views were independent, is multiplied by the design effect
    1 + (m̄ − 1)ρ, m̄ = N/G the views per state (Kish). Without repeated views: ρ = 1, effect 1."""
    groups = np.asarray(groups).reshape(-1)
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    N, G = len(groups), len(labels)
    if G == N or G < 2:
        return dict(states=int(G), views_per_state=1.0, between_state_share=[1.0] * z.shape[1],
                    mean_var_factor=[1.0] * z.shape[1])
    sums = np.zeros((G, z.shape[1]))
    np.add.at(sums, inverse, z)
    means = sums / counts[:, None]
    msw = ((z - means[inverse]) ** 2).sum(0) / (N - G)
    msb = (counts[:, None] * (means - z.mean(0)) ** 2).sum(0) / (G - 1)
    m0 = (N - (counts**2).sum() / N) / (G - 1)
    sb2 = np.maximum((msb - msw) / m0, 0.0)
    rho = sb2 / np.maximum(sb2 + msw, 1e-300)
    m_bar = N / G
    return dict(states=int(G), views_per_state=float(m_bar), between_state_share=[float(v) for v in rho],
                mean_var_factor=[float(v) for v in 1.0 + (m_bar - 1.0) * rho])


def _cross_validate(x, s, degree, degree_var, ridge, folds, key, groups=None, factor=None) -> dict:
    """K-fold cross-validated error of the emulator (every pair is held out once), the folds made of
    whole states (``groups``: the views of one state are held out together, else a held-out view's
    twin in the training folds would make the error look smaller than on a new film)."""
    groups = np.arange(len(x)) if groups is None else np.asarray(groups).reshape(-1)
    labels = np.unique(groups)
    folds = min(folds, len(labels))
    perm = np.asarray(jax.random.permutation(key, len(labels)))
    z = np.empty_like(s)
    lpd = np.empty(len(s))
    # the fold fits' V_μ inflated by the design effect of the views' grouping (``state_level``)
    if factor is None:
        factor = state_level(_residuals(x, s, degree, degree_var, ridge), groups)["mean_var_factor"]
    factor = np.asarray(factor)
    for held in np.array_split(labels[perm], folds):
        test = np.nonzero(np.isin(groups, held))[0]
        train = np.nonzero(~np.isin(groups, held))[0]
        pm, pv, beta, gamma, chol, gram_inv = _fit_arrays(x[train], s[train], degree, degree_var, ridge)
        phi = polynomial.features(x[test], pm)
        mean = phi @ beta
        # predictive sd: noise plus the fitted mean's own uncertainty, as in the likelihood
        v_mu = np.einsum("if,fg,ig->i", phi, gram_inv, phi)[:, None] * factor[None, :]
        sd = np.sqrt(np.exp(polynomial.features(x[test], pv) @ gamma) * (1.0 + v_mu))
        z[test] = (s[test] - mean) / sd
        # log N(s; μ, diag(sd) C diag(sd)) = log N(z; 0, C) − Σ log sd
        w = np.linalg.solve(chol, z[test].T)
        lpd[test] = (-0.5 * np.sum(w**2, axis=0) - np.sum(np.log(np.diag(chol))) - np.sum(np.log(sd), axis=1)
                     - 0.5 * s.shape[1] * np.log(2 * np.pi))
    z2 = np.mean(z**2, axis=0)
    pooled = float(np.mean(z**2))
    return dict(
        folds=int(folds),
        held_out="states" if len(labels) < len(x) else "views",
        z_rms=[float(v) for v in np.sqrt(z2)],
        coverage_90=float(np.mean(np.abs(z) < 1.6448536)),
        mean_error_over_sd=[float(v) for v in np.sqrt(np.maximum(z2 - 1.0, 0.0))],
        z2_pooled=pooled,
        z2_pooled_se=float(np.std(z**2) / np.sqrt(z.size)),
        surrogate_error=float(np.sqrt(max(pooled - 1.0, 0.0))),
        surrogate_error_upper=float(np.sqrt(max(pooled - 1.0 + 2 * np.std(z**2) / np.sqrt(z.size), 0.0))),
        heldout_log_predictive=float(np.mean(lpd)),
    )


def fit_emulator(
    theta: Mapping[str, Float[Array, " N"]] | Float[Array, "N d"],
    s: Float[Array, "N n"],
    *,
    names: Sequence[str] | None = None,
    area: float,
    stat_names: Sequence[str] | None = None,
    degree: int = 3,
    degree_var: int = 2,
    ridge: float = _RIDGE,
    folds: int = 5,
    key: Key[Array, ""] | None = None,
    box: tuple[Sequence[float], Sequence[float]] | None = None,
    walls: Sequence[bool] | None = None,
    presence_degree: int = 2,
    groups: Sequence[int] | None = None,
) -> Emulator:
    """Fit an ``Emulator`` to training pairs (θ_i, s_i), one simulated image each.

    Args:
        theta: training parameters, dict name → [N] (SI) or an array [N, d] with ``names``.
        s: summary vectors [N, n_stats] of the training images.
        area: area of one training image [m²] (field of view), for the Σ area scaling.
        degree: total polynomial degree of the mean model.
        degree_var: total polynomial degree of the log-variance model.
        folds: K of the K-fold cross-validation that measures the error (then refitted on all pairs);
            1 skips it.
        box: (lo, hi) of the inputs [SI]; default the training range.
        walls: [N] whether image i shows walls (``presence.shows_walls``): the statistics are then
            fitted on those images only and p_w(θ) (``presence``, logistic of degree
            ``presence_degree``) on all; the statistics of the others may be NaN. None: all show walls,
            and no presence model is kept.
        groups: [N] the state each pair is a view of (default ``groups_of``: pairs with identical θ);
            the cross-validation holds out whole states and V_μ counts states (``state_level``).
    """
    if isinstance(theta, Mapping):
        names = tuple(names or theta.keys())
    elif names is None:
        raise DomainfitError("θ given as an array: pass names=")
    names = tuple(names)
    t = _theta_matrix(theta, names)
    s = np.asarray(s, np.float64)
    if s.ndim != 2 or len(s) != len(t):
        raise DomainfitError(f"{len(t)} parameter rows but summaries of shape {s.shape}")
    if not np.all(np.isfinite(t)):
        raise DomainfitError("training parameters contain NaN or infinite values")
    lo, hi = (np.asarray(box[0], np.float64), np.asarray(box[1], np.float64)) if box else (t.min(0), t.max(0))
    if np.any(hi <= lo):
        raise DomainfitError(f"inputs {list(names)} do not vary in the training set: fix them instead")
    x = 2.0 * (t - lo) / (hi - lo) - 1.0
    presence = None
    if walls is not None:
        walls = np.asarray(walls, bool)
        if walls.shape != (len(t),):
            raise DomainfitError(f"walls has shape {walls.shape}: need one label per training pair ({len(t)})")
        presence = fit_presence(x, walls, degree=presence_degree)
        x, s = x[walls], s[walls]
    if not np.all(np.isfinite(s)):
        raise DomainfitError("training statistics contain NaN or infinite values"
                             + (" among the images that show walls" if walls is not None else ""))
    if groups is None:
        groups = groups_of(x)
    else:
        groups = np.asarray(groups).reshape(-1)
        if len(groups) != len(t):
            raise DomainfitError(f"groups has {len(groups)} labels for {len(t)} training pairs")
        groups = groups if walls is None else groups[walls]
    states = state_level(_residuals(x, s, degree, degree_var, ridge), groups)
    report = {}
    if folds > 1:
        report = _cross_validate(x, s, degree, degree_var, ridge, folds, jax.random.key(0) if key is None else key,
                                 groups, states["mean_var_factor"])
    pm, pv, beta, gamma, chol, gram_inv = _fit_arrays(x, s, degree, degree_var, ridge)
    report.update(n_train=int(len(x)), degree=degree, degree_var=degree_var, **states)
    if presence is not None:
        report.update(n_views=presence.n_views, n_walls=presence.n_walls)
    cov = np.cov(s, rowvar=False).reshape(s.shape[1], s.shape[1]) + 1e-12 * np.eye(s.shape[1])
    f = lambda a: jnp.asarray(a, jnp.result_type(float))  # noqa: E731
    return Emulator(
        names=names, lo=f(lo), hi=f(hi), powers_mean=as_tuple(pm), powers_var=as_tuple(pv), beta=f(beta),
        gamma=f(gamma), corr_chol=f(chol), gram_inv=f(gram_inv), area=float(area),
        stat_names=tuple(stat_names or (f"s{i}" for i in range(s.shape[1]))),
        report=json.dumps(report), train_mean=f(s.mean(0)), train_cov_chol=f(np.linalg.cholesky(cov)),
        train_min=f(s.min(0)), train_max=f(s.max(0)), presence=presence,
    )


DATASET_PARAMS = MATERIAL
"""Column order of ``params`` in a ``data`` store (SI)."""


def emulator_from_dataset(
    root: str | Path,
    *,
    summary_fn: Callable | None = None,
    stat_names: Sequence[str] | None = None,
    degree: int = 3,
    degree_var: int = 2,
    batch: int = 256,
    key: Key[Array, ""] | None = None,
    component: str | None = None,
    learned=None,
    draws: int = 4,
    draw_seed: int = 1,
    geometry: bool | str = False,
    rows: np.ndarray | None = None,
) -> Emulator:
    """Fit an ``Emulator`` to a ``domainfit generate`` dataset: statistics of every converged image
    (of ``rows`` only, when given: positions in the dataset, e.g. to hold some states out).

    The inputs are the parameters that vary in the dataset (of D, Ms, sigma, Ku, A); the training
    area is one stored image's field of view. ``summary_fn`` defaults to ``stats.summary_vector``
    (then ``stat_names`` to ``stats.SUMMARY_NAMES``). A dataset drawn from a mixture of prior boxes
    (``--preset mix``) needs one emulator per box: ``component`` names it (``dataset_components``
    lists them); a polynomial across two disjoint boxes would be fitted to nothing in between.
    ``learned`` (a loaded CNN, ``nn.load_model``) appends its estimates as learned statistics
    (``surrogate.learned``); the dataset must then be one it was not trained on. For a CNN trained
    on instrument views the statistics are its estimates alone, on every state recorded by
    ``draws`` instruments drawn from its training distribution (seed ``draw_seed``; ``nn.recorded``),
    with ``geometry`` also the geometry of each view (``learned.GEOMETRIES``: of its sign, True or
    "sign", or of its domains, "domains"). Views that
    show no walls (``presence.shows_walls``) enter only the presence model p_w(θ).
    """
    from ..data.store import Dataset

    if summary_fn is None:
        from ..features.statistics import SUMMARY_NAMES, summary_vector

        summary_fn, stat_names = summary_vector, stat_names or SUMMARY_NAMES
    ds = Dataset(root)
    names_of = dataset_components(ds)
    keep = np.asarray(ds.converged, bool)
    if rows is not None:
        chosen = np.zeros(len(keep), bool)
        chosen[np.asarray(rows, int)] = True
        keep &= chosen
    if component is None and len(names_of) > 1:
        raise DomainfitError(f"dataset {root} mixes the prior components {', '.join(names_of)}: fit one emulator "
                             "per component (component=..., or --component on the command line)")
    if component is not None:
        if component not in names_of:
            raise DomainfitError(f"dataset {root} has no prior component {component!r} (it has {', '.join(names_of)})")
        keep &= np.asarray(ds.component) == names_of.index(component)
    rows = np.nonzero(keep)[0]
    if len(rows) < 20:
        raise DomainfitError(f"dataset {root} has {len(rows)} converged images: too few to fit an emulator")
    params = np.asarray(ds.params, np.float64)[rows]
    varying = [i for i in range(params.shape[1]) if np.ptp(params[:, i]) > 0]
    names = tuple(DATASET_PARAMS[i] for i in varying)
    pixel = ds.image_pixel_size
    recorded = learned is not None and learned.instruments is not None
    if recorded:  # a network trained on instrument views: its estimates on recorded views are the statistics
        from .learned import check_held_out, recorded_cnn_statistics

        data_hash = ds.content_hash()
        check_held_out(learned, ds, data_hash)
        stat_names, s, params, area, walls = recorded_cnn_statistics(learned, ds, rows, draws=draws, seed=draw_seed,
                                                                        geometry=geometry)
    else:
        stats_fn = jax.jit(jax.vmap(lambda im: summary_fn(im, pixel)))
        s, shape, walls = [], None, []
        for start in range(0, len(rows), batch):
            images = np.asarray(ds.images(rows[start:start + batch]), np.float32)
            shape = images.shape[1:]
            s.append(np.asarray(stats_fn(jnp.asarray(images)), np.float64))
            walls += [shows_walls(im) for im in images]
        s, walls = np.concatenate(s), np.asarray(walls, bool)
        stat_names = tuple(stat_names or (f"s{i}" for i in range(s.shape[1])))
        area = shape[0] * shape[1] * pixel**2
    if geometry and not recorded:
        raise DomainfitError("geometry statistics are read from instrument views: use a model trained on them")
    if learned is not None and not recorded:
        from .learned import check_held_out, dataset_cnn_statistics

        data_hash = ds.content_hash()
        check_held_out(learned, ds, data_hash)
        cnn_names, cnn_values = dataset_cnn_statistics(learned, ds, rows)
        s, stat_names = np.concatenate([s, cnn_values], axis=1), stat_names + cnn_names
    # Views that show no walls enter the presence model p_w(θ) only; a view with walls whose statistics
    # are not finite (a failed reading) is dropped.
    ok = ~walls | np.all(np.isfinite(s), axis=1)
    box = _prior_box(ds, names, names_of.index(component) if component is not None else 0, params[ok][:, varying])
    emulator = fit_emulator(params[ok][:, varying], s[ok], names=names, area=area, stat_names=stat_names,
                            degree=degree, degree_var=degree_var, key=key, box=box, walls=walls[ok])
    # Parameters the dataset held fixed are not inputs; record their values so a prior can fix them.
    report = emulator.error_report
    report["constants"] = {DATASET_PARAMS[i]: float(params[0, i]) for i in range(params.shape[1]) if i not in varying}
    report["component"] = component if component is not None else names_of[0]
    if learned is not None:  # the CNN whose outputs are statistics: estimate must read images with it
        report["learned_model_sha256"] = learned.sha256
        report["fitted_on"] = dict(data=str(ds.root), data_hash=data_hash)
        if recorded:
            report["fitted_on"].update(instrument_draws=draws, draw_seed=draw_seed, views=int(ok.sum()))
    return Emulator(**{**fields_of(emulator), "report": json.dumps(report)})


def _prior_box(ds, names: Sequence[str], index: int, theta: np.ndarray):
    """The box the dataset's prior (component ``index``) drew ``names`` from, as (lo, hi), when it is
    recorded and holds every sample; else None (the samples' own range). The emulator's box is the default
    prior of ``estimate``: the prior's box, not the range its samples happened to span, so a film at the
    prior's edge keeps its support."""
    comps = ds.meta["identity"].get("prior", {}).get("components") or []
    if index >= len(comps):
        return None
    bounds = comps[index].get("bounds", {})
    if not all(n in bounds for n in names):
        return None
    lo = np.array([bounds[n][0] for n in names], np.float64)
    hi = np.array([bounds[n][1] for n in names], np.float64)
    if not (np.all(hi > lo) and np.all(theta >= lo - 1e-12 * np.abs(lo)) and np.all(theta <= hi + 1e-12 * np.abs(hi))):
        return None
    return lo, hi


def dataset_components(ds) -> list[str]:
    """Names of the prior components of a dataset (``Dataset``), in the order of its ``component`` codes
    (``["all"]`` for a store that records no prior)."""
    comps = ds.meta["identity"].get("prior", {}).get("components")
    return [str(c["name"]) for c in comps] if comps else ["all"]
