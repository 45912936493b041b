"""Gwyddion ``.gwy``, Asylum ``.ibw`` and Nanonis ``.sxm`` files → ``SpmChannel`` records, through their
maintained readers (gwyfile, igor2, nanonispy2; the ``spm`` extra). Orientations follow Gwyddion's
importers, the reference of the field: rows top first, each row one scan line left to right."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ._spm_channel import (
    LENGTH_UNITS as _LENGTH_UNITS,
    SpmChannel,
    direction_of,
    is_lift as _is_lift,
    require,
    split_direction,
    square_pixel,
    unit_from_name,
)

# --- Gwyddion .gwy ---------------------------------------------------------------------------------


def read_gwy(path: Path) -> list[SpmChannel]:
    """The data fields of a Gwyddion file (``/N/data`` with ``/N/data/title``); the pixel size from
    ``xreal``/``xres`` when the lateral unit is a length."""
    gwyfile = require("gwyfile", "Gwyddion .gwy")
    container = gwyfile.load(str(path))
    out = []
    for key in sorted((k for k in container if re.fullmatch(r"/\d+/data", k)), key=lambda k: int(k.split("/")[1])):
        field = container[key]
        data = np.asarray(field.data, dtype=np.float64)
        title = str(container.get(f"{key}/title", f"channel {key.split('/')[1]}"))
        name, direction = split_direction(title)
        xy = getattr(field.si_unit_xy, "get", lambda *_: "")("unitstr", "") if field.si_unit_xy is not None else ""
        z = getattr(field.si_unit_z, "get", lambda *_: "")("unitstr", "") if field.si_unit_z is not None else ""
        px = None
        scale = _LENGTH_UNITS.get(str(xy).strip())
        if scale is not None and field.xreal and field.yreal:
            ny, nx = data.shape
            px = square_pixel(field.xreal * scale, field.yreal * scale, nx, ny, path.name)
        out.append(SpmChannel(name, str(z), direction, data, px, lift=_is_lift(name)))
    return out


# --- Asylum Research / Igor .ibw ---------------------------------------------------------------------


def _text(raw) -> str:
    if isinstance(raw, np.ndarray):
        raw = raw.tobytes()
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw).split(b"\x00")[0].decode("latin-1")
    return str(raw)


def _note_values(note: str) -> dict[str, str]:
    """Asylum's wave note: "Key: value" lines separated by carriage returns."""
    out = {}
    for line in re.split(r"[\r\n]+", note):
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def read_ibw(path: Path) -> list[SpmChannel]:
    """The layers of an Asylum Research image wave (Igor binary wave version 5: [x, y, layer] with the
    layer names as dimension labels), or the one image of a plain 2D wave. The pixel size from the x and y
    scaling when their unit is a length, else from the note's ``FastScanSize``/``SlowScanSize`` [m]."""
    binarywave = require("igor2.binarywave", "Igor .ibw")
    wave = binarywave.load(str(path))["wave"]
    data = np.asarray(wave["wData"])
    if data.dtype.kind not in "iuf":
        raise DomainfitError(f"{path.name} is an Igor wave of {data.dtype} values, not an image")
    header = wave["wave_header"]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise DomainfitError(f"{path.name} is an Igor wave of shape {data.shape}, not an image [x, y, layer]")
    nx, ny, nlayers = data.shape
    labels = wave.get("labels") or []
    names = [_text(v) for v in labels[2][1:]] if len(labels) > 2 and len(labels[2]) > 1 else []
    if len(names) != nlayers:
        base = _text(header.get("bname", b"")) or path.stem
        names = [base] if nlayers == 1 else [f"{base} {i}" for i in range(nlayers)]
    units = [_text(u) for u in np.asarray(header["dimUnits"]).reshape(4, -1)] if "dimUnits" in header else ["", ""]
    note = _note_values(_text(wave.get("note", b"")))
    sx, sy = (float(v) for v in np.asarray(header["sfA"])[:2])
    px = None
    if _LENGTH_UNITS.get(units[0].strip()) and _LENGTH_UNITS.get(units[1].strip()):
        px = square_pixel(abs(sx) * nx * _LENGTH_UNITS[units[0].strip()], abs(sy) * ny * _LENGTH_UNITS[units[1].strip()],
                          nx, ny, path.name)
    elif "FastScanSize" in note and "SlowScanSize" in note:
        px = square_pixel(float(note["FastScanSize"]), float(note["SlowScanSize"]), nx, ny, path.name)
    out = []
    for k, label in enumerate(names):
        name, direction = split_direction(label)
        image = np.flipud(data[:, :, k].T).astype(np.float64)  # Igor's q (y) axis points up
        out.append(SpmChannel(name, unit_from_name(name), direction, image, px, lift=_is_lift(name)))
    return out


# --- Nanonis .sxm --------------------------------------------------------------------------------------


def read_sxm(path: Path) -> list[SpmChannel]:
    """The channels of a Nanonis scan, both directions; the pixel size from ``SCAN_RANGE``/``SCAN_PIXELS``.
    Backward images are mirrored to the forward order and an upward scan (``SCAN_DIR`` up) is turned top
    first, as Gwyddion's importer does."""
    read = require("nanonispy2.read", "Nanonis .sxm")
    try:
        scan = read.Scan(str(path))
    except ValueError as err:  # nanonispy2 reshapes the data block assuming both directions of every channel
        raise DomainfitError(f"cannot read {path.name}: nanonispy2 reads scans whose every channel was recorded in "
                             f"both directions ({str(err).splitlines()[0][:80]})") from None
    header = scan.header
    nx, ny = (int(v) for v in header["scan_pixels"])
    xreal, yreal = (float(v) for v in header["scan_range"])
    px = square_pixel(xreal, yreal, nx, ny, path.name)
    up = str(header.get("scan_dir", "")).strip().lower() == "up"
    info = header["data_info"]
    units = dict(zip(info["Name"], info["Unit"]))
    out = []
    for name, pair in scan.signals.items():
        for word, image in pair.items():
            image = np.asarray(image, dtype=np.float64)
            if word == "backward":
                image = image[:, ::-1]
            if up:
                image = image[::-1]
            name_ = name.replace("_", " ")
            out.append(SpmChannel(name_, units.get(name, ""), direction_of(word), image, px, lift=_is_lift(name_)))
    return out
