"""Writing the HTML reports (``report.html``): the figures gathered as PNG bytes, the image and its walls
drawn, the page rendered by ``reports.html`` and written atomically.

``write_estimate_page`` is the one call ``write_posterior_files`` makes; ``write_comparison_files`` is
what ``domainfit compare --out DIR`` writes (``report.json`` and ``report.html``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path

from .._files import atomic_write, staged_folder
from ..errors import DomainfitError
from . import html

HTML = "report.html"


def plain(x):
    """JSON fallback for NumPy scalars and arrays (and anything else as its text)."""
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


FIGURE_KINDS = ("pair", "predictive")
"""Figures of ``write_posterior_files`` that the estimate page embeds (by their kind in its files)."""


def figure_bytes(figures: Mapping) -> dict[str, bytes]:
    """{kind: PNG bytes} of ``figures`` ({kind: bytes or path}); kinds other than PNG figures (NetCDF,
    JSON) and missing files are left out."""
    out = {}
    for kind, value in figures.items():
        if isinstance(value, (bytes, bytearray)):
            out[kind] = bytes(value)
        elif value is not None and Path(value).suffix.lower() == ".png" and Path(value).is_file():
            out[kind] = Path(value).read_bytes()
    return out


def report_image(report: Mapping, config: Mapping | None = None):
    """The ``DomainImage`` a report was made from, read again from its file as the estimate read it
    (pixel size, contrast sign, background removal of ``config``); None where it cannot be (an array
    given in memory, a moved file, several images)."""
    from .. import imaging

    img = report.get("image")
    if not isinstance(img, Mapping) or not img.get("path"):
        return None
    config = config or report.get("config") or {}
    size = img.get("pixel_size_nm")
    reading = {k: config[k] for k in ("channel", "level", "force", "page") if config.get(k) is not None}
    try:
        return imaging.load(str(img["path"]), pixel_size=None if size is None else float(size) * 1e-9,
                            invert=bool(config.get("invert", False)), flatten=config.get("flatten"), **reading)
    except (DomainfitError, OSError, ValueError, TypeError):
        return None


def walls_png(image) -> bytes | None:
    """The image with its domain walls (``plots.walls_figure``) as PNG bytes; None without an image."""
    if image is None:
        return None
    from . import plots

    return plots.figure_png(plots.walls_figure(image.data, image.pixel_size))


def write_estimate_page(path: str | Path, report: Mapping, figures: Mapping, *, config: Mapping | None = None,
                        image=None) -> Path:
    """Write the HTML report of an estimate to ``path`` atomically: ``figures`` {kind: PNG path or bytes}
    (``write_posterior_files``' files: "pair", "predictive"), ``image`` the ``DomainImage`` (default:
    read again from ``report["image"]``) drawn with its walls."""
    figs = figure_bytes({k: v for k, v in figures.items() if k in FIGURE_KINDS or k == "walls"})
    try:
        if "walls" not in figs:
            png = walls_png(image if image is not None else report_image(report, config))
            if png:
                figs["walls"] = png
        text = html.render_estimate_html(report, figs, config=config)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        # a report of a shape the page does not know must not cost the run's other files (written with it)
        warnings.warn(f"report.html reduced to the warnings: the page could not be drawn ({err!r})", stacklevel=2)
        text = html.page("domainfit estimate", [html.banner(report.get("reasons", []), report.get("warnings", [])),
                                                f"<p>The page could not be drawn ({html.esc(repr(err))}): report.json "
                                                "holds the result.</p>"])
    return atomic_write(path, text)


def write_comparison_files(out: str | Path, table: dict, *, config: Mapping | None = None, image=None
                           ) -> dict[str, Path]:
    """Write a comparison's ``report.json`` (``Comparison.table``), ``config.json`` when given and
    ``report.html`` into folder ``out`` (created), each atomically; ``table["files"]`` lists them (as
    ``write_posterior_files`` does for an estimate); returns {kind: path}."""
    out = Path(out)
    names = {"json": "report.json", "html": HTML} | ({"config": "config.json"} if config is not None else {})
    table["files"] = {k: str(out / name) for k, name in names.items()}
    png = walls_png(image if image is not None else report_image(table, config))
    with staged_folder(out, ("report.json", "config.json", HTML)) as stage:  # the files appear together
        if config is not None:
            atomic_write(stage / names["config"], json.dumps(config, indent=2, default=plain))
        atomic_write(stage / names["json"], json.dumps(table, indent=2, default=plain))
        atomic_write(stage / HTML, html.render_compare_html(table, {"walls": png} if png else {}, config=config))
    return {k: out / name for k, name in names.items()}


def write_series_page(path: str | Path, series: Mapping, figures: Mapping | None = None) -> Path:
    """Write the HTML report of a series of images (``html.render_series_html``: ``series`` holds the
    title, rows, columns, reasons, …) to ``path`` atomically; ``figures`` {name: PNG path or bytes}."""
    return atomic_write(path, html.render_series_html(series, figure_bytes(figures or {})))
