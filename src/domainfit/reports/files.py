"""The one writer of a posterior's files: ``report.json``, ``config.json``, ``idata.nc``, ``pair.png``,
``predictive.png`` and ``report.html`` (``reports.pages``) in one folder, each written atomically (what
``domainfit estimate --out DIR`` and ``EstimateResult.save`` write; ``posterior_from_image(..., out_dir=)``
writes the same names)."""

from __future__ import annotations

import json
from pathlib import Path


from .._files import atomic_write, staged_folder
from . import pages, plots
from .posterior import save_netcdf

REPORT, CONFIG, IDATA, PAIR, PREDICTIVE = "report.json", "config.json", "idata.nc", "pair.png", "predictive.png"


from .pages import plain as plain  # noqa: E402 — the JSON fallback, one definition (reports.pages)


def write_posterior_files(out: str | Path, report: dict, *, idata=None, plot_idata=None, check=None,
                          hdi_prob: float = 0.9, config: dict | None = None, image=None) -> dict[str, Path]:
    """Write ``report`` (JSON) into folder ``out`` (created), with ``config`` beside it when given and,
    with a posterior, ``idata`` (NetCDF), the pair plot of ``plot_idata`` (default ``idata``) and the
    predictive check's figure, and the HTML report (the image, default read again from ``report["image"]``,
    with its walls). ``report["files"]`` lists what was written; returns {kind: path}."""
    out = Path(out)
    owned = (REPORT, CONFIG, IDATA, PAIR, PREDICTIVE, pages.HTML)
    with staged_folder(out, owned) as stage:  # the run's files appear together, or not at all
        files: dict[str, Path] = {}
        if idata is not None:
            files["netcdf"] = save_netcdf(idata, stage / IDATA)
            files["pair"] = plots.save_pair_plot(idata if plot_idata is None else plot_idata, stage / PAIR,
                                                 hdi_prob=hdi_prob)
            if check is not None:
                files["predictive"] = plots.save_predictive_plot(check, stage / PREDICTIVE)
        if config is not None:
            files["config"] = atomic_write(stage / CONFIG, json.dumps(config, indent=2, default=plain))
        files["json"], files["html"] = stage / REPORT, stage / pages.HTML
        report["files"] = {k: str(out / v.name) for k, v in files.items()}
        atomic_write(files["json"], json.dumps(report, indent=2, default=plain))
        pages.write_estimate_page(files["html"], report, files, config=config, image=image)
    return {k: out / v.name for k, v in files.items()}
