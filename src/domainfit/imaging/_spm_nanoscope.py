"""Bruker / Digital Instruments Nanoscope files (``.spm``, ``.000``, ``.001`` …) → ``SpmChannel`` records.

The format: a text header of ``\\Key: value`` lines in sections (``\\*Ciao scan list``, ``\\*Scanner list``,
one ``\\*Ciao image list`` per image) up to ``\\*File list end``, then little-endian integer images at each
image's ``Data offset``, bottom row first. No reader among the measured ones was light enough for the
extra (docs/spm.md: pySPM pulls scikit-image, scikit-learn and IPython, 7 s to import), so the header is
read here as Gwyddion's importer reads it (modules/file/nanoscope.c): image name from ``@2:Image Data``
(``@3:`` = the interleave, i.e. lift, pass), the values from ``@2:Z scale`` (V per LSB) times the
sensitivity it names (``@Sens. Zsens: V 18.6 nm/V``), the frame from ``Scan Size`` (µm written "~m").
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ._spm_channel import LENGTH_UNITS, SpmChannel, direction_of, square_pixel

MAX_HEADER = 1 << 20
"""Longest header read [bytes] (real ones are 20–80 kB)."""

_SCALE = re.compile(r"\[([^\]]+)\]\s*\(\s*([-+0-9.eE]+)\s*([^)]*)\)")  # [Sens. Zsens] (0.0067 V/LSB)
_VALUE_UNIT = re.compile(r"([-+0-9.eE]+)\s*(\S*)")


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """[(section title, {key: value})] in file order; keys as written, without the backslash."""
    out: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("\\*"):
            out.append((line[2:].strip(), {}))
        elif line.startswith("\\") and out:
            key, sep, value = line[1:].partition(": ")
            if not sep:
                key, _, value = line[1:].partition(":")
            out[-1][1].setdefault(key.strip(), value.strip())
    return out


def _get(fields: dict[str, str], key: str) -> str | None:
    """A field by key, case-insensitively (``Line Direction`` and ``Line direction`` both occur)."""
    low = key.lower()
    for k, v in fields.items():
        if k.lower() == low:
            return v
    return None


def _soft_scale(sections, name: str) -> tuple[float, str]:
    """``@Sens. Zsens: V 18.6 nm/V`` → (18.6, "nm"); (1, "V") when the file lacks it."""
    for _, fields in sections:
        value = _get(fields, "@" + name)
        if value is not None:
            m = _VALUE_UNIT.search(value.split(None, 1)[1] if value[:1].isalpha() else value)
            if m:
                return float(m.group(1)), m.group(2).removesuffix("/V")
    return 1.0, "V"


def _frame(fields: dict[str, str], scan: dict[str, str], nx: int, ny: int, name: str) -> float | None:
    """Pixel size [m] from ``Scan Size: 5000 5000 nm`` (or one edge and the aspect ratio of old files)."""
    size = _get(fields, "Scan Size") or _get(fields, "Scan size") or _get(scan, "Scan Size") or _get(scan, "Scan size")
    if size is None:
        return None
    parts = size.split()
    numbers = []
    for p in parts:
        try:
            numbers.append(float(p))
        except ValueError:
            break
    unit = LENGTH_UNITS.get(parts[len(numbers)] if len(parts) > len(numbers) else "nm")
    if not numbers or unit is None:
        return None
    xreal = numbers[0] * unit
    yreal = numbers[1] * unit if len(numbers) > 1 and numbers[1] != numbers[0] else xreal * ny / nx
    return square_pixel(xreal, yreal, nx, ny, name)  # equal edges with fewer lines: an aspect ratio (as pySPM)


def read_nanoscope(path: Path) -> list[SpmChannel]:
    """Every image of a Nanoscope file, with its line direction and the interleave (lift) pass marked."""
    raw = path.read_bytes()
    if b"*File list" not in raw[:64]:
        raise DomainfitError(f"{path.name} is not a Nanoscope file (no \\*File list header)")
    end = raw.find(b"\\*File list end", 0, MAX_HEADER)
    if end < 0:
        raise DomainfitError(f"{path.name}: the Nanoscope header has no \\*File list end")
    sections = _sections(raw[:end].decode("latin-1"))
    scan = next((f for t, f in sections if t.lower() == "ciao scan list"), {})
    out = []
    for title, fields in sections:
        if title.lower() != "ciao image list":
            continue
        image_key = next((k for k in fields if re.fullmatch(r"@\d:Image Data", k, re.I)), None)
        desc = fields.get(image_key, "") if image_key else (_get(fields, "Image data") or "image")
        m = re.search(r'"([^"]+)"', desc) or re.search(r"\[([^\]]+)\]", desc)
        name = m.group(1) if m else desc.strip()
        lift = bool(image_key and image_key.startswith("@3"))
        nx, ny = int(_get(fields, "Samps/line") or 0), int(_get(fields, "Number of lines") or 0)
        offset, length = int(_get(fields, "Data offset") or -1), int(_get(fields, "Data length") or 0)
        if nx <= 0 or ny <= 0 or offset < 0:
            raise DomainfitError(f"{path.name}: image {name!r} lacks its size or data offset in the header")
        bpp = int(_get(fields, "Bytes/pixel") or length // (nx * ny) or 2)
        if bpp not in (2, 4) or offset + nx * ny * bpp > len(raw):
            raise DomainfitError(f"{path.name} is truncated or not a Nanoscope image file: image {name!r} needs "
                                 f"{nx * ny * bpp} bytes at {offset}, the file has {len(raw)}")
        counts = np.frombuffer(raw, dtype=f"<i{bpp}", count=nx * ny, offset=offset).reshape(ny, nx)
        data = np.flipud(counts).astype(np.float64)  # stored bottom row first
        unit = ""
        zscale = next((v for k, v in fields.items() if re.fullmatch(r"@\d:Z scale", k, re.I)), None)
        if zscale is not None and (s := _SCALE.search(zscale)):
            hard = float(s.group(2)) * 2.0 ** (16 - 8 * bpp)  # V per LSB is given for 16-bit counts
            soft, unit = _soft_scale(sections, s.group(1))
            if unit in LENGTH_UNITS:
                soft, unit = soft * LENGTH_UNITS[unit], "m"
            data = data * hard * soft
        direction = direction_of(_get(fields, "Line Direction") or "")
        px = _frame(fields, scan, nx, ny, path.name)
        out.append(SpmChannel(f"Interleave {name}" if lift else name, unit, direction, data, px, lift=lift))
    return out
