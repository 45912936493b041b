"""Simulated states as an instrument records them and as the network then reads them.

``recorded(mz, …, instrument, seed)`` is the file a user would have: the instrument's grey levels
(``imaging.record``). From there training, calibration, evaluation and ``nn.estimate`` share one path
(``imaging.model_input``: background removal, contrast normalisation, resampling to the model pixel
size), so a simulated view and a user's image reach the network alike.

``render_pool`` renders, for each stored state, ``views`` instrument draws at the model's input
size: the training views (random crops, symmetries and signs are applied per step on top).
View j of sample i draws its instrument and noise from the seed (seed, index_i, j): a pool is a
pure function of the dataset, the instrument prior and the seed.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..imaging import BACKGROUND_TERMS, Instrument, model_input, record
from .instruments import InstrumentPrior, draw_instrument

_VIEW_STREAM = 0x1A57
VIEWS_VERSION = "2"
"""Bumped whenever rendering or preparation changes what a pool holds (cached pools are keyed by it)."""


@eqx.filter_jit
def _record(mz, cell_size, thickness, instrument, key):
    return record(mz, cell_size, instrument, thickness=thickness, key=key)


def _traced(instrument: Instrument) -> Instrument:
    """The instrument with its numbers as arrays and a full background vector: one compilation
    serves every draw of a kind (transfer, point spread, sampling, pixel size)."""
    bg = tuple(instrument.background) + (0.0,) * (len(BACKGROUND_TERMS) - len(instrument.background))
    inst = dataclasses.replace(instrument, background=bg, name="")
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), inst)


def recorded(mz: np.ndarray, cell_size: float, thickness: float, instrument: Instrument, seed) -> np.ndarray:
    """The grey levels [py, px] (float32) the instrument writes to its file for one state, at the
    instrument's pixel size. ``seed``: int or sequence (noise, scan lines)."""
    key = jax.random.key(int(np.random.default_rng(seed).integers(2**31)))
    return np.asarray(_record(jnp.asarray(mz, jnp.float32), float(cell_size), float(thickness), _traced(instrument), key))


def fit_canvas(image: np.ndarray, pixels: int) -> np.ndarray:
    """The top-left ``pixels``² of an image; an axis shorter than that is continued by mirror
    images (edge pixel repeated, numpy's "symmetric" padding at the far end)."""
    def index(n):
        if n >= pixels:
            return np.arange(pixels)
        j = np.mod(np.arange(pixels), 2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)

    h, w = image.shape
    return image[index(h)[:, None], index(w)[None, :]]


def view_seed(seed: int, index: int, j: int) -> list[int]:
    return [int(seed), _VIEW_STREAM, int(index), int(j)]


def render_pool(
    mz: np.ndarray,
    index: np.ndarray,
    *,
    cell_size: float,
    thickness: float,
    prior: InstrumentPrior,
    views: int,
    seed: int,
    pixel_size: float,
    pixels: int,
    progress: bool = False,
) -> tuple[np.ndarray, list[list[str]]]:
    """Training views [n, views, P, P] (float16) of the states ``mz`` [n, ny, nx] (sample ``index``
    [n] of the store), each recorded by an instrument drawn from ``prior`` and prepared by
    ``imaging.model_input`` at ``pixel_size`` [m]; with the family name of every view."""
    from tqdm.auto import tqdm

    out = np.empty((len(mz), views, pixels, pixels), np.float16)
    families = []
    bar = tqdm(total=len(mz) * views, desc="render views", unit="view", disable=not progress, mininterval=5.0)
    for i, (m, idx) in enumerate(zip(mz, index)):
        fam = []
        for j in range(views):
            s = view_seed(seed, idx, j)
            inst = draw_instrument(prior, np.random.default_rng(s))
            raw = recorded(m, cell_size, thickness, inst, s + [1])
            if np.ptp(raw) == 0:
                # a uniform film recorded without noise or background: no contrast to normalise, mid-grey
                # (``estimate`` refuses such a file, so the network never reads one)
                out[i, j] = 0.0
            else:
                out[i, j] = fit_canvas(model_input(raw, inst.pixel_size, pixel_size), pixels)
            fam.append(inst.name)
            bar.update(1)
        families.append(fam)
    bar.close()
    return out, families
