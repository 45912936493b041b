"""What ``estimate`` and ``compare`` read from the user: the image, the model, held parameters and the
instrument, each checked with an error in words."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ..families import USER_FAMILIES

INSTRUMENTS = USER_FAMILIES
"""Instrument families a user can name (``data.instruments.FAMILIES`` without the bound's ``binary``)."""

def parse_fixes(fix: Mapping[str, float | str] | None) -> dict[str, float]:
    """``{"Ku": "1.6MJ/m3", "sigma": 0.1}`` → SI values; numbers are taken as SI, strings carry their unit."""
    out = {}
    for name, value in (fix or {}).items():
        if name not in units.PARAMETER_UNITS:
            raise DomainfitError(f"cannot fix {name!r}: parameters are {', '.join(units.PARAMETER_UNITS)}")
        out[name] = units.parse_quantity(name, value) if isinstance(value, str) else float(value)
    return out


def load_model(model):
    """A ``LoadedModel`` from "default" (the shipped one), a path, or a ``LoadedModel``."""
    from ..nn import load_default, load_model as load_path
    from ..nn.checkpoint import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    return load_default() if model in (None, "default") else load_path(model)


def read_image(image, pixel_size=None, *, invert: bool = False, flatten: int | None = None, binarise: bool = False,
               channel: str | None = None, level: str | None = "auto", force: bool = False, page: int | None = None):
    """A ``DomainImage`` from a file path (or "example"), an array of raw levels, or a ``DomainImage``.
    ``pixel_size``: metres, or a string with its unit ("15.6nm"); ``binarise``: two-level (Otsu);
    ``channel``, ``level``, ``force``, ``page``: as ``imaging.load`` (an SPM channel, scan-line levelling,
    a pixel size that overrides the file's, the plane of a stack)."""
    import numpy as np

    from .. import imaging

    if image is None or isinstance(image, (bytes, bytearray, memoryview, dict, set)):
        raise DomainfitError(f"image {type(image).__name__ if image is not None else 'None'}: give a file path, "
                             "\"example\", a 2-D array of raw levels or a DomainImage")
    if isinstance(pixel_size, str):
        pixel_size = imaging.parse_pixel_size(pixel_size)
    if isinstance(image, imaging.DomainImage):
        given = [n for n, v in (("invert", invert), ("flatten", flatten is not None), ("binarise", binarise),
                                ("channel", channel is not None), ("level", level not in (None, "auto")),
                                ("page", page is not None)) if v]
        if given:
            raise DomainfitError(f"{given[0]} applies when reading an image: pass the file or the raw array")
        return image
    if isinstance(image, (str, Path)):
        return imaging.load(image, pixel_size=pixel_size, invert=invert, flatten=flatten, binarise=binarise,
                            channel=channel, level=level, force=force, page=page)
    if pixel_size is None:
        raise DomainfitError("an image given as an array needs its pixel size: pixel_size=15.6e-9 (m) or '15.6nm'")
    if channel is not None:
        raise DomainfitError(f"channel {channel!r} applies to scanning-probe files, not to an array")
    raw = np.asarray(image)
    if raw.ndim == 3 and (page is not None or raw.shape[-1] not in (2, 3, 4)):  # a stack [k, y, x], not colour
        if page is None or not 0 <= page < raw.shape[0]:
            raise DomainfitError(f"an array of shape {raw.shape} is a stack of {raw.shape[0]} images: pick one with "
                                 f"page=K (K = 0 … {raw.shape[0] - 1})")
        raw = raw[page]
    elif page is not None:
        raise DomainfitError(f"page={page}: an array of shape {raw.shape} is one image")
    return imaging.from_array(raw, pixel_size, invert=invert, flatten=flatten, binarise=binarise, level=level)


READING_KEYS = ("format", "channel", "direction", "unit", "channel_choice", "channels", "level", "page",
                "pixel_size_source", "pixel_size_conflict")
"""What a report records of how its image was read (``reading``)."""


def reading(img) -> dict:
    """How ``img`` was read, for a report: its format, channel and direction (SPM), the channels the file
    holds, the scan-line levelling, the page of a stack, where the pixel size came from."""
    return {key: img.meta[key] for key in READING_KEYS if key in img.meta}


def instrument_settings(loaded, instrument: str | None, lift=None, resolution=None) -> dict:
    """The instrument the user named and its settings (``lift``, ``resolution``: metres or "25nm"),
    checked against what the model was trained on: ``given`` (for the report, nm), ``settings`` (SI,
    for the spread calibration), ``reasons`` not to trust the estimate, ``warnings``."""
    from ..data.instruments import FAMILY_RANGES

    if instrument is not None and instrument not in INSTRUMENTS:
        raise DomainfitError(f"instrument {instrument!r}: use one of {', '.join(INSTRUMENTS)}")
    given, reasons, warnings, settings = {}, [], [], {}
    if instrument:
        given["family"] = instrument
    prior = loaded.instruments
    trained = set(prior.family_names()) if prior is not None else set()
    if not instrument and prior is not None:
        # measured (docs/cnn.md, microscope benchmark): pooled spreads hold σ for most instruments, but a
        # saturated image from a stray-field probe high over the film reads σ low with too narrow a spread
        warnings.append("the instrument is not named, so the spreads are pooled over all the instruments of "
                        "training: for a scanning-probe image σ's interval is too narrow (it held the truth in 79 % "
                        "of probe test images, 88 % with the probe and its settings named); name yours: --instrument (--lift, "
                        "--resolution)")
    if instrument and prior is not None and instrument not in trained:
        warnings.append(f"the network was never trained on {instrument} images (it was on: "
                        f"{', '.join(sorted(trained))}): the estimate relies on what it learnt from the others")
    for name, value, key in (("height", lift, "lift"), ("resolution", resolution, "resolution")):
        if value is None:
            continue
        if not instrument:
            raise DomainfitError(f"--{key} needs --instrument (which kind of instrument it belongs to)")
        value = units.parse_length(value, default_unit="nm") if isinstance(value, str) else float(value)
        given[f"{key}_nm"] = value * 1e9
        settings[name] = value
        lo, hi = FAMILY_RANGES.get(instrument, {}).get(name, (None, None))
        if lo is None:
            raise DomainfitError(f"--{key} does not apply to a {instrument} instrument")
        if not lo * 1e-9 <= value <= hi * 1e-9:
            reasons.append(f"{key} {value * 1e9:.3g} nm is outside the {instrument} settings the network was "
                           f"trained on ({lo:.3g}–{hi:.3g} nm)")
    return {"given": given, "reasons": reasons, "warnings": warnings, "settings": settings or None}


def is_domain_image(image) -> bool:
    from ..imaging import DomainImage

    return isinstance(image, DomainImage)




def model_film(loaded):
    """The ``Film`` a CNN model was trained for: its JSON's ``film`` block when it has one, else the
    parameter set whose constants its training ranges hold (co-pt: Ms fixed at 1.5 MA/m; low-ms: Ms
    free); None when neither fits."""
    from ..films import film_from_mapping, preset_film
    from ..parameters import PRESETS

    meta_film = loaded.meta.get("film")
    if isinstance(meta_film, dict):
        return film_from_mapping(meta_film, "model")
    ms = loaded.ranges.get("Ms")
    for name, preset in PRESETS.items():
        if ms is not None and abs(ms[0] - preset.box["Ms"][0]) <= 1e-6 * preset.box["Ms"][0] \
                and abs(ms[1] - preset.box["Ms"][1]) <= 1e-6 * preset.box["Ms"][1]:
            return preset_film(name)
    return None
