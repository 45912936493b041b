"""Writing files so that an interruption never leaves a half-written one, and errors read as one line."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` (same suffix) for a writer that takes a file name; on
    success it replaces ``path`` at once, on any failure or interrupt it is removed — a reader never
    sees a half-written file (e.g. a NetCDF cut short by Ctrl-C, which ArviZ opens without a posterior)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_writable(path: str | Path) -> Path:
    """Raise ``DomainfitError`` now, before any long work, if ``path`` cannot be written (a missing or
    read-only folder, a special file system such as /proc): a file is created beside it and removed."""
    path = Path(path)
    if not path.parent.is_dir():
        raise DomainfitError(f"cannot write {path}: folder {path.parent} does not exist")
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        with open(probe, "wb") as f:
            f.write(b"0")
    except OSError as err:
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    return path


FIGURE_MARK = ("domainfit", "figure")
"""PNG text chunk of every figure domainfit writes: ``imaging.load`` refuses such a file as data."""


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display is needed or opened)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure atomically and close it; an unwritable path is a ``DomainfitError``.
    A PNG carries the text chunk ``FIGURE_MARK``, so that a figure (axes, colour bar) is never read
    back as a domain image."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    metadata = {"Software": "domainfit", FIGURE_MARK[0]: FIGURE_MARK[1]} if path.suffix.lower() == ".png" else None
    try:
        fig.savefig(tmp, metadata=metadata)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path
