"""The figures of the observation studies (``joint_observations.py``, ``observations.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_joint(rows: list[dict], res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from domainfit.reports.plots import save_figure

    names = list(res["sets"])
    width = max(4.0 * len(names), 6.0)  # one set: room for the title
    fig, axes = plt.subplots(2, len(names), figsize=(width, 7.6), squeeze=False)
    for j, name in enumerate(names):
        for i, (p, f, unit) in enumerate((("D", 1e3, " [mJ/m²]"), ("sigma", 1.0, ""))):
            ax = axes[i, j]
            t = np.array([r[p] for r in rows]) * f
            m = np.array([r["sets"][name][p]["mean"] for r in rows]) * f
            lo = np.array([r["sets"][name][p]["hdi_low"] for r in rows]) * f
            hi = np.array([r["sets"][name][p]["hdi_high"] for r in rows]) * f
            inside = (lo <= t) & (t <= hi)
            ax.errorbar(t[inside], m[inside], yerr=[m[inside] - lo[inside], hi[inside] - m[inside]], fmt="o", ms=3,
                        color="C0", alpha=0.7, lw=0.8, label="90 % HDI holds the truth")
            ax.errorbar(t[~inside], m[~inside], yerr=[m[~inside] - lo[~inside], hi[~inside] - m[~inside]], fmt="o",
                        ms=3, color="C3", lw=0.8, label="misses")
            a, b = float(min(t.min(), lo.min())), float(max(t.max(), hi.max()))
            ax.plot([a, b], [a, b], "k:", lw=0.8)
            v = res["sets"][name][p]
            ax.set_title(f"{name}\n{'σ' if p == 'sigma' else 'D'}: RMSE {v['rmse']:.3g}, cover {v['coverage90']:.0%}",
                         fontsize=9)
            ax.set_xlabel(f"true {'σ' if p == 'sigma' else 'D'}{unit}")
            ax.set_ylabel(f"posterior mean{unit}")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"{res['films']} held-out films, test instruments: what a second observation adds", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_observations(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from domainfit.reports.plots import save_figure

    names = sorted(res["sets"], key=lambda n: res["sets"][n]["D_rmse_mJ_m2"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for ax, key, label, prior in ((axes[0], "D_rmse_mJ_m2", "D RMSE [mJ/m²]", res["prior_sd"]["D"]),
                                  (axes[1], "sigma_rmse", "σ RMSE", res["prior_sd"]["sigma"])):
        vals = [res["sets"][n][key] for n in names]
        ax.barh(range(len(names)), vals, color=["C3" if n == "one image (demag)" else "C0" for n in names])
        ax.axvline(prior, color="k", ls="--", lw=1, label="prior sd (no observation)")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names if ax is axes[0] else [], fontsize=8)
        ax.set_xlabel(label + " (leave-one-film-out)")
        ax.legend(fontsize=7)
    fig.suptitle(f"What a second observation of the film adds ({res['films']} films, {res['cells']}² cells, "
                 f"instrument views not trained on)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)  # atomic, and marked so that it is never read back as a domain image
