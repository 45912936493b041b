"""Forward model of H½, the field where a film's initial magnetisation curve reaches ⟨m_z⟩ = ½.

H½ is what a magnetometer reads off the virgin curve of the AC-demagnetised film (polar Kerr, Hall or
VSM). There is no closed formula for it in a disordered film, so the project fits one to simulated
curves (``physics.curve.initial_curve``, the protocol in its docstring) of training films in no other
dataset: a quadratic in (D, σ) over the co-pt box, with its leave-one-film-out prediction error as the
model error (``tools/assets/half_field.py`` makes and checks it; ``docs/observations.md``). It holds for
the co-pt set's Ms, A, Ku and thickness only — the measurement refuses other films.

The scatter is that of a 2 µm field of view at zero temperature; a loop of a whole film averages many
such regions, so the stated model error is an upper bound on the sampling part, but a room-temperature
loop can read lower fields than this T = 0 model (thermal activation over the pinning): give a model
error that covers it (``half_field``'s ``model=`` option) when the film's sweep rate or temperature is
far from quasi-static.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._assets import asset_path
from ..errors import DomainfitError

ASSET = "half_field_co-pt.json"


def _features(u, v, xp=np):
    return xp.stack([xp.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)


class HalfFieldModel:
    """μ0H½(D, σ) [T] of one parameter set, a quadratic in the box-scaled parameters.

    Attributes:
        coef_T: the six coefficients [T] of 1, u, v, u², uv, v² with u, v the parameters scaled to [−1, 1]
            over ``box``.
        residual_sd_T: the model error [T]: the rms of the training films' leave-one-film-out prediction
            errors (each film predicted by the quadratic fitted to the others), what a new film's H½ is
            off by; ``info["fit_sd_T"]`` keeps the in-sample residual sd for comparison.
        box: {"D": (lo, hi) [J/m²], "sigma": (lo, hi)} the fit holds in.
        constants: the set's fixed parameters (SI) the curves were simulated with.
        info: provenance (films, seeds, protocol, field of view).
    """

    def __init__(self, coef_T, residual_sd_T: float, box: dict, constants: dict, info: dict | None = None):
        self.coef_T = np.asarray(coef_T, float)
        if self.coef_T.shape != (6,):
            raise DomainfitError(f"H½ model: 6 coefficients expected, got {self.coef_T.shape}")
        self.residual_sd_T = float(residual_sd_T)
        self.box = {k: (float(a), float(b)) for k, (a, b) in box.items()}
        self.constants = {k: float(v) for k, v in constants.items()}
        self.info = dict(info or {})

    def _scaled(self, D, sigma, xp):
        (d0, d1), (s0, s1) = self.box["D"], self.box["sigma"]
        return (2 * D - d0 - d1) / (d1 - d0), (2 * sigma - s0 - s1) / (s1 - s0)

    def predict(self, D, sigma):
        """μ0H½ [T] at D [J/m²] and σ (jax-traceable; arrays broadcast)."""
        u, v = jnp.broadcast_arrays(*self._scaled(jnp.asarray(D), jnp.asarray(sigma), jnp))
        return _features(u, v, jnp) @ jnp.asarray(self.coef_T, jnp.result_type(float))

    @classmethod
    def fit(cls, D, sigma, h_half_T, box: dict, constants: dict, info: dict | None = None) -> "HalfFieldModel":
        """Least-squares quadratic through simulated films (D [J/m²], σ, μ0H½ [T]); the model error is the
        rms of the leave-one-film-out prediction errors, e_i / (1 − h_ii) with h the hat matrix's diagonal
        (exactly the refit without film i). It carries the coefficients' own uncertainty, which the
        in-sample residual sd (kept as ``info["fit_sd_T"]``, six degrees of freedom taken off) does not."""
        D, sigma, h = (np.asarray(x, float) for x in (D, sigma, h_half_T))
        ok = np.isfinite(h)
        if ok.sum() < 10:
            raise DomainfitError(f"H½ model: {ok.sum()} films with a finite H½; fit needs at least 10")
        tmp = cls(np.zeros(6), 0.0, box, constants)
        X = _features(*tmp._scaled(D[ok], sigma[ok], np), np)
        coef, *_ = np.linalg.lstsq(X, h[ok], rcond=None)
        resid = h[ok] - X @ coef
        fit_sd = float(np.sqrt(np.sum(resid**2) / (ok.sum() - X.shape[1])))
        hat = np.einsum("ij,ij->i", X @ np.linalg.pinv(X.T @ X), X)
        loo = resid / (1.0 - hat)
        loo_sd = float(np.sqrt(np.mean(loo**2)))
        info = {**(info or {}), "films": int(ok.sum()), "fit_sd_T": fit_sd, "model_error": "leave-one-film-out rms"}
        return cls(coef, loo_sd, box, constants, info)

    def to_json(self) -> dict:
        return {"kind": "half_field", "coef_T": self.coef_T.tolist(), "residual_sd_T": self.residual_sd_T,
                "box": {k: list(v) for k, v in self.box.items()}, "constants": self.constants, "info": self.info,
                "features": "1, u, v, u², uv, v²; u = (2D − D_lo − D_hi)/(D_hi − D_lo), v likewise for σ"}

    def save(self, path) -> None:
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)

    @classmethod
    def from_json(cls, d: dict) -> "HalfFieldModel":
        return cls(d["coef_T"], d["residual_sd_T"], d["box"], d["constants"], d.get("info"))

    @classmethod
    def load(cls, path) -> "HalfFieldModel":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError) as err:
            raise DomainfitError(f"cannot read the H½ model {path}: {err}") from None


@functools.lru_cache(maxsize=1)
def shipped() -> HalfFieldModel:
    """The shipped H½ model of the co-pt set (package data)."""
    return HalfFieldModel.from_json(json.loads(asset_path(ASSET).read_text()))
