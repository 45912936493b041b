"""A synthetic maze-like m_z for image and statistics tests (no relaxation needed)."""

import numpy as np


def synthetic_maze(n, cell, period, *, seed=0, wall=12e-9, ny=None):
    """A smooth maze-like m_z (no relaxation): band-pass noise at k = 1/period, walls of width ~wall."""
    ny = n if ny is None else ny
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(ny, d=cell)[:, None], np.fft.fftfreq(n, d=cell)[None, :])
    k0 = 1.0 / period
    f = np.fft.ifft2(np.fft.fft2(rng.standard_normal((ny, n))) * np.exp(-((k - k0) ** 2) / (2 * (0.15 * k0) ** 2))).real
    return np.tanh(f / f.std() / (2 * np.pi * k0 * wall)).astype(np.float32)
