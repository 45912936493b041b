"""Amortised emulator of the summary statistics' mean μ(θ) and covariance Σ(θ) (see docs/inference.md).

Fitted once to the (θ, s) pairs of the training set — one simulated image per θ across the prior box —
and shipped with the model. In box-normalised coordinates x = 2(θ − lo)/(hi − lo) − 1 ∈ [−1, 1]ᵈ:

    μ(θ)       = Φ_m(x) β                 (polynomial of total degree ``degree``, ridge least squares)
    log σ²(θ)  = Φ_v(x) γ                 (Gaussian maximum likelihood on r = s − μ by IRLS, started
                                           from the regression of log r² + 1.2704, E[log χ²₁] = −1.2704)
    Σ(θ)       = diag σ(θ) · C · diag σ(θ),  C the correlation of the standardised residuals
    V_μ(θ)     = φ_m(x)ᵀ (Φ_mᵀΦ_m + λI)⁻¹ φ_m(x) · σ²(θ)   (predictive variance of the fitted mean)

K-fold cross-validation measures the error before the final fit on all pairs: the RMS of the held-out
standardised residuals z = (s − μ)/σ (1 for a perfect emulator), the coverage of the 90 % predictive
interval, and the emulator's mean error in units of the noise sd, √max(⟨z²⟩ − 1, 0) pooled over all
statistics (``surrogate_error``; its resolution is limited by ``z2_pooled_se``, the standard error of
⟨z²⟩: with N pairs and n statistics, ~√(2/(N n))).
``refine`` corrects the mean locally with fresh simulations (replica means and their Jacobians by
implicit differentiation) around a point, typically the MAP.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import chi2

from .._types import Array, Float, Key
from ..errors import DomainfitError
from .presence import Presence, fit_presence, shows_walls

LOG_CHI2_1_MEAN = -1.2703628454614782
"""E[log χ²₁] = −γ_E − log 2: the bias of log r² as an estimate of log σ²."""


def _powers(d: int, degree: int) -> np.ndarray:
    """Exponent vectors of all monomials of total degree ≤ ``degree`` in ``d`` variables."""
    return np.array([p for p in itertools.product(range(degree + 1), repeat=d) if sum(p) <= degree], dtype=np.int32)


def _features(x, powers) -> Float[Array, "... F"]:
    """Monomials Π x_i^{p_i} for each row of ``powers``; x in [−1, 1]ᵈ (works for numpy and jax)."""
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.prod(x[..., None, :] ** powers, axis=-1)


def _ridge(phi: np.ndarray, y: np.ndarray, lam: float, w: np.ndarray | None = None):
    """Weighted ridge solution and (ΦᵀWΦ + λI)⁻¹."""
    if w is not None:
        phi, y = phi * w[:, None], y * w[:, None]
    gram = phi.T @ phi + lam * np.eye(phi.shape[1])
    gram_inv = np.linalg.inv(gram)
    return gram_inv @ (phi.T @ y), gram_inv


class Emulator(eqx.Module):
    """Fitted emulator of μ(θ), Σ(θ) of the summary statistics (see module docstring).

    Attributes:
        names: θ inputs in order (SI units, see ``priors.PARAMETERS``).
        lo, hi: the training box per input [SI].
        powers_mean, powers_var: monomial exponents of the mean and log-variance models.
        beta: mean coefficients ``[F_m, n_stats]``; gamma: log-variance coefficients ``[F_v, n_stats]``.
        corr_chol: Cholesky factor of the residual correlation ``[n_stats, n_stats]``.
        gram_inv: (ΦᵀΦ + λI)⁻¹ of the mean fit, for V_μ.
        area: area of a training image [m²] (for the Σ area scaling).
        stat_names: names of the statistics.
        report: held-out error report as (key, value) pairs (see ``error_report``).
        train_mean, train_cov_chol: marginal mean and Cholesky of the covariance of the training
            statistics over the whole box (to flag observations far outside the training set).
        presence: p_w(θ), the probability that a film at θ shows walls (``inference.presence``); the
            statistics were then fitted on the views that show walls only. None: every training
            view was taken to show walls (emulators fitted before the hurdle model).
    """

    names: tuple[str, ...] = eqx.field(static=True)
    lo: Float[Array, " d"]
    hi: Float[Array, " d"]
    powers_mean: tuple = eqx.field(static=True)
    powers_var: tuple = eqx.field(static=True)
    beta: Float[Array, "Fm n"]
    gamma: Float[Array, "Fv n"]
    corr_chol: Float[Array, "n n"]
    gram_inv: Float[Array, "Fm Fm"]
    area: float = eqx.field(static=True)
    stat_names: tuple[str, ...] = eqx.field(static=True)
    report: str = eqx.field(static=True, default="{}")
    train_mean: Float[Array, " n"] | None = None
    train_cov_chol: Float[Array, "n n"] | None = None
    train_min: Float[Array, " n"] | None = None
    train_max: Float[Array, " n"] | None = None
    local_center: Float[Array, " d"] | None = None
    local_a: Float[Array, " n"] | None = None
    local_B: Float[Array, "n d"] | None = None
    local_length: float = eqx.field(static=True, default=1.0)
    local_var_factor: float = eqx.field(static=True, default=1.0)
    presence: "Presence | None" = None

    # --- prediction -----------------------------------------------------------------------------------
    def normalise(self, theta: Mapping[str, float]) -> Float[Array, " d"]:
        missing = [n for n in self.names if n not in theta]
        if missing:
            raise DomainfitError(f"the emulator needs {', '.join(missing)}: give them a prior or a fixed value")
        t = jnp.stack([jnp.asarray(theta[n], dtype=self.lo.dtype) for n in self.names])
        return 2.0 * (t - self.lo) / (self.hi - self.lo) - 1.0

    def predict_x(self, x: Float[Array, " d"]):
        phi_m = _features(x, np.asarray(self.powers_mean))
        phi_v = _features(x, np.asarray(self.powers_var))
        mean = phi_m @ self.beta
        var = jnp.exp(phi_v @ self.gamma)  # gamma's constant term already holds the −E[log χ²₁] shift
        sd = jnp.sqrt(var)
        corr = self.corr_chol @ self.corr_chol.T
        cov = sd[:, None] * corr * sd[None, :]
        mean_var = (phi_m @ self.gram_inv @ phi_m) * var
        if self.local_center is not None:  # local correction from ``refine``
            dx = x - self.local_center
            k = jnp.exp(-0.5 * jnp.sum(dx**2) / self.local_length**2)
            mean = mean + k * (self.local_a + self.local_B @ dx)
            mean_var = (1.0 - k) * mean_var + k * self.local_var_factor * var
        return mean, cov, mean_var

    def predict(self, theta: Mapping[str, float]):
        """(μ [n], Σ of one training-area image [n, n], V_μ [n]) at θ (dict, SI)."""
        return self.predict_x(self.normalise(theta))

    @property
    def error_report(self) -> dict:
        return json.loads(self.report)

    @property
    def box(self) -> dict[str, tuple[float, float]]:
        """The training box {input: (low, high)} [SI]."""
        return {n: (float(lo), float(hi)) for n, lo, hi in zip(self.names, self.lo, self.hi)}

    @property
    def constants(self) -> dict[str, float]:
        """Parameters the training set held at one value {name: value} [SI]; the emulator assumes them."""
        return {k: float(v) for k, v in self.error_report.get("constants", {}).items()}

    @property
    def component(self) -> str | None:
        """The prior component of a mixed training set it was fitted to (None: the whole set)."""
        return self.error_report.get("component")

    @property
    def surrogate_error(self) -> float:
        """Held-out RMS emulator mean error in units of the training-image noise sd."""
        return float(self.error_report.get("surrogate_error", float("nan")))

    def check_observation(self, s_obs: Float[Array, " n"]) -> list[str]:
        """Plain-words messages when ``s_obs`` lies far outside the training statistics (empty if fine)."""
        msgs = []
        if self.train_mean is None:
            return msgs
        s_obs = jnp.asarray(s_obs, self.train_mean.dtype)
        z = jax.scipy.linalg.solve_triangular(self.train_cov_chol, s_obs - self.train_mean, lower=True)
        d2 = float(jnp.sum(z**2))
        limit = float(chi2.ppf(0.999, df=len(self.stat_names)))
        if not np.isfinite(d2) or d2 > limit:
            msgs.append(
                f"the image's statistics lie far outside the training set (Mahalanobis distance² {d2:.1f} > "
                f"{limit:.1f}, the 99.9 % limit): the emulator extrapolates, treat the result with caution"
            )
        span = self.train_max - self.train_min
        for i, name in enumerate(self.stat_names):
            lo, hi = float(self.train_min[i] - 0.1 * span[i]), float(self.train_max[i] + 0.1 * span[i])
            if not lo <= float(s_obs[i]) <= hi:
                msgs.append(f"statistic {name} = {float(s_obs[i]):.4g} is outside the training range "
                            f"[{float(self.train_min[i]):.4g}, {float(self.train_max[i]):.4g}]")
        return msgs

    def with_presence(self) -> "Emulator":
        """This emulator with a presence model: its own, or for one fitted before the hurdle model the
        statement that all its ``n_train`` training views showed walls (``presence.all_walls``)."""
        if self.presence is not None:
            return self
        from .presence import all_walls

        n = int(self.error_report.get("n_train", 0))
        if n < 1:
            raise DomainfitError("this emulator records no training count: it cannot say how likely a "
                                 "wall-free image is; refit it with `domainfit emulator`")
        return Emulator(**{**_fields(self), "presence": all_walls(n, len(self.names))})

    # --- persistence -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the emulator to a ``.npz`` file (arrays plus JSON metadata)."""
        path = Path(path)
        meta = dict(names=list(self.names), area=self.area, stat_names=list(self.stat_names),
                    report=self.report)
        names = ("lo", "hi", "beta", "gamma", "corr_chol", "gram_inv", "train_mean", "train_cov_chol", "train_min",
                 "train_max", "local_center", "local_a", "local_B")
        arrays = {k: np.asarray(getattr(self, k)) for k in names if getattr(self, k) is not None}
        meta.update(local_length=self.local_length, local_var_factor=self.local_var_factor)
        if self.presence is not None:
            meta["presence"] = self.presence.to_meta()
            arrays["presence_alpha"] = np.asarray(self.presence.alpha)
        from .._files import atomic_path

        path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
        try:
            with atomic_path(path) as tmp:
                np.savez(tmp, meta=json.dumps(meta), powers_mean=np.asarray(self.powers_mean),
                         powers_var=np.asarray(self.powers_var), **arrays)
        except OSError as err:
            raise DomainfitError(f"cannot write emulator {path}: {err.strerror or err}") from None
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Emulator":
        """Read an emulator written by ``save``."""
        try:
            with np.load(path) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: jnp.asarray(f[k]) for k in f.files if k not in ("meta", "powers_mean", "powers_var")}
                pm, pv = np.asarray(f["powers_mean"]), np.asarray(f["powers_var"])
            presence = None
            if "presence" in meta:
                presence = Presence.from_meta(meta["presence"], arrays.pop("presence_alpha"))
        except (OSError, KeyError, ValueError) as err:
            raise DomainfitError(f"cannot read emulator {path}: {err}") from None
        return cls(names=tuple(meta["names"]), powers_mean=_as_tuple(pm), powers_var=_as_tuple(pv),
                   area=float(meta["area"]), stat_names=tuple(meta["stat_names"]), report=meta["report"],
                   local_length=float(meta.get("local_length", 1.0)),
                   local_var_factor=float(meta.get("local_var_factor", 1.0)), presence=presence, **arrays)

    def with_box(self, box: Mapping[str, tuple[float, float]]) -> "Emulator":
        """The same emulator expressed on another input box (the prior box of its training set rather than
        the range its samples happened to span): the polynomials of x are re-expanded exactly in the new
        normalised coordinates (an affine change of x maps monomials of degree ≤ k onto monomials of
        degree ≤ k), and so is (ΦᵀΦ + λI)⁻¹ for V_μ. Predictions are unchanged; the default prior
        (uniform over ``box``) and the MAP's start box follow the new box."""
        if self.local_center is not None:
            raise DomainfitError("re-box the emulator before a local refinement (refine), not after")
        missing = [n for n in self.names if n not in box]
        if missing:
            raise DomainfitError(f"a box needs every input of the emulator: {', '.join(missing)} missing")
        lo_new = np.array([box[n][0] for n in self.names], np.float64)
        hi_new = np.array([box[n][1] for n in self.names], np.float64)
        if not np.all(hi_new > lo_new):
            raise DomainfitError(f"box {dict(box)}: every range needs high > low")
        lo_old, hi_old = np.asarray(self.lo, np.float64), np.asarray(self.hi, np.float64)
        x_new = np.random.default_rng(0).uniform(-1, 1, (512, len(self.names)))
        theta = lo_new + (x_new + 1) / 2 * (hi_new - lo_new)
        x_old = 2 * (theta - lo_old) / (hi_old - lo_old) - 1

        def transfer(powers):  # T with φ_old(x_old(x_new)) = φ_new(x_new) T, exact (same monomial set)
            p = np.asarray(powers)
            return np.linalg.lstsq(_features(x_new, p), _features(x_old, p), rcond=None)[0]

        tm, tv = transfer(self.powers_mean), transfer(self.powers_var)
        dtype = self.beta.dtype
        beta = tm @ np.asarray(self.beta, np.float64)
        gamma = tv @ np.asarray(self.gamma, np.float64)
        gram_inv = tm @ np.asarray(self.gram_inv, np.float64) @ tm.T
        presence = self.presence
        if presence is not None:  # the logistic polynomial re-expanded the same way
            alpha = transfer(presence.powers) @ np.asarray(presence.alpha, np.float64)
            presence = Presence(**{**_fields(presence), "alpha": jnp.asarray(alpha, presence.alpha.dtype)})
        return Emulator(**{**_fields(self), "lo": jnp.asarray(lo_new, self.lo.dtype), "hi": jnp.asarray(hi_new, self.hi.dtype),
                           "beta": jnp.asarray(beta, dtype), "gamma": jnp.asarray(gamma, dtype),
                           "gram_inv": jnp.asarray(gram_inv, self.gram_inv.dtype), "presence": presence})

    # --- local refinement ------------------------------------------------------------------------------------
    def refine(
        self,
        forward: Callable[[Mapping[str, float]], Float[Array, "R n"]],
        center: Mapping[str, float],
        *,
        key: Key[Array, ""],
        radius: float = 0.1,
        n_points: int = 1,
        gradients: bool = True,
        length: float | None = None,
    ) -> "Emulator":
        """Correct the mean locally with fresh simulations around ``center`` (θ dict, SI; typically the MAP).

        ``forward`` is a ``simulator_forward`` (R replicas per θ, fixed keys). Points are ``center``
        plus ``n_points − 1`` uniform draws in a cube of half-width ``radius`` (normalised units: the box
        is [−1, 1]). Their replica means s̄_j and, with ``gradients``, Jacobians ∂s̄/∂x (implicit
        differentiation through the relaxed states) fix a linear correction of the residual,

            μ_ref(x) = μ(x) + k(x) [a + B (x − x_c)],   k(x) = exp(−|x − x_c|² / 2ℓ²),

        by least squares (value rows, and Jacobian rows scaled by ``radius``); ℓ = ``length``
        (default 3·radius) keeps the correction local, so far from the MAP the amortised emulator is
        unchanged. Near x_c the emulator's own mean variance V_μ is replaced by σ²/(R·n_points).
        """
        d = len(self.names)
        xc = np.asarray(self.normalise(center), np.float64)
        offsets = np.asarray(jax.random.uniform(key, (max(n_points - 1, 0), d), minval=-radius, maxval=radius))
        xs = np.vstack([xc[None], xc[None] + offsets])
        lo, hi = self.lo, self.hi
        mu_global = lambda xv: _features(xv, np.asarray(self.powers_mean)) @ self.beta  # noqa: E731
        rows, targets, weights = [], [], []
        R = 1
        for x in xs:
            def mean_of(xv):
                tv = lo + (xv + 1.0) / 2.0 * (hi - lo)
                th = dict(center)
                th.update({n: tv[i] for i, n in enumerate(self.names)})
                samples = forward(th)
                return jnp.mean(samples, axis=0), samples.shape[0]

            xv = jnp.asarray(x, lo.dtype)
            s_bar, R = mean_of(xv)
            resid = np.asarray(s_bar, np.float64) - np.asarray(mu_global(xv), np.float64)
            rows.append(np.concatenate([[1.0], x - xc]))
            targets.append(resid)
            weights.append(1.0)
            if gradients:
                jac = np.asarray(jax.jacrev(lambda z: mean_of(z)[0])(xv), np.float64)  # [n, d]
                jac_g = np.asarray(jax.jacfwd(mu_global)(xv), np.float64)
                for k in range(d):
                    rows.append(np.concatenate([[0.0], np.eye(d)[k]]))
                    targets.append(jac[:, k] - jac_g[:, k])
                    weights.append(radius)
        A = np.array(rows) * np.array(weights)[:, None]
        Y = np.array(targets) * np.array(weights)[:, None]
        coef, *_ = np.linalg.lstsq(A, Y, rcond=None)  # [(1 + d), n]
        report = self.error_report
        report["refined_points"] = int(len(xs))
        report["refined_center"] = {n: float(center[n]) for n in self.names}
        report["refined_replicas"] = int(R)
        dtype = self.beta.dtype
        return Emulator(**{
            **_fields(self),
            "local_center": jnp.asarray(xc, dtype), "local_a": jnp.asarray(coef[0], dtype),
            "local_B": jnp.asarray(coef[1:].T, dtype), "local_length": float(length or 3 * radius),
            "local_var_factor": 1.0 / (R * len(xs)), "report": json.dumps(report),
        })


_RIDGE = 1e-6
_IRLS_STEPS = 25


def _as_tuple(powers) -> tuple:
    return tuple(tuple(int(v) for v in row) for row in np.asarray(powers))


def _fields(e: Emulator) -> dict:
    return {f: getattr(e, f) for f in e.__dataclass_fields__}


def _theta_matrix(theta, names: Sequence[str]) -> np.ndarray:
    if isinstance(theta, Mapping):
        return np.stack([np.asarray(theta[n], np.float64) for n in names], axis=-1)
    t = np.asarray(theta, np.float64)
    if t.ndim != 2 or t.shape[1] != len(names):
        raise DomainfitError(f"θ array has shape {t.shape}: need [N, {len(names)}] for inputs {list(names)}")
    return t


def _fit_arrays(x, s, degree, degree_var, ridge):
    pm, pv = _powers(x.shape[1], degree), _powers(x.shape[1], degree_var)
    phi_m = _features(x, pm)
    if phi_m.shape[1] >= len(x):
        raise DomainfitError(
            f"{len(x)} training pairs cannot fit a degree-{degree} emulator with {phi_m.shape[1]} terms: "
            "lower the degree or simulate more"
        )
    beta, gram_inv = _ridge(phi_m, s, ridge)
    r = s - phi_m @ beta
    # A statistic that barely varies (e.g. the mean contrast of balanced stripes) has residuals near
    # round-off, or none at all: floor the variance at 1e-8 of the statistic's own scale (plus an
    # absolute 1e-4, the statistics being O(1) by construction) so log σ² stays finite and the IRLS
    # update r² e^{−η} cannot overflow.
    scale2 = np.var(s, axis=0) + 1e-4 * np.mean(s**2, axis=0) + 1e-4
    floor = 1e-8 * scale2
    r2 = r**2 + floor
    log_lo, log_hi = np.log(floor), np.log(1e4 * scale2)
    phi_v = _features(x, pv)
    gamma, _ = _ridge(phi_v, np.log(r2), ridge)
    gamma[0] -= LOG_CHI2_1_MEAN  # constant monomial (all exponents zero) is row 0
    # Then Gaussian maximum likelihood for log σ² (a Gamma GLM with log link on r², by IRLS): the log r²
    # regression is unbiased but inefficient (Var log χ²₁ = π²/2 against 2 for the likelihood).
    gamma_log = gamma.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(_IRLS_STEPS):
            eta = np.clip(phi_v @ gamma, log_lo, log_hi)
            gamma, _ = _ridge(phi_v, eta + r2 * np.exp(-eta) - 1.0, ridge)
        eta = phi_v @ gamma
    # IRLS can oscillate on a statistic that is constant up to the floor: keep the log r² fit there.
    diverged = ~np.all(np.isfinite(eta) & (eta > log_lo - 5.0) & (eta < log_hi + 5.0), axis=0)
    gamma[:, diverged] = gamma_log[:, diverged]
    sd = np.sqrt(np.exp(phi_v @ gamma))
    z = r / sd
    corr = np.corrcoef(z, rowvar=False) if s.shape[1] > 1 else np.ones((1, 1))
    corr = 0.9 * corr + 0.1 * np.eye(len(corr))
    return pm, pv, beta, gamma, np.linalg.cholesky(corr), gram_inv


def _cross_validate(x, s, degree, degree_var, ridge, folds, key) -> dict:
    """K-fold cross-validated error of the emulator (every pair is held out once)."""
    perm = np.asarray(jax.random.permutation(key, len(x)))
    z = np.empty_like(s)
    lpd = np.empty(len(s))
    for test in np.array_split(perm, folds):
        train = np.setdiff1d(perm, test)
        pm, pv, beta, gamma, chol, gram_inv = _fit_arrays(x[train], s[train], degree, degree_var, ridge)
        phi = _features(x[test], pm)
        mean = phi @ beta
        # predictive sd: noise plus the fitted mean's own uncertainty, as in the likelihood
        sd = np.sqrt(np.exp(_features(x[test], pv) @ gamma) * (1.0 + np.einsum("if,fg,ig->i", phi, gram_inv, phi))[:, None])
        z[test] = (s[test] - mean) / sd
        # log N(s; μ, diag(sd) C diag(sd)) = log N(z; 0, C) − Σ log sd
        w = np.linalg.solve(chol, z[test].T)
        lpd[test] = (-0.5 * np.sum(w**2, axis=0) - np.sum(np.log(np.diag(chol))) - np.sum(np.log(sd), axis=1)
                     - 0.5 * s.shape[1] * np.log(2 * np.pi))
    z2 = np.mean(z**2, axis=0)
    pooled = float(np.mean(z**2))
    return dict(
        folds=int(folds),
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
    report = {}
    if folds > 1:
        report = _cross_validate(x, s, degree, degree_var, ridge, folds, jax.random.key(0) if key is None else key)
    pm, pv, beta, gamma, chol, gram_inv = _fit_arrays(x, s, degree, degree_var, ridge)
    report.update(n_train=int(len(x)), degree=degree, degree_var=degree_var)
    if presence is not None:
        report.update(n_views=presence.n_views, n_walls=presence.n_walls)
    cov = np.cov(s, rowvar=False).reshape(s.shape[1], s.shape[1]) + 1e-12 * np.eye(s.shape[1])
    f = lambda a: jnp.asarray(a, jnp.result_type(float))  # noqa: E731
    return Emulator(
        names=names, lo=f(lo), hi=f(hi), powers_mean=_as_tuple(pm), powers_var=_as_tuple(pv), beta=f(beta),
        gamma=f(gamma), corr_chol=f(chol), gram_inv=f(gram_inv), area=float(area),
        stat_names=tuple(stat_names or (f"s{i}" for i in range(s.shape[1]))),
        report=json.dumps(report), train_mean=f(s.mean(0)), train_cov_chol=f(np.linalg.cholesky(cov)),
        train_min=f(s.min(0)), train_max=f(s.max(0)), presence=presence,
    )


DATASET_PARAMS = ("D", "Ms", "sigma", "Ku", "A")
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
    (``inference.learned``); the dataset must then be one it was not trained on. For a CNN trained
    on instrument views the statistics are its estimates alone, on every state recorded by
    ``draws`` instruments drawn from its training distribution (seed ``draw_seed``; ``nn.recorded``),
    with ``geometry`` also the geometry of each view (``learned.GEOMETRIES``: of its sign, True or
    "sign", or of its domains, "domains"). Views that
    show no walls (``presence.shows_walls``) enter only the presence model p_w(θ).
    """
    from ..data.store import Dataset

    if summary_fn is None:
        from ..stats import SUMMARY_NAMES, summary_vector

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
    return Emulator(**{**_fields(emulator), "report": json.dumps(report)})


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
