"""Whether the film keeps domain walls: the image test and its probability across the prior box.

A film relaxed from a random state keeps a maze only where the grain disorder pins the coarsening
walls (docs/physics.md, "What the low-ms preset relaxes to"): with weak disorder and low Ms it ends
uniform. A uniform image is the same for every Ms, so it carries no statistics to compare — but the
fact that it shows *no walls* is data. The likelihood of an image is therefore a hurdle model,

    p(image | θ) = p_w(θ) · N(s_obs; μ(θ), Σ(θ))      if the image shows walls,
                   1 − p_w(θ)                          if it does not,

with μ, Σ the emulator of the statistics fitted on the images that show walls only, and p_w(θ) the
probability that a film at θ, recorded as the training views were, shows walls: a logistic
polynomial of the box-normalised inputs x ∈ [−1, 1]ᵈ,

    p_w(θ) = ε + (1 − 2ε) · logistic(φ(x)·α),     ε = ½ / (N + 1),

fitted by ridge-penalised Newton steps (IRLS) to the labels of the N training views. ε is the
Jeffreys estimate of a probability never observed in N trials: a set whose N views all show walls
(the co-pt box) still gives a wall-free image the probability ε, not zero — the Bayes factor such an
image can give against that set is bounded by what was measured (log(1/ε) = 7.0 for N = 544), never
infinite.

``features.walls.shows_walls(image)`` is the test applied to training views and to the user's image alike: the
image's structure must stand above pixel noise (``features.geometry.pattern_contrast`` ≥
``MIN_PATTERN_CONTRAST``) and, after the background is removed and pixel noise smoothed (Gaussian,
1.5 pixels), the two levels that Otsu's threshold separates must each cover at least ``MIN_MINORITY``
of the area. It is a test of the recording, not of the film: measured on instrument views (docs/
inference.md, "Images without walls") it missed no wall-bearing low-ms view, while a uniform film
recorded with a cubic background and little noise passes it in a share of views. ``p_w(θ)`` is
fitted to the same test on the training views, so the likelihood is that of the test's outcome and
its errors are inside the model; they cost information, not calibration.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float
from ..errors import DomainfitError
from . import polynomial
from ..features.walls import shows_walls as shows_walls

_RIDGE = 1.0
_NEWTON_STEPS = 50


class Presence(eqx.Module):
    """p_w(θ): the probability that a film at θ shows walls (module docstring).

    Attributes:
        powers: monomial exponents of the logistic polynomial (in the emulator's x).
        alpha: its coefficients [F].
        epsilon: the floor ε = ½/(N + 1).
        n_views, n_walls: training views and how many showed walls.
    """

    powers: tuple = eqx.field(static=True)
    alpha: Float[Array, " F"]
    epsilon: float = eqx.field(static=True)
    n_views: int = eqx.field(static=True)
    n_walls: int = eqx.field(static=True)

    def log_prob_x(self, x: Float[Array, " d"], walls: bool) -> Float[Array, ""]:
        """log p_w(x) (``walls``) or log(1 − p_w(x)), x box-normalised."""
        eta = polynomial.features(x, np.asarray(self.powers)) @ self.alpha
        eps = self.epsilon
        # log(ε + (1 − 2ε) σ(±η)) computed stably from log σ(±η)
        log_sig = jax.nn.log_sigmoid(eta if walls else -eta)
        return jnp.logaddexp(jnp.log(eps), jnp.log1p(-2 * eps) + log_sig)

    def prob_x(self, x: Float[Array, "... d"]) -> Float[Array, "..."]:
        """p_w at box-normalised x (any leading shape)."""
        eta = polynomial.features(x, np.asarray(self.powers)) @ self.alpha
        return self.epsilon + (1 - 2 * self.epsilon) * jax.nn.sigmoid(eta)

    def to_meta(self) -> dict:
        return dict(powers=[list(p) for p in self.powers], epsilon=self.epsilon, n_views=self.n_views,
                    n_walls=self.n_walls)

    @classmethod
    def from_meta(cls, meta: dict, alpha) -> "Presence":
        return cls(powers=tuple(tuple(int(v) for v in p) for p in meta["powers"]), alpha=jnp.asarray(alpha),
                   epsilon=float(meta["epsilon"]), n_views=int(meta["n_views"]), n_walls=int(meta["n_walls"]))


def fit_presence(x: Float[Array, "N d"], walls: Float[Array, " N"], *, degree: int = 2, ridge: float = _RIDGE) -> Presence:
    """Fit ``Presence`` to box-normalised inputs x [N, d] and labels ``walls`` [N] (True: the view
    showed walls) by ridge-penalised IRLS. Separable labels (every view with walls, or a sharp
    threshold) stay finite through the ridge, and ε bounds the probabilities away from 0 and 1."""
    x = np.asarray(x, np.float64)
    y = np.asarray(walls, np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise DomainfitError(f"presence fit: inputs {x.shape} and labels {y.shape} do not match")
    powers = polynomial.powers(x.shape[1], degree)
    phi = polynomial.features(x, powers)
    penalty = ridge * np.eye(phi.shape[1])
    penalty[0, 0] = 1e-6  # the constant term (row 0: all exponents zero) is barely penalised
    alpha = np.zeros(phi.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(phi @ alpha, -40, 40)))
        grad = phi.T @ (y - p) - penalty @ alpha
        hess = (phi * (p * (1 - p))[:, None]).T @ phi + penalty
        step = np.linalg.solve(hess, grad)
        alpha = alpha + step
        if np.max(np.abs(step)) < 1e-9:
            break
    n = len(y)
    return Presence(powers=tuple(tuple(int(v) for v in p) for p in powers), alpha=jnp.asarray(alpha, jnp.result_type(float)),
                    epsilon=0.5 / (n + 1), n_views=int(n), n_walls=int(y.sum()))


def all_walls(n_views: int, d: int) -> Presence:
    """The presence model of a set whose ``n_views`` training views all showed walls: p_w = 1 − ε
    everywhere (what ``fit_presence`` gives such labels, without the fit). Emulators fitted before the
    hurdle model fitted their statistics on every view as a maze; this states that assumption and
    its Jeffreys bound instead of a certainty."""
    if n_views < 1:
        raise DomainfitError(f"{n_views} training views: need at least one")
    return Presence(powers=(tuple([0] * d),), alpha=jnp.asarray([40.0]), epsilon=0.5 / (n_views + 1),
                    n_views=int(n_views), n_walls=int(n_views))

