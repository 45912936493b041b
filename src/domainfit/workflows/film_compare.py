"""``compare(image, films=…)``: which of several descriptions of the sample explains one image.

Each film (e.g. interfacial against bulk DMI, or two candidate values of A) goes through the simulator
path (``workflows.film_posterior``: its own relaxations, the instrument recorded, its emulator, NUTS
and the predictive check), then its evidence for the image's statistics is integrated over its prior by
tempered SMC (``forward.evidence``), with an error that includes the emulator's (refits on subsets of
the design). Bayes factors against the best film follow, with posterior probabilities under equal
prior odds.

The comparison is not to be trusted (reasons first, exit 3) when the best film's own fresh simulations
do not reproduce the image — the films are then ranked on how badly each misses it — or when a film's
posterior lies outside its simulated design (its evidence rests on the emulator's extrapolation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

from ..errors import DomainfitError


def _named(films) -> dict:
    from ..films import Film, parse_film

    if isinstance(films, Mapping):
        items = list(films.items())
    elif isinstance(films, Sequence) and not isinstance(films, str):
        items = []
        for i, f in enumerate(films):
            film = parse_film(f)
            name = film.name or (f if isinstance(f, str) and len(f) < 40 else f"film {i + 1}")
            items.append((name, film))
    else:
        raise DomainfitError("films: give two or more (a list of films, TOML files or presets, or a dict name → film)")
    out = {}
    for name, f in items:
        name = str(name)
        if name in out:
            name = f"{name} ({len(out) + 1})"
        out[name] = f if isinstance(f, Film) else parse_film(f)
    if len(out) < 2:
        raise DomainfitError("comparing films needs two or more of them (--film A --film B)")
    return out


def compare_films(image, films, *, pixel_size=None, instrument: str | None = None, lift=None, resolution=None,
                  measurements=(), particles: int = 1000, runs: int = 4, refits: int = 5, key: int = 0,
                  invert: bool = False, flatten: int | None = None, progress: bool = False, cache=None,
                  max_cells: int | None = None, chains: int = 4, warmup: int = 500, samples: int = 1000,
                  history: str = "unknown"):
    """Evidence of each film for ``image`` with its error, Bayes factors against the best (module
    docstring); returns the table of a ``workflows.compare.Comparison`` with a ``films`` block (each
    film's constants, D and σ, its predictive check) and ``reasons``."""
    import numpy as np

    from ..forward.evidence import film_evidence
    from ..inference.evidence import DECISIVE_LOG_BF, bayes_factor
    from .film_posterior import film_posterior

    t0 = time.perf_counter()
    named = _named(films)
    if particles < 50 or runs < 2:
        raise DomainfitError(f"{particles} particles × {runs} runs: need ≥ 50 particles and ≥ 2 runs (the error bar)")
    results, evidence = {}, {}
    for i, (name, film) in enumerate(named.items()):
        r = film_posterior(image, film, pixel_size=pixel_size, key=key, invert=invert, flatten=flatten,
                           progress=progress, chains=chains, warmup=warmup, samples=samples, cache=cache,
                           max_cells=max_cells, instrument=instrument, lift=lift, resolution=resolution,
                           measurements=measurements, history=history)
        fw = r.forward
        if results:
            first = next(iter(results.values())).forward
            if fw["names"] != first["names"] or not np.allclose(fw["s_obs"], first["s_obs"]):
                raise DomainfitError("the films were compared on different statistics of the image")
        results[name] = r
        evidence[name] = film_evidence(fw["sims"], film, fw["s_obs"], fw["names"], fw["slope"], fw["area"],
                                       measurements=fw["measurements"], particles=particles, runs=runs,
                                       refits=refits, key=key + 101 * i, history=fw["history"], **fw["box"])
    best = max(evidence, key=lambda n: evidence[n]["log_evidence"])
    as_result = lambda e: SimpleNamespace(log_evidence=e["log_evidence"], error=e["error"])
    factors = {n: bayes_factor(as_result(evidence[best]), as_result(e), (best, n)) for n, e in evidence.items() if n != best}
    log_z = np.array([evidence[n]["log_evidence"] for n in evidence])
    prob = np.exp(log_z - log_z.max())
    prob /= prob.sum()
    runner_up = min(factors.values(), key=lambda f: f["log_bayes_factor"])
    reasons, warnings = [], []
    if not results[best].trustworthy:
        reasons.append(f"the best film, {best}, does not reproduce the image itself ("
                       + "; ".join(results[best].reasons) + "): the Bayes factors rank films that all miss it")
    for name, r in results.items():
        span = [x for x in r.reasons if "outside the simulated design" in x]
        if span:
            reasons.append(f"{name}: {span[0]}: its evidence rests on the emulator's extrapolation")
        elif name != best and not r.trustworthy:
            warnings.append(f"{name} does not reproduce the image either: " + "; ".join(r.reasons))
    table = {
        "evidence": evidence,
        "best": best,
        "bayes_factors": factors,
        "probabilities": {n: float(p) for n, p in zip(evidence, prob)},
        "decided": bool(runner_up["log_bayes_factor"] - 2 * runner_up["error"] >= DECISIVE_LOG_BF) and not reasons,
        "trustworthy": not reasons,
        "reasons": reasons,
        "warnings": reasons + warnings,
        "method": "simulator",
        "films": {n: {"film": r.report["film"], "D": r.report["parameters"]["D"], "sigma": r.report["parameters"]["sigma"],
                      "trustworthy": r.trustworthy, "reasons": r.reasons,
                      "predictive_p": r.report["statistics"]["predictive_p"],
                      "relaxations": r.report["simulations"]["count"]} for n, r in results.items()},
        "statistics": list(next(iter(results.values())).forward["names"]),
        "image": next(iter(results.values())).report["image"],
        "instrument": next(iter(results.values())).report["instrument"]["how"],
        "wall_time_s": round(time.perf_counter() - t0, 3),
    }
    if not all(math.isfinite(e["log_evidence"]) for e in evidence.values()):
        table["reasons"].append("a film's evidence is not finite: its prior gives no perpendicular film")
        table["trustworthy"] = False
    return table
