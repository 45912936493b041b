"""The image likelihood on the emulator: s_obs ~ N(μ(θ), Σ_eff(θ)) with μ, Σ the emulator's, the hurdle
of wall presence and the instrument term of the named family (docs/inference.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float
from ..errors import DomainfitError
from ..inference.likelihood import Theta, gaussian_log_density
from .instrument_terms import terms_of


class EmulatorLikelihood(eqx.Module):
    """log p(s_obs | θ) with μ(θ), Σ(θ) from a fitted ``Emulator`` (the CPU default).

    Σ_eff = Σ_emu(θ) ∘ f(a_train/a_obs) + V_μ(θ) + diag(e² σ²(θ)) + ε I, where V_μ is the emulator's own
    predictive variance of the mean and e its cross-validated mean error beyond V_μ in units of the
    training-noise sd σ (``model_error``; its error enters the likelihood instead of being ignored).
    Only the state's share of the noise averages over the field of view (``area_scaled``): V_μ, e and
    the instrument's share do not shrink with the observed area — the floor a large image meets.

    Attributes:
        emulator: a fitted ``emulator.Emulator``.
        s_obs: observed summary vector ``[n_stats]``.
        area_ratio: a_train / a_obs, training-image over observed area (an array leaf, so that images of
            another size reuse the compiled posterior).
        floor: ε added to the diagonal.
        model_error: add the cross-validated emulator error (default True).
        instrument: the instrument family that recorded the image (None: not named); with
            ``instrument_term`` and an emulator that carries instrument terms
            (``surrogate.instrument_terms``), the family's bias and scatter enter the moments.
        walls: whether the image shows walls (``presence.shows_walls``). With an emulator that has a
            presence model p_w(θ) (``surrogate.presence``) the log-likelihood is log p_w(θ) plus the
            Gaussian of the statistics, or, for an image without walls, log(1 − p_w(θ)) alone.
    """

    emulator: "object"
    s_obs: Float[Array, " n"]
    area_ratio: Float[Array, ""] = eqx.field(default=1.0, converter=lambda v: np.asarray(v, np.float32))
    floor: float = eqx.field(static=True, default=1e-8)
    model_error: bool = eqx.field(static=True, default=True)
    instrument: str | None = eqx.field(static=True, default=None)
    instrument_term: bool = eqx.field(static=True, default=True)
    walls: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not self.walls and getattr(self.emulator, "presence", None) is None:
            raise DomainfitError("the image shows no domain walls, and this emulator has no model of when a film "
                                 "keeps walls (it was fitted before the hurdle model, or on images that all show "
                                 "walls): refit it with `domainfit emulator` to judge a wall-free image")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The parameters the likelihood depends on: the emulator's inputs."""
        return tuple(self.emulator.names)

    @property
    def constants(self) -> dict[str, float]:
        """Parameters the emulator's training set held at one value (SI): the likelihood assumes them."""
        return self.emulator.constants

    def moment_parts(self, theta: Theta) -> tuple[Float[Array, " n"], Float[Array, "n n"], Float[Array, "n n"]]:
        """μ(θ) and the covariance in two parts: ``own`` = Σ_emu · a_train/a_obs + ε I, this image's
        sampling noise, and ``shared`` = V_μ + diag(e² σ²), the emulator's error at θ — the same for
        every image read through this emulator, so several images of one film share it
        (``measurements.JointLikelihood``)."""
        mean, cov, mean_var = self.emulator.predict(theta)
        noise_var = jnp.diag(cov)
        own = area_scaled(cov, self.area_ratio, self.emulator.provenance.between_state_share)
        own = own + self.floor * jnp.eye(cov.shape[0], dtype=cov.dtype)
        shared = jnp.diag(mean_var)
        if self.model_error:
            # The emulator's cross-validated mean error beyond V_μ, e_i in training-noise sd
            # (``mean_error_over_sd``): its variance e_i² σ_i²(θ) is added. It does not shrink with the
            # observed area, so with a large image it is what keeps the intervals honest.
            err = self.emulator.provenance.mean_error_over_sd
            if err is not None and len(err) == cov.shape[0]:
                shared = shared + jnp.diag(jnp.asarray(err, cov.dtype) ** 2 * noise_var)
        term = self.term()
        if term is not None:
            # The instrument family's bias b_f and scatter c_f, measured in units of the pooled sd at the
            # training area (surrogate.instrument_terms); the bias does not shrink with the image's area.
            ref_sd = jnp.sqrt(noise_var + jnp.diag(shared))
            mean = mean + jnp.asarray(term["bias"], cov.dtype) * ref_sd
            sd = jnp.sqrt(noise_var)
            own = _scale(own, term["own_scale"]) + jnp.asarray(term["own_extra"], cov.dtype) * sd[:, None] * sd[None, :]
            shared = _scale(shared, term["shared_scale"]) + jnp.diag(
                jnp.asarray(term["shared_extra"], cov.dtype) * ref_sd**2)
        return mean, own, shared

    def term(self) -> dict | None:
        """The instrument term applied to this image (``InstrumentTerms.term``), or None."""
        if not self.instrument_term:
            return None
        terms = terms_of(self.emulator)
        return None if terms is None else terms.term(self.instrument)

    def repeat(self) -> np.ndarray | None:
        """ρ: the share of this image's own scatter that its instrument repeats on every image it records
        (``InstrumentTerms.repeat``), or None (not measured, or no instrument term)."""
        if not self.instrument_term:
            return None
        terms = terms_of(self.emulator)
        return None if terms is None else terms.repeat(self.instrument)

    def moments(self, theta: Theta) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
        mean, own, shared = self.moment_parts(theta)
        return mean, own + shared

    def presence_term(self, theta: Theta) -> Float[Array, ""] | None:
        """log p_w(θ), or log(1 − p_w(θ)) for an image without walls; None without a presence model."""
        presence = getattr(self.emulator, "presence", None)
        if presence is None:
            return None
        return presence.log_prob_x(self.emulator.normalise(theta), self.walls)

    def gaussian(self, theta: Theta) -> Float[Array, ""]:
        """log N(s_obs; μ(θ), Σ_eff(θ)): the statistics' term alone (an image with walls)."""
        mean, cov = self.moments(theta)
        return gaussian_log_density(self.s_obs, mean, cov)

    def __call__(self, theta: Theta) -> Float[Array, ""]:
        term = self.presence_term(theta)
        if term is None:
            return self.gaussian(theta)
        return term if not self.walls else term + self.gaussian(theta)


def area_scaled(cov: Float[Array, "n n"], area_ratio, between_state_share) -> Float[Array, "n n"]:
    """The training-area noise covariance at the observed area: each statistic's variance × f_i,
    f_i = ρ_i r + (1 − ρ_i) max(r, 1), r = a_train/a_obs, ρ_i its between-state share (``Provenance``):
    the relaxation's share averages over area as 1/area, the share of the view (instrument draw, CNN
    reading) is kept at its training-area value for a larger image (a floor) and grows for a smaller
    one. Without a measured share (older emulators) ρ = 1: all of it scales, as before."""
    r = jnp.asarray(area_ratio, cov.dtype)
    if between_state_share is None or len(between_state_share) != cov.shape[0]:
        return cov * r
    rho = jnp.asarray(between_state_share, cov.dtype)
    return _scale(cov, rho * r + (1.0 - rho) * jnp.maximum(r, 1.0))


def _scale(cov: Float[Array, "n n"], var_scale) -> Float[Array, "n n"]:
    """diag(√c) · cov · diag(√c): each statistic's variance × c_i, correlations kept."""
    r = jnp.sqrt(jnp.asarray(var_scale, cov.dtype))
    return cov * r[:, None] * r[None, :]


def standardised_residuals(emulator, theta: Mapping[str, float], s: Sequence[float], area_ratio: float) -> np.ndarray:
    """z = (s − μ(θ)) / σ_tot(θ) of one view under the pooled emulator (module docstring): without any
    instrument term the emulator already carries, so that terms are measured against the pooled emulator
    however often they are refitted."""
    lik = EmulatorLikelihood(emulator, jnp.asarray(s, jnp.float32), area_ratio=float(area_ratio), instrument_term=False)
    mean, own, shared = lik.moment_parts({k: float(v) for k, v in theta.items()})
    sd = np.sqrt(np.diag(np.asarray(own + shared, np.float64)))
    return (np.asarray(s, np.float64) - np.asarray(mean, np.float64)) / sd
