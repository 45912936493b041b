"""Held-out splits of a stored dataset: which states fit, which test, and the held-out recorded views.

The sets' emulators are fitted on the states of even chunk number (``chunk_rows(ds, 0)``); the states of
odd chunk number stay held out, and each is recorded by one instrument of the test prior
(``held_out_view``) on a seed stream of its own, so that no fitting view repeats.
"""

from __future__ import annotations

import numpy as np

from .instruments import TEST, draw_instrument
from .store import Dataset
from .views import recorded

STREAM = 0x5E75


def chunk_rows(ds: Dataset, parity: int) -> np.ndarray:
    """Rows of converged states whose chunk number has ``parity``."""
    chunk = np.asarray(ds.index) // int(ds.meta["identity"]["chunk_size"])
    return np.nonzero((chunk % 2 == parity) & np.asarray(ds.converged, bool))[0]


def held_out_view(ds: Dataset, row: int, stream: int = STREAM):
    """(recorded image, instrument) of state ``row``: one instrument of the test prior drawn on seed
    [stream, index], the recording's own draws on [stream, index, 1] — the held-out images every
    held-out study reads (each benchmark its own stream, or this one to read the same images)."""
    s = [stream, int(ds.index[row])]
    inst = draw_instrument(TEST, np.random.default_rng(s))
    m = np.asarray(ds.mz([row])[0], np.float32)
    return recorded(m, float(ds.grid["cell_size"]), float(ds.grid["thickness"]), inst, s + [1]), inst
