"""Scanning-probe microscope files: their channels, the calibrated pixel size, and which channel is read.

Formats (the optional extra ``pip install "domainfit[spm]"``; docs/spm.md compares the readers):

| suffix | instrument | reader |
| --- | --- | --- |
| ``.gwy`` | Gwyddion | gwyfile |
| ``.ibw`` | Asylum Research (Igor binary wave, version 5) | igor2 |
| ``.sxm`` | Nanonis | nanonispy2 |
| ``.spm``, ``.000``, ``.001``, … | Bruker / Digital Instruments Nanoscope | ``_spm_nanoscope`` (its text header) |

Every reader returns ``SpmChannel`` records in one convention: ``data[y, x]`` with row 0 the top of the
frame and x the fast-scan axis (each row one scan line), the pixel size [m] from the file's calibrated
scan size over its pixel count, and the direction ``"trace"`` (forward) or ``"retrace"`` (backward, turned
to the trace's left-to-right order), or None where the file does not say.

Default channel (``load(path)`` with no ``channel``), for MFM: the lowest rank of
1. a phase or frequency-shift channel of the lift (nap, interleave) pass — the magnetic signal;
2. phase; 3. frequency shift; 4. amplitude; 5. anything else (height, current …),
and within a rank the retrace first (Asylum's and Bruker's default capture direction), then the trace,
then the file's order. The choice is recorded in ``DomainImage.meta`` (``channel``, ``direction``,
``channels``) and so in every report.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ._spm_channel import SpmChannel
from ._spm_formats import read_gwy, read_ibw, read_sxm
from ._spm_nanoscope import read_nanoscope

NANOSCOPE_SUFFIX = re.compile(r"^\.(spm|\d{3})$")
SPM_SUFFIXES = (".gwy", ".ibw", ".sxm", ".spm", ".000", ".001", "…")
"""Suffixes read as scanning-probe files (Nanoscope: ``.spm`` and any three-digit suffix)."""


def is_spm_file(path: str | Path) -> bool:
    """Whether ``path`` is read as a scanning-probe file (by its suffix, ``SPM_SUFFIXES``)."""
    suffix = Path(path).suffix.lower()
    return suffix in (".gwy", ".ibw", ".sxm") or bool(NANOSCOPE_SUFFIX.match(suffix))


def read_channels(path: Path) -> list[SpmChannel]:
    """Every image channel of a scanning-probe file (``SpmChannel``, the convention of this module)."""
    suffix = path.suffix.lower()
    reader = {".gwy": read_gwy, ".ibw": read_ibw, ".sxm": read_sxm}.get(suffix, read_nanoscope)
    channels = [c for c in reader(path) if c.data.ndim == 2 and c.data.size]
    if not channels:
        raise DomainfitError(f"{path.name} holds no image channel")
    return channels


def _rank(c: SpmChannel) -> int:
    n = c.name.lower()
    phase = "phase" in n
    freq = "freq" in n or n in ("df", "Δf") or "frequency shift" in n
    if (phase or freq) and (c.lift or any(k in n for k in ("nap", "lift", "interleave", "mfm", "magnetic"))):
        return 0
    return 1 if phase else 2 if freq else 3 if "amplitude" in n else 4


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-zμΔ]", "", text.lower())


def choose(channels: list[SpmChannel], channel: str | None, name: str) -> tuple[SpmChannel, str]:
    """The channel asked for (by label "Phase (retrace)", "PhaseRetrace", "phase retrace", or by name,
    then in the default direction), or the default one (module docstring); and how it was chosen."""
    order = {"retrace": 0, "trace": 1, None: 2}
    if channel is None:
        best = min(range(len(channels)), key=lambda i: (_rank(channels[i]), order[channels[i].direction], i))
        return channels[best], "default (lift-pass phase or frequency shift, phase, frequency shift, amplitude, "\
                               "then others; retrace first)"
    want = _key(channel)
    aliases = {"forward": "trace", "backward": "retrace", "fwd": "trace", "bwd": "retrace"}
    for word, canonical in aliases.items():
        if want.endswith(word):
            want = want[: -len(word)] + canonical
    exact = [c for c in channels if want in (_key(c.label), _key(c.name + (c.direction or "")))]
    if exact:
        return exact[0], "given"
    named = [c for c in channels if _key(c.name) == want]
    if named:
        return min(named, key=lambda c: order[c.direction]), "given (its retrace first)"
    raise DomainfitError(f"{name} has no channel {channel!r}: its channels are "
                         + ", ".join(c.label for c in channels))


def read_spm(path: Path, channel: str | None = None) -> tuple[np.ndarray, float | None, dict]:
    """(one channel's values [y, x], its pixel size [m] or None, metadata) of a scanning-probe file."""
    channels = read_channels(path)
    picked, how = choose(channels, channel, path.name)
    meta = {"format": _FORMATS.get(path.suffix.lower(), "Nanoscope"), "channel": picked.label,
            "channel_name": picked.name, "direction": picked.direction, "unit": picked.unit, "channel_choice": how,
            "channels": [c.label for c in channels], "spm": True}
    if picked.pixel_size is not None:
        meta["pixel_size_source"] = f"{meta['format']} scan size"
    return picked.data, picked.pixel_size, meta


_FORMATS = {".gwy": "Gwyddion", ".ibw": "Igor binary wave", ".sxm": "Nanonis"}


def channel_table(path: str | Path) -> list[dict]:
    """The channels of a scanning-probe file: name (with direction), unit, direction, shape [px], pixel
    size [nm], lift pass (``SpmChannel.describe``) and ``default`` (the one read without ``channel``), in
    the file's order."""
    path = Path(path)
    if not path.is_file():
        raise DomainfitError(f"image {path} does not exist")
    channels = read_channels(path)
    default, _ = choose(channels, None, path.name)
    return [dict(c.describe(), default=c is default) for c in channels]
