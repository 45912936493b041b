"""The state's history as a model error of the film path: relaxed from random against field-cycled.

The film path simulates mazes relaxed from random states. A user's film may have been AC-demagnetised
or left after field sweeps instead, and a maze taken through a decaying alternating field coarsens
before it pins again (``studies/history.py``, ``docs/figures/history.json``: three films at D = 0.8 D_c,
two seeds each, 256² cells). The shift depends on the pinning: at σ = 0.05 the period grew by up to
e^0.37, at σ = 0.15 by at most e^0.03.

With ``history="unknown"`` (the default) the likelihood carries the shift as a model error of sd half
the measured shifts' rms over the films, per statistic, interpolated linearly in σ between the two
measured σ (held beyond them): an image of a field-cycled film then lies within 2 sd of the random
states' statistics. ``history="random"`` (a film known to be quenched, e.g. imaged after a heat pulse
or as grown from a random state) drops the term.
"""

from __future__ import annotations

import numpy as np

from ..errors import DomainfitError

HISTORIES = ("unknown", "random")

SIGMAS = (0.05, 0.15)
SHIFT_RMS: dict[str, tuple[float, float]] = {
    "log_period": (0.253, 0.066),
    "log_wall_density": (0.158, 0.057),
    "spectral_width": (0.021, 0.014),
    "log_closed_density": (0.229, 0.113),
    "cnn_D": (0.382, 0.051),
    "cnn_sigma": (0.183, 0.018),
}
"""Per statistic, the rms over the study's three films of the mean shift field-cycled − random (two
seeds each) at ``SIGMAS`` (``docs/figures/history.json``: ``python -m studies.history --json …``, 7 Dec
2026, 2-core CPU)."""


def history_sd(names, sigma, history: str = "unknown"):
    """(k,) the history's model-error sd of statistics ``names`` at σ (NumPy or JAX); zeros for "random"."""
    from .design import array_module

    if history not in HISTORIES:
        raise DomainfitError(f"history {history!r}: use one of {', '.join(HISTORIES)}")
    xp = array_module(sigma)
    if history == "random":
        return xp.zeros(len(names))
    w = xp.clip((sigma - SIGMAS[0]) / (SIGMAS[1] - SIGMAS[0]), 0.0, 1.0)
    lo = np.array([SHIFT_RMS.get(n, (0.0, 0.0))[0] for n in names])
    hi = np.array([SHIFT_RMS.get(n, (0.0, 0.0))[1] for n in names])
    return 0.5 * (lo + w * (hi - lo))
