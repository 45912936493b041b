"""Writing files so that an interruption never leaves a half-written one, and errors read as one line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from .errors import DomainfitError

# The outputs policy (every command and the API): domainfit writes regular files only. An existing
# output path that is a symbolic link, a folder, a FIFO, a device or a socket is refused — a link is not
# written through (its target would be left stale or, as root, a device replaced): give the target's own
# path if that is what you mean. An output may never be one of the run's inputs. The files of one run in
# one folder appear together (``staged_folder``). Paths are checked before any work (``check_output``).


def _kind(mode: int) -> str:
    return ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if
            stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def refuse_special(path: str | Path, what: str = "output") -> None:
    """Raise ``DomainfitError`` if ``path`` exists as anything but a regular file (a symbolic link included)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise DomainfitError(f"cannot write {what} {path}: {err.strerror or err}") from None
    if stat.S_ISLNK(st.st_mode):
        raise DomainfitError(f"{what} {path} is a symbolic link: domainfit writes regular files only, not through "
                             f"links (give the target's path, {os.path.realpath(path)}, if you mean it)")
    if not stat.S_ISREG(st.st_mode):
        raise DomainfitError(f"{what} {path} exists and is {_kind(st.st_mode)}: domainfit writes regular files only")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (through links, relative parts or hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | Path, *, inputs: Iterable[str | Path] = (), what: str = "output") -> Path:
    """Refuse now, before any work, an output file that the policy forbids (a link, a folder or special
    file, one of ``inputs``) or that cannot be written."""
    path = Path(path)
    refuse_special(path, what)
    for source in inputs:
        if source is not None and Path(source).exists() and same_file(path, source):
            raise DomainfitError(f"{what} {path} is also an input of this run ({source}): it would be overwritten; "
                                 "choose another name")
    return check_writable(path)


def check_output_folder(path: str | Path, *, inputs: Iterable[str | Path] = (), what: str = "output folder") -> Path:
    """Refuse now an output folder that exists as a file (or special file), that holds an input of the run
    as one of its names, or whose parent does not exist."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DomainfitError(f"{what} {path} exists and is not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise DomainfitError(f"cannot create {what} {path}: folder {path.parent} does not exist")
    for source in inputs:
        if source is not None and Path(source).exists() and same_file(path, source):
            raise DomainfitError(f"{what} {path} is also an input of this run: choose another folder")
    return path


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A process killed at any moment leaves either the old file or the complete new one, never a
    partial file under the final name (the temporary name starts with a dot and carries the pid).
    """
    path = Path(path)
    refuse_special(path)
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
    except BaseException:  # Ctrl-C or SIGTERM (as KeyboardInterrupt) while writing: no temporary file left
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` (same suffix) for a writer that takes a file name; on
    success it replaces ``path`` at once, on any failure or interrupt it is removed — a reader never
    sees a half-written file (e.g. a NetCDF cut short by Ctrl-C, which ArviZ opens without a posterior)."""
    path = Path(path)
    refuse_special(path)
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


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif")
"""File types a figure can be written as (matplotlib's writers)."""


def check_figure_path(path: str | Path, *, inputs: Iterable[str | Path] = (), what: str = "figure") -> Path:
    """``check_output`` for a figure, and its suffix one matplotlib writes — before any work."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise DomainfitError(f"{what} {path}: a figure is written as {', '.join(s[1:] for s in FIGURE_SUFFIXES)} "
                             f"(by its suffix), not {path.suffix or 'a name without a suffix'!r}")
    return check_output(path, inputs=inputs, what=what)


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
    refuse_special(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        plt.close(fig)
        check_figure_path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    metadata = {"Software": "domainfit", FIGURE_MARK[0]: FIGURE_MARK[1]} if path.suffix.lower() == ".png" else None
    try:
        fig.savefig(tmp, metadata=metadata)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM (main thread, where the OS allows it) for a few renames: they are
    delivered when the block ends, so a run's files are either all old or all new."""
    held = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def staged_folder(out: str | Path, owned: Iterable[str] = ()):
    """Yield a staging folder inside ``out`` (created) for the files of one run; on success they replace
    those in ``out`` in one step, with interrupts held for its few renames, and files named in ``owned``
    that this run did not write (an older run's outputs) are removed — the folder never mixes two runs'
    files. On any failure or interrupt the staging folder is removed and ``out`` is as it was."""
    out = check_output_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name or 'out'}.", suffix=".staging", dir=out))
    except OSError as err:
        raise DomainfitError(f"cannot create folder {out}: {err.strerror or err}") from None
    try:
        yield stage
        written = sorted(p.name for p in stage.iterdir() if p.is_file() and not p.name.startswith("."))
        for name in written:
            refuse_special(out / name)
        with _signals_held():
            for name in set(owned) - set(written):
                with contextlib.suppress(FileNotFoundError):
                    if not (out / name).is_symlink() and (out / name).is_file():
                        (out / name).unlink()
            for name in written:
                os.replace(stage / name, out / name)
    except OSError as err:
        raise DomainfitError(f"cannot write into {out}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
