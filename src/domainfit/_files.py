"""Writing files so that an interruption never leaves a half-written one, and errors read as one line."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DomainfitError


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A process killed at any moment leaves either the old file or the complete new one, never a
    partial file under the final name (the temporary name starts with a dot and carries the pid).
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure and close it; an unwritable path is a ``DomainfitError``."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        fig.savefig(path)
    except OSError as err:
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path
