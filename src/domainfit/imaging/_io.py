"""Reading and writing domain images with their pixel size.

Formats: PNG/JPEG/BMP/GIF (Pillow; 8/16-bit, grey, palette or RGB → grey), TIFF (tifffile;
integer or float, resolution tags), NumPy ``.npy``/``.npz`` (``domainfit simulate --out`` files
included), and scanning-probe files (``_spm``: Gwyddion, Asylum .ibw, Nanonis .sxm, Nanoscope; the
``spm`` extra). Every bad input raises ``DomainfitError`` with a one-line message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .._assets import asset_path
from ..errors import DomainfitError
from ._calibration import pick_plane, resolve_pixel_size, select_page
from ._image import MIN_PIXELS, DomainImage, check_pixel_size
from ._level import SPM_LEVEL, check_level, level_lines
from ._normalise import binarise as _binarise, flatten_background, normalise_contrast

_PILLOW = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
_TIFF = {".tif", ".tiff"}
_NUMPY = {".npy", ".npz"}

MAX_FILE_PIXELS = 8192 * 8192
"""Largest image read [pixels per plane], checked from the file's header before its pixels are read:
a 64-megapixel plane already needs 0.5 GB as float64."""

MAX_TAG_PIXEL_SIZE = 10e-6
"""A resolution tag coarser than this [m per pixel] is a print resolution (72 dpi …), not a calibration."""

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights, as Pillow's "L" mode
_TIFF_UNITS = {2: 0.0254, 3: 0.01, 4: 1e-3, 5: 1e-6}  # ResolutionUnit → metres (4, 5: tifffile extensions)
_IMAGEJ_UNITS = {"micron": 1e-6, "microns": 1e-6, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "\\u00b5m": 1e-6,
                 "nm": 1e-9, "nanometer": 1e-9, "mm": 1e-3, "cm": 1e-2, "m": 1.0}  # fmt: skip


EXAMPLE_NAME = "example"
"""Stands for the shipped example image wherever an image path is asked for (CLI and ``load``)."""

EXAMPLES: dict[str, str] = {"example": "example_maze.npz", "example-512": "example_maze_512.npz",
                            "example-mfm": "example_mfm.tif"}
"""Names of the shipped examples (used as an image path when no such file exists) → asset file.
``example``: a simulated co-pt maze, 512² cells of 4 nm rendered at 8 nm (256² px, 2.048 µm);
``example-512``: the same film (same seed and parameters) at its cell size, 512² px of 4 nm;
``example-mfm``: the same film recorded by a simulated MFM (30 nm lift, 8 nm pixels, noise, a tilted
background, 16-bit TIFF with its pixel size in the tags; tools/assets/mfm_example.py)."""


def example_path(name: str = EXAMPLE_NAME) -> Path:
    """Path of a shipped example image (``EXAMPLES``)."""
    if name not in EXAMPLES:
        raise DomainfitError(f"no shipped example {name!r}: the examples are {', '.join(EXAMPLES)}")
    return asset_path(EXAMPLES[name])


def load(
    path: str | Path,
    *,
    pixel_size: float | None = None,
    invert: bool = False,
    flatten: int | None = None,
    binarise: bool = False,
    percentiles: tuple[float, float] = (1.0, 99.0),
    channel: str | None = None,
    level: str | None = "auto",
    force: bool = False,
    page: int | None = None,
) -> DomainImage:
    """Read a domain image and normalise its contrast to [-1, 1].

    Args:
        path: PNG, JPEG, BMP, GIF, TIFF, .npy or .npz file, or a scanning-probe file (.gwy, .ibw, .sxm,
            Nanoscope .spm/.000/.001…; ``pip install "domainfit[spm]"``); ``"example"`` or
            ``"example-512"`` (when no such file exists) is a shipped example image, ``example_path(name)``.
        pixel_size: pixel side [m]. Required when the file has no calibration of its own (TIFF
            resolution tags, ImageJ unit, ``pixel_size``/``cell_size`` or the configuration of a .npz,
            an SPM scan size); one that differs from the file's by more than 1 % is refused unless
            ``force`` (then it is used and a warning recorded).
        channel: the channel of a scanning-probe file ("Phase (retrace)", "NapPhase", "Z forward"…); by
            default the MFM channel (``_spm``: lift-pass phase or frequency shift, phase, frequency
            shift, amplitude, others; retrace first). The choice and the channels are in ``meta``.
        level: scan-line levelling before anything else (``_level``): "auto" (default: "median" for a
            scanning-probe channel, "none" for any other file), "none", "median" (per-line offset,
            median of line-to-line differences), "poly1" or "poly2" (per-line polynomial).
        force: use a ``pixel_size`` that contradicts the file's own calibration.
        page: the plane of a multi-page TIFF or a stack ``(k, H, W)`` (0-based); such a file is
            refused without it.
        invert: multiply the contrast by −1 (e.g. MFM phase, whose sign depends on the tip).
        flatten: subtract a least-squares polynomial background of this degree first (1 = plane).
        binarise: make the image two-level ±1 (Otsu threshold of the normalised contrast).
        percentiles: raw levels mapped to −1 and +1 (robust to outliers, which are clipped).

    Raises ``DomainfitError`` (one line) for a missing, empty, unreadable or truncated file, a
    zero-size, non-2D, non-finite, constant or too small (< 32 px a side) image, and a missing or
    non-positive pixel size.
    """
    path = Path(path)
    if str(path) in EXAMPLES and not path.exists():
        path = example_path(str(path))
    name = path.name
    if not path.exists():
        if path.is_symlink():
            raise DomainfitError(f"image {path} is a symbolic link to nothing (broken, or a loop of links)")
        raise DomainfitError(f"image {path} does not exist")
    if path.is_dir():
        raise DomainfitError(f"image {path} is a folder, not an image file")
    if not path.is_file():  # a FIFO or a device would block the read or never end
        raise DomainfitError(f"image {path} is not a regular file (a FIFO, device or socket): give an image file")
    if path.stat().st_size == 0:
        raise DomainfitError(f"image {name} is an empty file (0 bytes)")
    level = check_level(level)
    raw, file_pixel_size, meta = _read(path, channel=channel, page=page)
    raw = _check_pixels(raw, name)
    pixel_size = resolve_pixel_size(pixel_size, file_pixel_size, meta, name, force=force)
    if pixel_size is None:
        raise DomainfitError(
            f"pixel size missing for {name}: pass --pixel-size (e.g. --pixel-size 15.6nm); "
            f"the file has no usable resolution tags"
        )
    level = (SPM_LEVEL if meta.get("spm") else "none") if level == "auto" else level
    return _normalised(raw, pixel_size, meta, name, str(path), invert=invert, flatten=flatten, binarise=binarise,
                       percentiles=percentiles, level=level)


def from_array(
    raw: np.ndarray,
    pixel_size: float,
    *,
    invert: bool = False,
    flatten: int | None = None,
    binarise: bool = False,
    percentiles: tuple[float, float] = (1.0, 99.0),
    source: str = "array",
    level: str | None = "none",
) -> DomainImage:
    """A domain image from an array of raw levels [y, x] with its pixel size [m], normalised as ``load``
    normalises a file (same checks: 2D, finite, not constant, ≥ 32 px a side); ``level`` as ``load``'s
    ("auto" = "none" for an array)."""
    raw = _check_pixels(np.asarray(raw, dtype=np.float64), source)  # as a file is read: float64
    meta = {"format": "array", "pixel_size_source": "given"}
    level = check_level(level)
    return _normalised(raw, check_pixel_size(pixel_size), meta, source, source, invert=invert, flatten=flatten,
                       binarise=binarise, percentiles=percentiles, level="none" if level == "auto" else level)


def _normalised(raw, pixel_size, meta, name, source, *, invert, flatten, binarise, percentiles,
                level="none") -> DomainImage:
    raw, meta["level"] = level_lines(raw, level)  # scan lines first: the background fit assumes none
    if flatten is not None:
        raw, coef = flatten_background(raw, flatten)
        meta["flatten"] = {"degree": int(flatten), "coefficients": [float(c) for c in coef]}
    try:
        u, (lo, hi) = normalise_contrast(raw, percentiles)
    except DomainfitError as err:
        raise DomainfitError(f"image {name}: {err}") from None
    meta["percentiles"] = {"levels": list(percentiles), "raw_values": [lo, hi]}
    if invert:
        u = -u
    meta["invert"] = bool(invert)
    if binarise:
        u, threshold = _binarise(u)
        meta["binarise_threshold"] = threshold
    meta["binarise"] = bool(binarise)
    return DomainImage(data=u.astype(np.float32), pixel_size=pixel_size, source=source, meta=meta)


def save(image: DomainImage, path: str | Path) -> Path:
    """Write ``image`` to .npz (data, pixel_size [m], source, meta) or .tif/.tiff (float32 with
    resolution tags in pixels per centimetre), so that ``load`` finds its pixel size again."""
    path = Path(path)
    suffix = path.suffix.lower()
    from .._files import atomic_path

    if suffix != ".npz" and suffix not in _TIFF:
        raise DomainfitError(f"cannot write {path.name}: save images as .npz or .tif (they keep the pixel size)")
    try:
        with atomic_path(path) as tmp:
            if suffix == ".npz":
                np.savez_compressed(tmp, image=image.data, pixel_size=np.float64(image.pixel_size),
                                    source=image.source, meta_json=json.dumps(image.meta, default=str))  # fmt: skip
            else:
                import tifffile

                per_cm = 0.01 / image.pixel_size
                tifffile.imwrite(tmp, image.data.astype(np.float32), resolution=(per_cm, per_cm), resolutionunit=3)
    except OSError as err:
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def _read(path: Path, channel: str | None = None, page: int | None = None) -> tuple[np.ndarray, float | None, dict]:
    """(raw grey image as float64, pixel size from the file [m] or None, metadata)."""
    from ._spm import is_spm_file, read_spm

    suffix = path.suffix.lower()
    spm = is_spm_file(path)
    kind = "TIFF" if suffix in _TIFF else "NumPy" if suffix in _NUMPY else "image" if suffix in _PILLOW else \
        "scanning-probe" if spm else None
    if kind is None:
        raise DomainfitError(f"unknown image format {path.suffix or '(no suffix)'!r} of {path.name}: use PNG, JPEG, "
                             "TIFF, .npy, .npz or a scanning-probe file (.gwy, .ibw, .sxm, Nanoscope .spm/.000)")
    if channel is not None and not spm:
        raise DomainfitError(f"--channel {channel!r}: {path.name} has one channel (channels are chosen in "
                             "scanning-probe files: .gwy, .ibw, .sxm, Nanoscope)")
    if page is not None and spm:
        raise DomainfitError(f"--page applies to multi-page TIFF files and stacks; choose a channel of {path.name} "
                             "with --channel")
    try:
        if spm:
            arr, px, meta = read_spm(path, channel)
        elif suffix in _TIFF:
            arr, px, meta = _read_tiff(path, page)
        elif suffix in _NUMPY:
            arr, px, meta = _read_numpy(path)
        else:
            arr, px, meta = _read_pillow(path)
    except DomainfitError:
        raise
    except MemoryError:
        raise DomainfitError(f"image {path.name} is too large to read into memory") from None
    except Exception as err:  # noqa: BLE001 — every reader failure becomes one line for the user
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise DomainfitError(f"cannot read {path.name}: not a valid or complete {kind} file ({detail})") from None
    meta["original_dtype"] = str(arr.dtype)
    if arr.dtype.kind not in "biuf":
        raise DomainfitError(f"image {path.name} has pixels of type {arr.dtype}: need real numbers")
    arr = pick_plane(np.asarray(arr), None if suffix in _TIFF else page, path.name, meta)
    return _to_grey(arr, meta), px, meta


def _to_grey(arr: np.ndarray, meta: dict) -> np.ndarray:
    """Colour → luma (BT.601), extra planes → the first one; returns float64; a colour image's ``meta["hue"]``."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        meta["colour"] = "RGB → grey (BT.601 luma)"
        rgb = arr[..., :3].astype(np.float64)
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
            meta.setdefault("notes", []).append(
                "a colour image, converted to grey by its luma (0.299 R + 0.587 G + 0.114 B): if a colour map "
                "encodes the signal, export the grey levels instead")
            from ._colour import hue_spread  # a colour map spreads it (``features.domain_likeness``)

            meta["hue"] = hue_spread(arr[..., :3])
        return rgb @ _LUMA
    if arr.ndim == 3 and arr.shape[-1] == 2 and arr.shape[0] > 4:
        meta["colour"] = "grey + alpha → grey"
        return arr[..., 0].astype(np.float64)
    while arr.ndim > 2 and arr.shape[0] >= 1:
        meta.setdefault("planes", []).append(f"first of {arr.shape[0]}")
        arr = arr[0]
    return arr.astype(np.float64)


def _check_pixels(raw: np.ndarray, name: str) -> np.ndarray:
    if raw.size == 0:
        raise DomainfitError(f"image {name} has zero size (shape {raw.shape})")
    if raw.ndim != 2:
        raise DomainfitError(f"image {name} has shape {raw.shape}: need a 2D image")
    bad = int(np.size(raw) - np.count_nonzero(np.isfinite(raw)))
    if bad:
        raise DomainfitError(f"image {name} has {bad} NaN or infinite pixel(s): fill them (e.g. by interpolation) first")
    ny, nx = raw.shape
    if min(ny, nx) < MIN_PIXELS:
        raise DomainfitError(f"image {name} is {ny}×{nx} px, too small: need at least {MIN_PIXELS} px along each side")
    if raw.max() == raw.min():
        raise DomainfitError(f"image {name} is constant (every pixel = {raw.flat[0]:g}): there is no domain contrast")
    return raw


def _check_header_size(shape, name: str) -> None:
    """Refuse, from the header alone, a plane too large to read (``MAX_FILE_PIXELS``)."""
    dims = [int(d) for d in shape if int(d) > 4] or [int(d) for d in shape]
    plane = math.prod(dims[-2:]) if len(dims) >= 2 else math.prod(dims)
    if plane > MAX_FILE_PIXELS:
        raise DomainfitError(f"image {name} has {plane / 1e6:.0f} megapixels per plane (shape {tuple(shape)}): more "
                             f"than the {MAX_FILE_PIXELS / 1e6:.0f} read at once; crop it first")


def _read_pillow(path: Path) -> tuple[np.ndarray, None, dict]:
    from PIL import Image

    from .._files import FIGURE_MARK

    with Image.open(path) as im:
        _check_header_size((im.size[1], im.size[0]), path.name)
        im.load()
        fmt, mode = im.format, im.mode
        if im.info.get(FIGURE_MARK[0]) == FIGURE_MARK[1]:
            raise DomainfitError(f"{path.name} is a figure written by domainfit (axes, colour bar, labels), not a "
                                 "domain image: read the state itself (simulate --out state.npz) or the instrument's file")
        notes = []
        if fmt == "JPEG":
            notes.append(f"{path.name} is a JPEG: lossy compression blurs walls and adds block artefacts; "
                         "a lossless file (TIFF, PNG) from the instrument is better")
        if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
            im = im.convert("RGB")
        arr = np.array(im)
    bits = {"1": 1, "L": 8, "LA": 8, "P": 8, "RGB": 8, "RGBA": 8, "I": 32, "F": 32}.get(mode, 16 if "16" in mode else 8)
    return arr, None, {"format": fmt, "mode": mode, "bit_depth": bits, "notes": notes}


def _read_tiff(path: Path, index: int | None = None) -> tuple[np.ndarray, float | None, dict]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise DomainfitError(f"TIFF {path.name} has no image pages")
        full = [p for p in tif.pages if not getattr(p, "is_reduced", False)]  # thumbnails are not planes
        chosen: dict = {}
        page = full[select_page(len(full), index, path.name, f"{len(full)} pages (image planes)", chosen)]
        _check_header_size(page.shape, path.name)
        arr = page.asarray()
        if arr.ndim == 3 and page.planarconfig == 2 and arr.shape[0] in (3, 4) and page.photometric == 2:
            arr = np.moveaxis(arr, 0, -1)  # RGB stored as separate planes: one colour image
        meta: dict = {"format": "TIFF", "bit_depth": int(page.bitspersample), "pages": len(tif.pages), **chosen}
        px = _tiff_pixel_size(tif, page, meta, path.name)
    return arr, px, meta


def _tiff_pixel_size(tif, page, meta: dict, name: str) -> float | None:
    """Pixel size [m] from XResolution/YResolution + ResolutionUnit (or the ImageJ unit), or None."""
    tags = page.tags
    if "XResolution" not in tags:
        return None

    def per_unit(tag):
        num, den = tags[tag].value if tag in tags else tags["XResolution"].value
        return num / den if den else 0.0

    rx, ry = per_unit("XResolution"), per_unit("YResolution")
    if not (rx > 0 and ry > 0 and math.isfinite(rx) and math.isfinite(ry)):
        return None
    unit_code = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2  # TIFF default: inch
    unit_m = _TIFF_UNITS.get(unit_code)
    ij = tif.imagej_metadata or {}
    if unit_code == 1 and isinstance(ij.get("unit"), str):
        unit_m = _IMAGEJ_UNITS.get(ij["unit"].strip().lower())
    if unit_m is None:
        return None
    px, py = unit_m / rx, unit_m / ry
    if abs(px - py) > 0.01 * px:
        raise DomainfitError(
            f"TIFF {name} has non-square pixels ({px * 1e9:.4g} × {py * 1e9:.4g} nm): resample it to square pixels first"
        )
    if px > MAX_TAG_PIXEL_SIZE:
        meta["ignored_resolution_tag"] = f"{px:g} m per pixel (a print resolution, not a calibration)"
        return None
    meta["pixel_size_source"] = "TIFF resolution tags"
    return px


def _read_numpy(path: Path) -> tuple[np.ndarray, float | None, dict]:
    meta: dict = {"format": path.suffix.lower()[1:]}
    if path.suffix.lower() == ".npy":
        _check_header_size(np.load(path, allow_pickle=False, mmap_mode="r").shape, path.name)
        arr = np.load(path, allow_pickle=False)
        if arr.ndim == 3 and arr.shape[0] == 3:
            meta["array"] = "m[2] (m_z of a magnetisation m[c, y, x])"
            arr = arr[2]
        return arr, None, meta
    px = None
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        for key in ("image", "data", "mz", "m_z", "m"):
            if key in keys:
                break
        else:
            if len(keys) != 1:
                raise DomainfitError(f"{path.name} holds arrays {keys}: name the image 'image' (or 'mz' or 'm')")
            key = keys[0]
        with z.zip.open(f"{key}.npy") as member:  # the array's header, before its data
            fmt = np.lib.format
            read_header = fmt.read_array_header_1_0 if fmt.read_magic(member) == (1, 0) else fmt.read_array_header_2_0
            shape = read_header(member)[0]
        _check_header_size(shape, path.name)
        arr = z[key]
        meta["array"] = key
        if key == "m" and arr.ndim == 3 and arr.shape[0] == 3:
            arr = arr[2]
            meta["array"] = "m[2] (m_z)"
        for size_key in ("pixel_size", "cell_size"):
            if size_key in keys:
                px = float(z[size_key])
                meta["pixel_size_source"] = f"{path.name}:{size_key}"
                break
        if px is None and "config_json" in keys:
            grid = json.loads(str(z["config_json"])).get("grid", {})
            if "cell_size_m" in grid:
                px = float(grid["cell_size_m"])
                meta["pixel_size_source"] = f"{path.name}: simulation cell size"
    if px is not None:
        px = check_pixel_size(px, what=f"pixel size stored in {path.name}")
    return arr, px, meta
