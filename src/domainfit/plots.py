"""Figures people would rather look at than read. Matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DomainfitError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_mz_png(mz: np.ndarray, cell_size: float, path: str | Path, *, title: str = "") -> Path:
    """Write m_z (ny, nx) as a grey-scale picture with axes in µm and a colour bar; returns the path."""
    plt = _pyplot()
    path = Path(path)
    mz = np.asarray(mz)
    ny, nx = mz.shape
    extent = (0.0, nx * cell_size * 1e6, 0.0, ny * cell_size * 1e6)
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=120)
    im = ax.imshow(mz, cmap="gray", vmin=-1, vmax=1, origin="lower", extent=extent, interpolation="nearest")
    ax.set_xlabel("x [µm]")
    ax.set_ylabel("y [µm]")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="$m_z$")
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as err:
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path
