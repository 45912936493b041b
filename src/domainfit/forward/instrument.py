"""The instrument in the film path's forward model: each simulated state recorded as the image was.

A relaxed state's statistics are not the image's: a blur erases bubbles smaller than itself (the
closed-domain count of a 1 nm film falls by e^−0.5 under a 20 nm Kerr blur), a stray-field probe adds
walls (ln W +0.15–0.4, ln P −0.1 to −0.7 for the MFM-like test instrument; studies/film_signature.py).
So every design state is recorded by ``draws`` instruments at the image's pixel size — the family the
user named (with the settings given) or, unnamed, a draw from the training prior's families and
nuisances (``data.instruments.TRAINING``) — and the emulator reads the statistics of those images.
Every state gets its own instrument draws (the design point, the seed and the draw seed them): the
instrument covariance is then estimated from as many instruments as recordings — with the same draws
at every point (common random numbers, until 7 Dec) it rested on four instruments for six statistics,
and a check built on it fired on true films. The instruments' spread enters the likelihood unscaled by
area (an instrument does not average out over a larger field), the relaxations' spread scaled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from ..errors import DomainfitError
from .statistics import STAT_NAMES, STATS_VERSION, image_statistics

DRAWS = 2
"""Instruments per simulated state."""


@dataclasses.dataclass(frozen=True)
class ImageModel:
    """How the image was recorded, as far as known: ``pixel_size`` [m]; ``family`` one of
    ``data.instruments.FAMILIES`` or None (marginalised over the training prior); ``fixed`` the settings
    the user gave (SI: ``height``, ``resolution``) as sorted (name, value) pairs; ``draws`` per state."""

    pixel_size: float
    family: str | None = None
    fixed: tuple[tuple[str, float], ...] = ()
    draws: int = DRAWS

    def __post_init__(self):
        from ..data.instruments import FAMILY_RANGES

        if not self.pixel_size > 0:
            raise DomainfitError(f"pixel size {self.pixel_size} m: need a positive length")
        if self.family is not None and self.family not in FAMILY_RANGES:
            raise DomainfitError(f"instrument {self.family!r}: use one of {', '.join(FAMILY_RANGES)}")

    def key(self) -> str:
        """Identity of the recorded statistics in a film's cache."""
        ident = dict(pixel_nm=round(self.pixel_size * 1e9, 6), family=self.family, fixed=list(self.fixed),
                     draws=self.draws, stats=list(STAT_NAMES), version=STATS_VERSION, instruments="per state")
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]

    def describe(self) -> str:
        if self.family is None:
            return "instrument not named: marginalised over the training instruments (families and nuisances)"
        given = ", ".join(f"{k} {v * 1e9:.3g} nm" for k, v in self.fixed)
        return f"instrument {self.family}" + (f" ({given})" if given else " (settings drawn over the family's range)")

    def to_json(self) -> dict:
        return {"family": self.family, "settings_nm": {k: v * 1e9 for k, v in self.fixed},
                "pixel_size_nm": self.pixel_size * 1e9, "draws_per_state": self.draws}

    def instrument(self, seed: int, r: int, point: int = 0):
        """Draw ``r`` of the state of seed ``seed`` at design point ``point`` (an integer tag of (D, σ))."""
        from ..data.instruments import TRAINING, draw_instrument

        rng = np.random.default_rng([int(seed) % 2**32, int(r), int(point) % 2**32, 33])
        return draw_instrument(TRAINING, rng, family=self.family, pixel_size=self.pixel_size, **dict(self.fixed))

    def statistics(self, mz: np.ndarray, cell_size: float, thickness: float, seed: int, point: int = 0) -> np.ndarray:
        """(draws, n_stats) statistics of the state's images (NaN rows where an image shows no walls);
        ``point`` tags the design point, so that every state has its own instruments."""
        import jax

        from ..imaging import record

        out = np.full((self.draws, len(STAT_NAMES)), np.nan)
        for r in range(self.draws):
            inst = self.instrument(seed, r, point)
            img = np.asarray(record(jax.numpy.asarray(mz, jax.numpy.float32), cell_size, inst, thickness=thickness,
                                    key=jax.random.key((int(seed) * 7919 + r + 104729 * int(point)) % 2**31)))
            prepared = _prepared(img, self.pixel_size)
            if prepared is not None:
                out[r] = image_statistics(prepared, self.pixel_size)
        return out


def _prepared(img: np.ndarray, pixel_size: float):
    """The image as ``estimate`` reads an array (``imaging.from_array``, background flattened as by
    default); None for an image with no contrast."""
    from ..imaging import from_array

    try:
        return from_array(img, pixel_size, flatten=2).data
    except DomainfitError:
        return None
