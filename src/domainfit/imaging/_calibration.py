"""What a file says about itself against what the user says: the pixel size, and which plane of a stack.

- A ``--pixel-size`` that differs from the file's own calibration (TIFF tags, a .npz ``pixel_size``, an SPM
  scan size) by more than ``PIXEL_SIZE_TOLERANCE`` is refused in one line naming both values, unless
  forced (``--force``, ``force=True``): then the given one is used and a warning is recorded.
- A file of several planes (a multi-page TIFF, a ``(k, H, W)`` array) is refused in one line naming the
  planes, unless one is picked (``--page K``, ``page=K``): the first plane is never taken silently.
"""

from __future__ import annotations

import numpy as np

from .. import units
from ..errors import DomainfitError
from ._image import check_pixel_size

PIXEL_SIZE_TOLERANCE = 0.01
"""Largest relative difference between a given pixel size and the file's own that is taken as agreement."""


def resolve_pixel_size(given, from_file: float | None, meta: dict, name: str, *, force: bool = False) -> float | None:
    """The pixel size [m] to use: the given one (checked against the file's), else the file's; None when
    neither exists. Records ``pixel_size_source`` (and with ``force`` a conflict note) in ``meta``."""
    if given is None:
        return from_file
    given = check_pixel_size(given)
    if from_file is not None and abs(given - from_file) > PIXEL_SIZE_TOLERANCE * from_file:
        source = meta.get("pixel_size_source", "its own calibration")
        words = (f"the given pixel size {given * 1e9:.4g} nm differs from {name}'s own calibration "
                 f"{from_file * 1e9:.4g} nm ({source}) by {abs(given / from_file - 1):.1%}")
        if not force:
            raise DomainfitError(f"{words}: leave --pixel-size out to use the file's, or add --force to override it")
        meta["pixel_size_conflict"] = {"given_m": given, "file_m": from_file, "file_source": source}
        meta.setdefault("notes", []).append(f"{words}; the given one is used (--force)")
    meta["pixel_size_source"] = "given"
    return given


def colour_like(shape) -> bool:
    """Whether a 3-axis array is one colour or grey+alpha image [y, x, c] rather than a stack [k, y, x]."""
    return len(shape) == 3 and shape[-1] in (2, 3, 4) and shape[0] > 4


def pick_plane(arr: np.ndarray, page: int | None, name: str, meta: dict) -> np.ndarray:
    """One plane of a stack ``arr[k, y, x]`` (``page``), a single plane as it is; refuses to guess."""
    if arr.ndim <= 2 or colour_like(arr.shape):
        if page not in (None, 0):
            raise DomainfitError(f"--page {page}: {name} holds one image plane (shape {tuple(arr.shape)})")
        return arr
    if arr.ndim > 3:
        raise DomainfitError(f"image {name} has shape {tuple(arr.shape)}: need one 2D image or a stack [k, y, x]")
    return arr[select_page(arr.shape[0], page, name, f"a stack of {arr.shape[0]} planes (shape {tuple(arr.shape)})",
                           meta)]


def select_page(count: int, page: int | None, name: str, what: str, meta: dict) -> int:
    """The plane index to read of ``count``: the only one, or ``page`` (checked); refuses to guess."""
    if count == 1 and page in (None, 0):
        return 0
    if page is None:
        raise DomainfitError(f"{name} holds {what}: pick one with --page K (K = 0 … {count - 1}; page=K in Python)")
    if not 0 <= int(page) < count:
        raise DomainfitError(f"--page {page}: {name} holds {what}, numbered 0 … {count - 1}")
    meta["page"] = {"index": int(page), "of": int(count)}
    return int(page)


def parse_pixel_size(text: str | None) -> float | None:
    """``--pixel-size`` text ('15.6nm', '0.0156um') → metres, or None when not given."""
    if text is None:
        return None
    try:
        value = units.parse_length(text)
    except DomainfitError as err:
        raise DomainfitError(f"pixel size: {err}") from None
    return check_pixel_size(value, what=f"pixel size {text!r} =")
