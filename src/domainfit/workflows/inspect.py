"""``domainfit.inspect_image``: summary statistics of a domain image in physical units, in one call.

The image is read and its contrast normalised to [-1, 1] as for ``estimate``; the result holds the
statistics (domain period, spectral width, mean contrast, wall length and Euler characteristic per
area), the radially averaged power spectrum, and the report ``domainfit inspect --json`` prints::

    import domainfit as df
    i = df.inspect_image("example")
    print(i)                          # the text of `domainfit inspect example`
    i.statistics["period_nm"]
    i.figure("example_inspect.png")   # image, power spectrum with its peak, detected walls
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


@dataclasses.dataclass
class Inspection:
    """What ``inspect_image`` found.

    Attributes:
        image: the ``imaging.DomainImage`` read (normalised contrast, pixel size [m], loading notes).
        statistics: ``stats.summary`` in user units (``period_nm``, ``spectral_width``,
            ``mean_contrast``, ``wall_density_per_um``, ``euler_per_um2``, field of view, …).
        k_per_um: radial wave numbers of the power spectrum [1/µm] (``stats.radial_spectrum``, log bins).
        power: radially averaged power at ``k_per_um`` [arbitrary units].
        report: the JSON report of ``domainfit inspect``; its ``figure`` is set by ``figure``.
    """

    image: object
    statistics: dict
    k_per_um: object
    power: object
    report: dict

    @property
    def name(self) -> str:
        """The image's file name (the resolved file for "example"; "array" for an array)."""
        return Path(self.image.source).name

    @property
    def warnings(self) -> list[str]:
        return list(self.image.notes)

    def lines(self) -> list[str]:
        """The text of ``domainfit inspect`` (stdout), without the loading warnings (stderr)."""
        s, image = self.statistics, self.image
        ly, lx = s["field_of_view_um"]
        lines = [
            f"{self.name}: {image.shape[0]}×{image.shape[1]} px, {s['pixel_size_nm']:.4g} nm/px, "
            f"field of view {ly:.3g}×{lx:.3g} µm ({image.meta.get('pixel_size_source', 'given')})",
            f"  domain period        {s['period_nm']:8.1f} nm   (peak k₀ = {s['peak_k_per_um']:.3f} /µm, "
            f"{s['periods_in_view']:.1f} periods in view)",
            f"  spectral width       {s['spectral_width']:8.3f}      (std of ln k about k₀)",
            f"  mean contrast        {s['mean_contrast']:+8.3f}",
            f"  wall length / area   {s['wall_density_per_um']:8.3f} /µm",
            f"  Euler char. / area   {s['euler_per_um2']:+8.3f} /µm² (up domains)",
        ]
        if s["periods_in_view"] < 5:
            lines.append(f"  note: only {s['periods_in_view']:.1f} periods in view; statistics of small images are "
                         "biased and noisy")
        if self.report["figure"] is not None:
            lines.append(f"  figure: {self.report['figure']}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines() + [f"warning: {w}" for w in self.warnings])

    def to_json(self) -> str:
        return json.dumps(self.report, indent=2, default=str)

    def figure(self, path: str | Path) -> Path:
        """Write the figure (the image, its power spectrum with the detected peak, the walls) to ``path``;
        the report then names it. Returns the path."""
        from .._files import check_figure_path
        from ..reports.plots import save_inspect_png

        check_figure_path(path, inputs=[self.image.source])  # never over the image it shows
        path = save_inspect_png(self.image.data, self.image.pixel_size, self.k_per_um, self.power, self.statistics,
                                path, title=self.name)
        self.report["figure"] = str(path)
        return path


def inspect_image(
    image,
    *,
    pixel_size: float | str | None = None,
    invert: bool = False,
    flatten: int | None = None,
    binarise: bool = False,
    channel: str | None = None,
    level: str | None = "auto",
    force: bool = False,
    page: int | None = None,
) -> Inspection:
    """Statistics and power spectrum of one domain image.

    Args:
        image: a file (PNG, JPEG, TIFF, .npy/.npz, a scanning-probe file; "example" for the shipped one),
            an array of raw levels (then ``pixel_size`` is needed) or an ``imaging.DomainImage``.
        pixel_size: pixel side in metres or with its unit ("15.6nm"); needed unless the file has it.
        invert: flip the contrast sign (e.g. MFM phase); flatten: degree of a polynomial background
            subtracted first (1 = plane); binarise: make the image two-level (Otsu threshold).
        channel: the channel of a scanning-probe file (default: its MFM channel; ``imaging.load``).
        level: scan-line levelling ("auto": median for scanning-probe files, none for others).
        force: use a ``pixel_size`` that contradicts the file's own calibration.
        page: the plane of a multi-page TIFF or a stack.

    Raises ``DomainfitError`` (one line) for an unreadable file, a missing pixel size or a bad option.
    """
    import numpy as np

    from ..features import statistics as stats
    from .. import units
    from .inputs import read_image

    img = read_image(image, pixel_size, invert=invert, flatten=flatten, binarise=binarise, channel=channel,
                     level=level, force=force, page=page)
    summary = stats.summary(img.data, img.pixel_size)
    k, power = stats.radial_spectrum(img.data, img.pixel_size)
    k_per_um = np.asarray(k) * units.parse_length("1um")
    power = np.asarray(power)
    report = {
        "image": str(image) if isinstance(image, (str, Path)) else img.source,
        "shape_px": list(img.shape),
        "statistics": summary,
        "summary_vector": {name: summary[key] for name, key in zip(stats.SUMMARY_NAMES, stats.SUMMARY_REPORT_KEYS)},
        "summary_units": dict(zip(stats.SUMMARY_NAMES, stats.SUMMARY_UNITS)),
        "radial_spectrum": {"k_per_um": k_per_um.tolist(), "power": power.tolist()},
        "loading": img.meta,
        "warnings": list(img.notes),
        "figure": None,
    }
    return Inspection(image=img, statistics=summary, k_per_um=k_per_um, power=power, report=report)


def image_channels(image, *, pixel_size: float | str | None = None, page: int | None = None) -> dict:
    """The channels of an image file, as ``domainfit inspect FILE --channels`` lists them: for a
    scanning-probe file every channel (name with direction, unit, direction, shape [px], pixel size [nm],
    lift pass, ``default``: the one read without ``channel``); for any other file its one image.

    Returns ``{"image": path, "channels": [...], "default": name of the default channel}``."""
    from .. import imaging
    from .inputs import read_image

    if isinstance(image, (str, Path)) and imaging.is_spm_file(image):
        rows = imaging.channel_table(image)
    else:
        img = read_image(image, pixel_size, page=page, level="none")
        rows = [{"name": "image", "unit": "", "direction": None, "shape": list(img.shape),
                 "pixel_size_nm": img.pixel_size * 1e9, "lift": False, "default": True}]
    default = next(r["name"] for r in rows if r["default"])
    return {"image": str(image) if isinstance(image, (str, Path)) else "array", "channels": rows, "default": default}


def channel_lines(listing: dict) -> list[str]:
    """The text of ``domainfit inspect FILE --channels``."""
    rows = listing["channels"]
    lines = [f"{Path(listing['image']).name}: {len(rows)} channel{'s' if len(rows) > 1 else ''} (* read by default)",
             f"  {'name':<32} {'unit':<6} {'direction':<9} {'shape':<11} pixel"]
    for r in rows:
        shape = "×".join(str(n) for n in r["shape"])
        pixel = "—" if r["pixel_size_nm"] is None else f"{r['pixel_size_nm']:.4g} nm"
        mark = "*" if r["default"] else " "
        lines.append(f"{mark} {r['name']:<32} {r['unit'] or '—':<6} {r['direction'] or '—':<9} {shape:<11} {pixel}")
    return lines
