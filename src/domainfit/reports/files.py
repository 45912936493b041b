"""The one writer of a posterior's files: ``report.json``, ``config.json``, ``idata.nc``, ``pair.png``
and ``predictive.png`` in one folder, each written atomically (what ``domainfit estimate --out DIR``
and ``EstimateResult.save`` write; ``posterior_from_image(..., out_dir=)`` writes the same names)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ..errors import DomainfitError
from . import plots
from .posterior import save_netcdf

REPORT, CONFIG, IDATA, PAIR, PREDICTIVE = "report.json", "config.json", "idata.nc", "pair.png", "predictive.png"


def plain(x):
    """JSON fallback for NumPy scalars and arrays (and anything else as its text)."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def write_posterior_files(out: str | Path, report: dict, *, idata=None, plot_idata=None, check=None,
                          hdi_prob: float = 0.9, config: dict | None = None) -> dict[str, Path]:
    """Write ``report`` (JSON) into folder ``out`` (created), with ``config`` beside it when given and,
    with a posterior, ``idata`` (NetCDF), the pair plot of ``plot_idata`` (default ``idata``) and the
    predictive check's figure. ``report["files"]`` lists what was written; returns {kind: path}."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DomainfitError(f"cannot create folder {out}: {err.strerror or err}") from None
    files: dict[str, Path] = {}
    if idata is not None:
        files["netcdf"] = save_netcdf(idata, out / IDATA)
        files["pair"] = plots.save_pair_plot(idata if plot_idata is None else plot_idata, out / PAIR,
                                             hdi_prob=hdi_prob)
        if check is not None:
            files["predictive"] = plots.save_predictive_plot(check, out / PREDICTIVE)
    if config is not None:
        files["config"] = atomic_write(out / CONFIG, json.dumps(config, indent=2, default=plain))
    files["json"] = out / REPORT
    report["files"] = {k: str(v) for k, v in files.items()}
    atomic_write(files["json"], json.dumps(report, indent=2, default=plain))
    return files
