"""Amortised emulator of the summary statistics' mean μ(θ) and covariance Σ(θ) (see docs/inference.md).

Fitted once to the (θ, s) pairs of the training set — one simulated image per θ across the prior box —
and shipped with the model. In box-normalised coordinates x = 2(θ − lo)/(hi − lo) − 1 ∈ [−1, 1]ᵈ:

    μ(θ)       = Φ_m(x) β                 (polynomial of total degree ``degree``, ridge least squares)
    log σ²(θ)  = Φ_v(x) γ                 (Gaussian maximum likelihood on r = s − μ by IRLS, started
                                           from the regression of log r² + 1.2704, E[log χ²₁] = −1.2704)
    Σ(θ)       = diag σ(θ) · C · diag σ(θ),  C the correlation of the standardised residuals
    V_μ(θ)     = φ_m(x)ᵀ (Φ_mᵀΦ_m + λI)⁻¹ φ_m(x) · σ²(θ) · deff   (predictive variance of the fitted mean;
                                           deff the design effect of several views per state)

K-fold cross-validation, whole states held out together (views of one state share θ), measures the
error before the final fit on all pairs: the RMS of the held-out
standardised residuals z = (s − μ)/σ (1 for a perfect emulator), the coverage of the 90 % predictive
interval, and the emulator's mean error in units of the noise sd, √max(⟨z²⟩ − 1, 0) pooled over all
statistics (``surrogate_error``; its resolution is limited by ``z2_pooled_se``, the standard error of
⟨z²⟩: with N pairs and n statistics, ~√(2/(N n))).
``refine`` corrects the mean locally with fresh simulations (replica means and their Jacobians by
implicit differentiation) around a point, typically the MAP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import chi2

from .._types import Array, Float, Key
from . import polynomial
from ..errors import DomainfitError
from .presence import Presence
from .provenance import Provenance, provenance_of

LOG_CHI2_1_MEAN = -1.2703628454614782
"""E[log χ²₁] = −γ_E − log 2: the bias of log r² as an estimate of log σ²."""


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
        presence: p_w(θ), the probability that a film at θ shows walls (``surrogate.presence``); the
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
        phi_m = polynomial.features(x, np.asarray(self.powers_mean))
        phi_v = polynomial.features(x, np.asarray(self.powers_var))
        mean = phi_m @ self.beta
        var = jnp.exp(phi_v @ self.gamma)  # gamma's constant term already holds the −E[log χ²₁] shift
        sd = jnp.sqrt(var)
        corr = self.corr_chol @ self.corr_chol.T
        cov = sd[:, None] * corr * sd[None, :]
        mean_var = (phi_m @ self.gram_inv @ phi_m) * var
        factor = self.provenance.mean_var_factor  # several views per state: V_μ counts states
        if factor is not None and len(factor) == var.shape[-1]:
            mean_var = mean_var * jnp.asarray(factor, var.dtype)
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
    def provenance(self) -> Provenance:
        """Where it comes from and how well it predicts held-out data (``surrogate.provenance``), typed."""
        return provenance_of(self.report)

    @property
    def error_report(self) -> dict:
        """The provenance record as a new dict (for reports, or to extend and write back)."""
        return self.provenance.to_dict()

    @property
    def box(self) -> dict[str, tuple[float, float]]:
        """The training box {input: (low, high)} [SI]."""
        return {n: (float(lo), float(hi)) for n, lo, hi in zip(self.names, self.lo, self.hi)}

    @property
    def constants(self) -> dict[str, float]:
        """Parameters the training set held at one value {name: value} [SI]; the emulator assumes them."""
        return dict(self.provenance.constants)

    @property
    def component(self) -> str | None:
        """The prior component of a mixed training set it was fitted to (None: the whole set)."""
        return self.provenance.component

    @property
    def surrogate_error(self) -> float:
        """Held-out RMS emulator mean error in units of the training-image noise sd."""
        return self.provenance.surrogate_error

    def extrapolates(self, s_obs: Float[Array, " n"]) -> bool:
        """Whether ``s_obs`` lies beyond the 99.9 % Mahalanobis limit of the training statistics."""
        if self.train_mean is None:
            return False
        z = jax.scipy.linalg.solve_triangular(self.train_cov_chol, jnp.asarray(s_obs, self.train_mean.dtype) -
                                              self.train_mean, lower=True)
        d2 = float(jnp.sum(z**2))
        return not np.isfinite(d2) or d2 > float(chi2.ppf(0.999, df=len(self.stat_names)))

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

        n = self.provenance.n_train
        if n < 1:
            raise DomainfitError("this emulator records no training count: it cannot say how likely a "
                                 "wall-free image is; refit it with `domainfit emulator`")
        return Emulator(**{**fields_of(self), "presence": all_walls(n, len(self.names))})

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
            loaded = np.load(path, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise DomainfitError(f"emulator {path} is a single array (.npy), not an emulator (.npz written by "
                                     "`domainfit emulator`)")
            with loaded as f:
                if "meta" not in f.files or "names" not in str(f["meta"]):
                    raise DomainfitError(f"{path} is no emulator: an .npz written by `domainfit emulator` holds 'meta'")
                meta = json.loads(str(f["meta"]))
                arrays = {k: jnp.asarray(f[k]) for k in f.files if k not in ("meta", "powers_mean", "powers_var")}
                pm, pv = np.asarray(f["powers_mean"]), np.asarray(f["powers_var"])
            presence = None
            if "presence" in meta:
                presence = Presence.from_meta(meta["presence"], arrays.pop("presence_alpha"))
        except (OSError, KeyError, ValueError) as err:
            raise DomainfitError(f"cannot read emulator {path}: {err}") from None
        return cls(names=tuple(meta["names"]), powers_mean=as_tuple(pm), powers_var=as_tuple(pv),
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
            return np.linalg.lstsq(polynomial.features(x_new, p), polynomial.features(x_old, p), rcond=None)[0]

        tm, tv = transfer(self.powers_mean), transfer(self.powers_var)
        dtype = self.beta.dtype
        beta = tm @ np.asarray(self.beta, np.float64)
        gamma = tv @ np.asarray(self.gamma, np.float64)
        gram_inv = tm @ np.asarray(self.gram_inv, np.float64) @ tm.T
        presence = self.presence
        if presence is not None:  # the logistic polynomial re-expanded the same way
            alpha = transfer(presence.powers) @ np.asarray(presence.alpha, np.float64)
            presence = Presence(**{**fields_of(presence), "alpha": jnp.asarray(alpha, presence.alpha.dtype)})
        return Emulator(**{**fields_of(self), "lo": jnp.asarray(lo_new, self.lo.dtype), "hi": jnp.asarray(hi_new, self.hi.dtype),
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
        mu_global = lambda xv: polynomial.features(xv, np.asarray(self.powers_mean)) @ self.beta  # noqa: E731
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
            **fields_of(self),
            "local_center": jnp.asarray(xc, dtype), "local_a": jnp.asarray(coef[0], dtype),
            "local_B": jnp.asarray(coef[1:].T, dtype), "local_length": float(length or 3 * radius),
            "local_var_factor": 1.0 / (R * len(xs)), "report": json.dumps(report),
        })

def as_tuple(powers) -> tuple:
    return tuple(tuple(int(v) for v in row) for row in np.asarray(powers))


def fields_of(e: Emulator) -> dict:
    return {f: getattr(e, f) for f in e.__dataclass_fields__}
