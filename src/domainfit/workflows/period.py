"""``estimate(image, film=…, method="period")``: D of any film from its domain period, by the stripe law.

What experimentalists do without a simulator, done carefully: the image's period is measured on its
domains (``features.geometry.domain_geometry``: instrument-robust), and inverted for D by the film's
equilibrium stripe law with finite walls (``physics.stripes``; the sharp-wall Kooy–Enz law is too short
by about Δ/t for ultrathin films). Each uncertain constant of the ``Film`` is drawn from its prior and
the period from its measurement error, so ``parameters.D.sd`` carries them all; an error budget says
which share of D's variance each one brings. The law knows equilibrium stripes only, not mazes pinned
by grains (σ) — its error on mazes is stated in docs/films.md; this is a baseline and a seed, not the
film's posterior.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from .._version import __version__
from ..errors import DomainfitError
from .result import Reported
from ..films import Film

DRAWS = 4000
"""Monte-Carlo draws of the constants and the period."""

HDI_PROB = 0.9
MIN_PERIODS_IN_VIEW = 4.0
"""Fewer periods across the image's shorter side than this: the period is not measured."""
MIN_PIXELS_PER_PERIOD = 6.0


@dataclasses.dataclass
class PeriodResult(Reported):
    """D of a film from an image's period (``report``: the JSON of ``domainfit estimate --method period``).

    Attributes:
        report: JSON report (user units): ``film``, ``parameters.D``, ``period``, ``law``, ``error_budget``,
            ``trustworthy``/``reasons``/``warnings``.
        config: what was run.
        draws: the Monte-Carlo draws of D [J/m²] (SI).
        image: the ``DomainImage`` read; film: the ``Film``.
    """

    report: dict
    config: dict
    draws: np.ndarray
    image: object
    film: Film

    def lines(self) -> list[str]:
        r = self.report
        d, p = r["parameters"]["D"], r["period"]
        lo, hi = d["hdi"]
        lines = [f"film: {self.film.describe()}",
                 f"D = {d['mean']:.3f} ± {d['sd']:.3f} mJ/m^2 ({100 * HDI_PROB:.0f} % interval [{lo:.3f}, {hi:.3f}]) "
                 f"from the domain period {p['nm']:.4g} ± {p['sd_nm']:.2g} nm, read as stripes of "
                 f"{r['law']['stripes_period_nm']:.4g} nm (a maze keeps exp({r['law']['maze_log_ratio']:+.2f}) of the "
                 f"stripes' period), by the {r['law']['name']}",
                 "error budget of D (share of its variance): "
                 + ", ".join(f"{k} {100 * v:.0f} %" for k, v in r["error_budget"]["shares"].items()),
                 "σ and Ms are not read by the period law; D_c of this film = "
                 f"{r['film']['derived']['critical_dmi_mJ_per_m2']:.3f} mJ/m^2"]
        if r["reasons"]:
            lines = ["NOT TRUSTWORTHY — do not rely on these numbers:", *(f"  - {x}" for x in r["reasons"]), *lines]
        return lines

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write report.json and config.json into folder ``out`` (atomically, ``reports.files``)."""
        from ..reports.files import write_posterior_files

        return write_posterior_files(out, self.report, config=self.config)


def measured_period(data: np.ndarray, pixel_size: float) -> tuple[float, float, float]:
    """(period [m], sd of ln period, wall density [1/m]) of a normalised image's domains: the period
    of the whole image, its error from the spread of the four quadrants' periods (each half the
    side, so the whole's error is their sd / 2)."""
    from ..features.geometry import domain_geometry

    whole = domain_geometry(data, pixel_size)
    h, w = data.shape
    quads = [data[:h // 2, :w // 2], data[:h // 2, w // 2:], data[h // 2:, :w // 2], data[h // 2:, w // 2:]]
    logs = [math.log(domain_geometry(q, pixel_size)["period"]) for q in quads]
    finite = [x for x in logs if math.isfinite(x)]
    sd = float(np.std(finite, ddof=1) / 2) if len(finite) >= 3 else math.inf
    return whole["period"], sd, whole["wall_density"]


def dmi_draws(period: float, log_sd: float, film: Film, n: int, rng) -> dict[str, np.ndarray]:
    """Draws of D [J/m²] with the film's constants and ln period drawn from their priors; also the
    constants' draws. D below 0 or above D_c is kept (it says the period does not fit the film)."""
    from ..physics.stripes import dmi_from_period

    c = film.draw(n, rng)
    periods = period * np.exp(rng.normal(0.0, log_sd, n))
    d = np.array([dmi_from_period(float(p), float(ms), float(a), float(ku), float(t), film.dmi)
                  for p, ms, a, ku, t in zip(periods, c["Ms"], c["A"], c["Ku"], c["thickness"])])
    return dict(c, D=d, period=periods)


def error_budget(period: float, log_sds: dict[str, float], film: Film) -> dict:
    """Share of D's variance from each uncertain constant and each period error term, to first order:
    (∂D/∂x · sd_x)² over their sum; ``linear_sd_mJ`` is the first-order sd of D."""
    from ..physics.stripes import dmi_from_period

    base = film.values()

    def d_at(p=period, **kw):
        v = dict(base, **kw)
        return dmi_from_period(p, v["Ms"], v["A"], v["Ku"], v["thickness"], film.dmi)

    terms = {}
    h = 1e-3
    for name in film.uncertain():
        key = "Ku" if name == "K_eff" else name
        const = getattr(film, key)
        sd = const.sd if const.low is None else (const.high - const.low) / math.sqrt(12)
        x = base[key]
        if film.effective and key == "Ku":
            slope = (d_at(Ku=x + h * sd) - d_at(Ku=x - h * sd)) / (2 * h * sd)
        elif film.effective and key == "Ms":  # K_eff held: Ku moves with Ms
            k_eff = film.K_eff
            from ..units import MU0

            up, down = x + h * sd, x - h * sd
            slope = (d_at(Ms=up, Ku=k_eff + 0.5 * MU0 * up**2) - d_at(Ms=down, Ku=k_eff + 0.5 * MU0 * down**2)) / (2 * h * sd)
        else:
            slope = (d_at(**{key: x + h * sd}) - d_at(**{key: x - h * sd})) / (2 * h * sd)
        terms[name] = (slope * sd) ** 2
    dlogp = (d_at(p=period * math.exp(h)) - d_at(p=period * math.exp(-h))) / (2 * h)
    for name, s in log_sds.items():
        terms[name] = (dlogp * s) ** 2
    total = sum(terms.values())
    shares = {k: (v / total if total > 0 else 0.0) for k, v in sorted(terms.items(), key=lambda kv: -kv[1])}
    return {"shares": shares, "linear_sd_mJ_per_m2": math.sqrt(total) * 1e3,
            "dD_dlnP_mJ_per_m2": dlogp * 1e3}


def estimate_period(image, film, *, pixel_size=None, key: int = 0, invert: bool = False, flatten: int | None = None,
                    draws: int = DRAWS, law_log_sd: float | None = None, maze_log_ratio: float | None = None) -> PeriodResult:
    """D of ``film`` (a ``Film`` or anything ``films.parse_film`` reads) from ``image``'s domain period:
    the law inverted at the stripes' period the maze stands for (``MAZE_LOG_RATIO``).

    ``law_log_sd``: the stripe law's own error on a maze's period (sd of ln P); default
    ``LAW_LOG_PERIOD_SD``; ``maze_log_ratio``: ln(P_maze/P_stripes), default ``MAZE_LOG_RATIO``
    (0 for an image of equilibrium stripes) (docs/films.md). Returns a ``PeriodResult``; untrustworthy (reasons) when the
    image shows too few periods or too few pixels per period, or when the period fits no D in
    [0, D_c) of this film.
    """
    from ..films import parse_film
    from ..features.geometry import MIN_PATTERN_CONTRAST, pattern_contrast
    from .inputs import read_image

    t0 = time.perf_counter()
    film = parse_film(film)
    if not (isinstance(draws, int) and 100 <= draws <= 1_000_000):
        raise DomainfitError(f"draws = {draws!r}: give an integer between 100 and 1000000")
    from .inputs import is_domain_image

    if flatten is None and not is_domain_image(image):
        flatten = 2  # background flattened when reading a file or an array, as estimate does
    img = read_image(image, pixel_size, invert=invert, flatten=flatten)
    law_sd = LAW_LOG_PERIOD_SD if law_log_sd is None else float(law_log_sd)
    reasons, warnings = [], list(img.notes)
    contrast = pattern_contrast(img.data)
    if contrast < MIN_PATTERN_CONTRAST:
        reasons.append(f"the image's structure hardly stands above pixel noise (pattern contrast {contrast:.2f} < "
                       f"{MIN_PATTERN_CONTRAST}): no domain period can be read")
    period, meas_sd, walls = measured_period(img.data, img.pixel_size)
    side = min(img.shape) * img.pixel_size
    if not math.isfinite(period) or side / period < MIN_PERIODS_IN_VIEW:
        reasons.append(f"the image ({side * 1e9:.0f} nm a side) holds fewer than {MIN_PERIODS_IN_VIEW:.0f} domain "
                       f"periods ({period * 1e9:.0f} nm): the period is not measured; image a larger field")
    if math.isfinite(period) and period / img.pixel_size < MIN_PIXELS_PER_PERIOD:
        reasons.append(f"the period ({period * 1e9:.0f} nm) spans {period / img.pixel_size:.1f} pixels: "
                       "the domains are not resolved; image at a finer pixel size")
    if not math.isfinite(period):
        raise DomainfitError("the image shows no domain pattern (one sign everywhere): no period to invert")
    if not math.isfinite(meas_sd):
        meas_sd = 0.5
    log_sds = {"period measurement": meas_sd, "period law (maze vs stripes)": law_sd}
    rng = np.random.default_rng(key)
    ratio = MAZE_LOG_RATIO if maze_log_ratio is None else float(maze_log_ratio)
    stripes_period = period * math.exp(-ratio)  # the equilibrium period the maze stands for
    out = dmi_draws(stripes_period, math.hypot(meas_sd, law_sd), film, draws, rng)
    d = out["D"]
    d_c = film.critical_dmi
    from ..physics.stripes import dmi_from_period

    centre = dmi_from_period(stripes_period, *(film.values()[n] for n in ("Ms", "A", "Ku", "thickness")), film.dmi)
    if centre < 0:
        reasons.append(f"the period {period * 1e9:.0f} nm is longer than this film's mazes at D = 0: "
                       "the film's constants (Ms, K_eff, A, thickness) do not fit the image — check them and the pixel size")
    elif centre >= d_c:
        reasons.append(f"the period {period * 1e9:.0f} nm needs D ≥ D_c = {d_c * 1e3:.3f} mJ/m² of this film, where walls "
                       "cost nothing (a spin spiral, no domains): the film's constants do not fit the image")
    outside = float(np.mean((d < 0) | (d >= d_c)))
    if outside > 0.05 and not reasons:
        warnings.append(f"{100 * outside:.0f} % of the draws fall outside [0, D_c): D is near the edge of what this film allows")
    lo, hi = np.quantile(d, [(1 - HDI_PROB) / 2, (1 + HDI_PROB) / 2])
    budget = error_budget(stripes_period, log_sds, film)
    mc_var = float(np.var(d))
    budget["monte_carlo_sd_mJ_per_m2"] = math.sqrt(mc_var) * 1e3
    report = {
        "method": "period",
        "trustworthy": not reasons,
        "reasons": reasons,
        "warnings": reasons + warnings,
        "film": film.to_json(),
        "parameters": {"D": {"mean": float(np.mean(d)) * 1e3, "sd": float(np.std(d)) * 1e3,
                             "median": float(np.median(d)) * 1e3, "hdi": [float(lo) * 1e3, float(hi) * 1e3],
                             "hdi_prob": HDI_PROB, "unit": "mJ/m^2", "at_film_values": centre * 1e3}},
        "period": {"nm": period * 1e9, "sd_nm": period * meas_sd * 1e9, "log_sd_measurement": meas_sd,
                   "wall_density_per_um": walls * 1e-6, "periods_in_view": side / period},
        "law": {"name": "stripe law with finite walls (physics.stripes)", "log_sd": law_sd,
                "maze_log_ratio": ratio, "stripes_period_nm": stripes_period * 1e9,
                "why": "the film's own thin-film kernel and tanh walls of width √(A/K_eff): for walls wider than the "
                       "film (ultrathin films) the sharp-wall Kooy–Enz law is too short by about Δ/t; the law matches "
                       "the simulator's relaxed stripes (D RMSE 0.019 mJ/m² over 8 films), and a maze keeps "
                       "exp(−1.53 ± 0.75) of the stripes' period (docs/films.md)"},
        "error_budget": budget,
        "image": {"path": str(img.source), "shape": list(img.shape), "pixel_size_nm": img.pixel_size * 1e9},
        "timing": {"total_s": round(time.perf_counter() - t0, 4)},
    }
    config = {"command": "estimate", "method": "period", "image": str(img.source), "pixel_size_m": img.pixel_size,
              "film": film.to_json(), "draws": draws, "seed": key, "invert": invert, "flatten": flatten,
              "law_log_sd": law_sd, "maze_log_ratio": ratio, "domainfit_version": __version__}
    return PeriodResult(report=report, config=config, draws=d, image=img, film=film)


MAZE_LOG_RATIO = -1.53
"""Mean of ln(P_maze/P_stripes): a maze relaxed from a random state keeps 0.09–0.49 of the equilibrium
stripes' period (6 films over the box, σ 0.02–0.15: studies/period_law.py, docs/films.md). The law is
inverted at P_image·exp(−MAZE_LOG_RATIO), the stripes' period the maze stands for."""

LAW_LOG_PERIOD_SD = 0.75
"""The spread of ln(P_maze/P_stripes) over those films (sd): the period law's own error on a maze, largest
term of its error budget (strong disorder pins the shortest mazes)."""
