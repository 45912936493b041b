"""Figures people would rather look at than read. Matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._files import FIGURE_MARK, pyplot, save_figure
from ..errors import DomainfitError


def save_mz_png(mz: np.ndarray, cell_size: float, path: str | Path, *, title: str = "") -> Path:
    """Write m_z (ny, nx) as a grey-scale picture with axes in µm and a colour bar; returns the path."""
    return save_figure(image_figure(mz, cell_size, title=title, label="$m_z$"), path)


def save_inspect_png(
    data: np.ndarray,
    pixel_size: float,
    k: np.ndarray,
    power: np.ndarray,
    summary: dict,
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """The ``inspect`` figure: the normalised image, its radially averaged power spectrum with the
    detected peak, and the detected walls (level u = 0) over the image.

    ``data`` [y, x] in [-1, 1]; ``pixel_size`` [m]; ``k`` [1/µm] and ``power`` (per mode) of the
    spectrum; ``summary`` from ``stats.summary`` (user units). Returns the path.
    """
    plt = pyplot()
    path = Path(path)
    data = np.asarray(data)
    ny, nx = data.shape
    extent = (0.0, nx * pixel_size * 1e6, 0.0, ny * pixel_size * 1e6)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.4), dpi=110)
    ax = axes[0]
    im = ax.imshow(data, cmap="gray", vmin=-1, vmax=1, origin="lower", extent=extent, interpolation="nearest")
    ax.set(xlabel="x [µm]", ylabel="y [µm]", title=f"image ({ny}×{nx} px, {pixel_size * 1e9:.3g} nm/px)")
    fig.colorbar(im, ax=ax, label="normalised contrast", fraction=0.046, pad=0.04)

    ax = axes[1]
    keep = np.asarray(power) > 0
    ax.loglog(np.asarray(k)[keep], np.asarray(power)[keep], "o-", ms=3, lw=1, color="tab:blue")
    k0 = summary["peak_k_per_um"]
    ax.axvline(k0, color="tab:red", ls="--", lw=1.2, label=f"peak k₀ = {k0:.2f} /µm\nperiod {summary['period_nm']:.0f} nm")
    ax.set(xlabel="spatial frequency k [1/µm]", ylabel="power per mode", title="radially averaged power spectrum\n(log-spaced k bins)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")

    ax = axes[2]
    ax.imshow(data, cmap="gray", vmin=-1, vmax=1, origin="lower", extent=extent, interpolation="nearest", alpha=0.45)
    y = (np.arange(ny) + 0.5) * pixel_size * 1e6
    x = (np.arange(nx) + 0.5) * pixel_size * 1e6
    ax.contour(x, y, data, levels=[0.0], colors="tab:red", linewidths=0.8)
    ax.set(
        xlabel="x [µm]",
        ylabel="y [µm]",
        title=f"detected walls (u = 0)\nwalls {summary['wall_density_per_um']:.2f} µm/µm², "
        f"χ/A {summary['euler_per_um2']:+.2f} /µm²",
    )
    ax.set_aspect("equal")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def save_pair_plot(idata, path: str | Path, *, names=None, truths: dict | None = None, hdi_prob: float = 0.9) -> Path:
    """Corner plot of the posterior draws (SI ``InferenceData``) in user units, written to ``path``
    (``pair_figure``)."""
    return save_figure(pair_figure(idata, names=names, truths=truths, hdi_prob=hdi_prob), path)


def pair_figure(idata, *, path: str | Path | None = None, names=None, truths: dict | None = None,
                hdi_prob: float = 0.9):
    """Corner plot of the posterior draws in user units (histograms on the diagonal, HDI marked);
    ``idata`` holds the draws in SI (``PosteriorResult.idata``). ``truths`` (SI values by name) are
    drawn as lines, e.g. for simulated test images. Returns the matplotlib ``Figure`` (made without
    pyplot, so it neither changes a notebook's backend nor stays open); saved to ``path`` when given."""
    import arviz as az
    from matplotlib.figure import Figure

    from ..units import user_unit

    post = idata.posterior
    names = list(names or post.data_vars)
    if not names:
        raise DomainfitError("nothing to plot: the posterior has no parameters")
    draws = {n: np.asarray(post[n]).reshape(-1) / user_unit(n)[1] for n in names}
    labels = {n: n if user_unit(n)[0] in ("1", "SI") else f"{n} [{user_unit(n)[0]}]" for n in names}
    k = len(names)
    fig = Figure(figsize=(2.3 * k + 0.6, 2.3 * k + 0.6), dpi=110)
    axes = fig.subplots(k, k, squeeze=False)
    for i, ni in enumerate(names):
        for j, nj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                v = draws[ni]
                ax.hist(v, bins=40, color="0.35", histtype="stepfilled", alpha=0.7)
                lo, hi = az.hdi(v, hdi_prob=hdi_prob)
                for edge in (lo, hi):
                    ax.axvline(edge, color="C0", lw=1, ls="--")
                ax.set_yticks([])
            else:
                ax.plot(draws[nj], draws[ni], ".", ms=1.5, alpha=0.25, color="0.2", rasterized=True)
                if truths and ni in truths:
                    ax.axhline(truths[ni] / user_unit(ni)[1], color="C3", lw=1)
            if truths and nj in truths:
                ax.axvline(truths[nj] / user_unit(nj)[1], color="C3", lw=1)
            if i == k - 1:
                ax.set_xlabel(labels[nj], fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(labels[ni], fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def image_figure(data: np.ndarray, pixel_size: float, *, path: str | Path | None = None, title: str = "",
                 label: str = "contrast"):
    """A contrast image [y, x] with axes in µm and a colour bar, as a matplotlib ``Figure`` (without
    pyplot); saved to ``path`` when given."""
    from matplotlib.figure import Figure

    data = np.asarray(data)
    ny, nx = data.shape
    extent = (0.0, nx * pixel_size * 1e6, 0.0, ny * pixel_size * 1e6)
    fig = Figure(figsize=(5.2, 4.4), dpi=120)
    ax = fig.subplots()
    im = ax.imshow(data, cmap="gray", vmin=-1, vmax=1, origin="lower", extent=extent, interpolation="nearest")
    ax.set_xlabel("x [µm]")
    ax.set_ylabel("y [µm]")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def save_predictive_plot(check: dict, path: str | Path) -> Path:
    """Posterior-predictive figure: per statistic, the predictive spread (standardised) and the observation.

    ``check`` is the dict of ``inference.posterior_predictive``.
    """
    plt = pyplot()
    path = Path(path)
    samples, s_obs = np.asarray(check["samples"]), np.asarray(check["s_obs"])
    names = list(check.get("stat_names") or [f"s{i}" for i in range(len(s_obs))])
    mean, sd = samples.mean(0), samples.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    z_samples = (samples - mean) / sd
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(names) + 2), 3.4), dpi=120)
    ax.violinplot(z_samples, showextrema=False)
    ax.plot(np.arange(1, len(names) + 1), (s_obs - mean) / sd, "o", color="C3", label="observed")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(np.arange(1, len(names) + 1), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("(s − predictive mean) / sd")
    ax.set_title(f"posterior predictive check, joint p = {check.get('p_joint', float('nan')):.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def walls_figure(data: np.ndarray, pixel_size: float, *, path: str | Path | None = None, title: str = ""):
    """The image [y, x] in grey with the domain walls its statistics read drawn over it in red: the
    boundaries of its domains (``features.geometry.domain_sign``: each pixel the sign of the nearest
    strong one), whose period and wall density ``domain_geometry`` measures. Axes in µm; returns the
    matplotlib ``Figure`` (without pyplot), saved to ``path`` when given."""
    from matplotlib.figure import Figure

    from ..features.geometry import domain_sign

    data = np.asarray(data, np.float64)
    ny, nx = data.shape
    um = pixel_size * 1e6
    lim = float(np.quantile(np.abs(data), 0.99)) or 1.0
    fig = Figure(figsize=(5.0, 4.6), dpi=110)
    ax = fig.subplots()
    ax.imshow(data, cmap="gray", vmin=-lim, vmax=lim, origin="lower", extent=(0.0, nx * um, 0.0, ny * um),
              interpolation="nearest")
    sign = domain_sign(data)
    if sign.min() < sign.max():  # a uniform image has no walls to draw
        ax.contour((np.arange(nx) + 0.5) * um, (np.arange(ny) + 0.5) * um, sign, levels=[0.0], colors="red",
                   linewidths=0.7)
    ax.set(xlabel="x [µm]", ylabel="y [µm]")
    ax.set_title(title or f"image ({ny}×{nx} px, {pixel_size * 1e9:.3g} nm/px) and its domain walls (red)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def figure_png(fig) -> bytes:
    """A matplotlib ``Figure`` as PNG bytes (marked ``FIGURE_MARK`` as the saved figures are), for pages
    that embed their figures."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": "domainfit", FIGURE_MARK[0]: FIGURE_MARK[1]})
    return buf.getvalue()
