"""The amortised emulator fitted from a dataset store, with the real summary statistics."""

import jax
import numpy as np

from domainfit import inference as inf
from domainfit.data.store import init_store, write_chunk


def test_emulator_from_dataset_store(tmp_path):
    rng = np.random.default_rng(0)
    n, px, size = 40, 4e-9, 64
    D = rng.uniform(0.1e-3, 1.0e-3, n)
    period = 40e-9 + 60e-9 * (1e-3 - D) / 0.9e-3  # a stand-in trend: period falls as D grows
    x = (np.arange(size) + 0.5) * px
    phase = rng.uniform(0, 2 * np.pi, n)
    images = np.tanh(3 * np.cos(2 * np.pi * x[None, None, :] / period[:, None, None] + phase[:, None, None]))
    images = np.broadcast_to(images, (n, size, size)).astype(np.float32)
    params = np.column_stack([D, np.full(n, 1.5e6), np.full(n, 0.1), np.full(n, 1.6e6), np.full(n, 31e-12)])
    identity = {"count": n, "chunk_size": n, "grid": {"nx": size, "ny": size, "cell_size": px, "thickness": px},
                "imaging": {"pixel_size": px}}
    init_store(tmp_path, identity)
    write_chunk(tmp_path, 0, dict(index=np.arange(n), seed=np.arange(n), params=params, component=np.zeros(n, np.int8),
                                  steps=np.ones(n, np.int32), converged=np.ones(n, bool),
                                  max_torque=np.zeros(n, np.float32), energy=np.zeros(n), image=images))
    emu = inf.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0))
    assert emu.names == ("D",) and emu.area == (size * px) ** 2
    assert emu.stat_names[0] == "period" and len(emu.stat_names) == 5
    lo, hi = (float(emu.predict({"D": d})[0][0]) for d in (0.2e-3, 0.9e-3))
    assert lo > hi  # the fitted period statistic follows the trend in the data
